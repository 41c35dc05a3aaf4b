"""OCPI 2.2.1 chargingprofiles (Voltaic the Receiver) against a real `voltaic serve` and charge points of the
third-party `ocpp` package, 1.6 and 2.0.1: an eMSP sets, reads and clears the profile of its roaming session; each
request becomes the station's OCPP smart-charging CALL on the session's transaction (a TxProfile), the answer comes at
once, and the module's own result object (ChargingProfileResult, ActiveChargingProfileResult with the composite
schedule, ClearProfileResult) reaches the eMSP's response_url. A session at an EVSE that is not CHARGING_PROFILE_CAPABLE
is NOT_SUPPORTED, an unknown one UNKNOWN_SESSION, and a profile OCPP cannot carry 2001."""
import asyncio
import datetime
import time
import uuid
from decimal import Decimal

import pytest
from charge_points import Station16, Station201, connected, run
from emsp.party import EMSP
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201
from test_ocpi import admin_ok, connector, register, site, tariff_body
from test_ocpi_commands import Results
from voltaic_server import VoltaicServer

SCHEDULE_START = "2026-12-08T10:00:00Z"


class Smart16(Station16):
    @on("SetChargingProfile")
    def set_profile(self, **kw):
        self._got("SetChargingProfile", kw)
        return r16.SetChargingProfile(status="Accepted")

    @on("GetCompositeSchedule")
    def composite(self, **kw):
        self._got("GetCompositeSchedule", kw)
        return r16.GetCompositeSchedule(status="Accepted", connector_id=kw["connector_id"], schedule_start=SCHEDULE_START, charging_schedule={
            "duration": kw["duration"], "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": 11000.0}, {"start_period": 1800, "limit": 7400.0}]})

    @on("ClearChargingProfile")
    def clear(self, **kw):
        self._got("ClearChargingProfile", kw)
        return r16.ClearChargingProfile(status="Accepted")


class Smart201(Station201):
    @on("SetChargingProfile")
    def set_profile(self, **kw):
        self._got("SetChargingProfile", kw)
        return r201.SetChargingProfile(status="Rejected")

    @on("ClearChargingProfile")
    def clear(self, **kw):
        self._got("ClearChargingProfile", kw)
        return r201.ClearChargingProfile(status="Unknown")


PROFILE = {"charging_rate_unit": "W", "charging_profile_period": [{"start_period": 0, "limit": 11000}, {"start_period": 1800, "limit": 7400.5}]}


@pytest.fixture(scope="module")
def scene():
    server = VoltaicServer(extra_args=["--ocpi-push-backoff", "0.2", "--ocpi-push-backoff-max", "1"]).start()
    emsp, results = EMSP(party_id="CPF", name="Smart eMSP"), Results()
    try:
        _, _, token_c, endpoints = register(server, emsp, "smart charging eMSP")
        assert ("chargingprofiles", "RECEIVER") in endpoints, endpoints
        tag = uuid.uuid4().hex[:6].upper()
        admin_ok(server, "PUT", f"/tariffs/T-{tag}", tariff_body(f"T-{tag}", price="0.40"))
        stations = {}
        for name, capable in (("1.6", True), ("2.0.1", True), ("dumb", False)):
            loc, sid = f"LOC-{tag}-{name[0]}{int(capable)}", f"CPF-{tag}-{name.replace('.', '')}"
            admin_ok(server, "PUT", f"/locations/{loc}", site(loc))
            admin_ok(server, "POST", "/stations", {"id": sid, "securityProfile": 0})
            caps = ["RFID_READER", "CHARGING_PROFILE_CAPABLE"] if capable else ["RFID_READER"]
            admin_ok(server, "PUT", f"/stations/{sid}/evses/1", {"location_id": loc, "evse_id": f"NL*VOL*E{tag}{len(stations)}*1", "capabilities": caps,
                                                                "connectors": [connector(f"T-{tag}")]})
            stations[name] = sid
        yield server, emsp, results, token_c, endpoints, stations
    except BaseException:
        print(server.tail(8000))
        raise
    finally:
        server.destroy()
        emsp.close()
        results.httpd.shutdown()


def new_token(emsp, endpoints, token_c):
    uid = "04" + uuid.uuid4().hex[:12].upper()
    status, _, body = emsp.put_token(endpoints[("tokens", "RECEIVER")], token_c, emsp.token(uid))
    assert status == 200 and body["status_code"] == 1000, body
    return uid


def profiles_url(endpoints, session_id, query=""):
    return endpoints[("chargingprofiles", "RECEIVER")].rstrip("/") + "/" + session_id + query


def answer(emsp, method, url, token_c, body=None):
    status, _, reply = emsp.call(method, url, token_c, body)
    assert status == 200 and reply["status_code"] == 1000, (status, reply)
    return reply["data"]


def until_session(emsp, url, token_c, body, method="PUT", timeout=20):
    """The session is made by the outbox relay just after the start: asks again while it is UNKNOWN_SESSION."""
    deadline = time.time() + timeout
    while True:
        data = answer(emsp, method, url, token_c, body)
        if data["result"] != "UNKNOWN_SESSION" or time.time() > deadline:
            return data
        time.sleep(0.3)


def test_set_read_and_clear_a_16_sessions_profile(scene):
    server, emsp, results, token_c, endpoints, stations = scene
    uid = new_token(emsp, endpoints, token_c)

    async def scenario():
        async with connected(server, stations["1.6"], cls=Smart16) as cp:
            await cp.call(c16.BootNotification(charge_point_model="Smart", charge_point_vendor="Interop"))
            started = await cp.call(c16.StartTransaction(connector_id=1, id_tag=uid, meter_start=0, timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat()))
            tx = started.transaction_id
            sid = str(tx)
            out = {"tx": tx}
            out["set"] = await asyncio.to_thread(until_session, emsp, profiles_url(endpoints, sid), token_c,
                                                 {"charging_profile": PROFILE, "response_url": results.url("set16")})
            out["set_result"] = await asyncio.to_thread(results.wait, "set16")
            out["get"] = await asyncio.to_thread(answer, emsp, "GET", profiles_url(endpoints, sid, f"?duration=3600&response_url={results.url('get16')}"), token_c)
            out["get_result"] = await asyncio.to_thread(results.wait, "get16")
            out["clear"] = await asyncio.to_thread(answer, emsp, "DELETE", profiles_url(endpoints, sid, f"?response_url={results.url('clear16')}"), token_c)
            out["clear_result"] = await asyncio.to_thread(results.wait, "clear16")
            # Refused at once: a profile OCPP cannot carry, a missing duration, an unknown session.
            out["bad"] = await asyncio.to_thread(emsp.call, "PUT", profiles_url(endpoints, sid), token_c, {
                "charging_profile": {**PROFILE, "charging_profile_period": [{"start_period": 60, "limit": 1000}]}, "response_url": results.url("bad")})
            out["no_duration"] = await asyncio.to_thread(emsp.call, "GET", profiles_url(endpoints, sid, f"?response_url={results.url('x')}"), token_c)
            out["unknown"] = await asyncio.to_thread(answer, emsp, "PUT", profiles_url(endpoints, "NO-SUCH-SESSION"), token_c,
                                                     {"charging_profile": PROFILE, "response_url": results.url("none")})
            out["received"] = list(cp.received)
            return out

    out = run(scenario())
    for step in ("set", "get", "clear"):
        assert out[step]["result"] == "ACCEPTED" and out[step]["timeout"] > 0, (step, out[step])
    [(_, posted, _, _)] = out["set_result"]
    assert posted == {"result": "ACCEPTED"}, posted
    [(_, posted, _, _)] = out["get_result"]
    assert posted["result"] == "ACCEPTED", posted
    active = posted["profile"]
    assert active["start_date_time"] == SCHEDULE_START, active
    periods = [(p["start_period"], Decimal(str(p["limit"]))) for p in active["charging_profile"]["charging_profile_period"]]
    assert active["charging_profile"]["charging_rate_unit"] == "W" and periods == [(0, Decimal(11000)), (1800, Decimal(7400))], active
    [(_, posted, _, _)] = out["clear_result"]
    assert posted == {"result": "ACCEPTED"}, posted

    calls = {a: kw for a, kw in out["received"]}
    profile = calls["SetChargingProfile"]["cs_charging_profiles"]
    assert calls["SetChargingProfile"]["connector_id"] == 1, calls
    assert profile["transaction_id"] == out["tx"] and profile["charging_profile_purpose"] == "TxProfile", profile
    assert profile["charging_profile_kind"] == "Relative" and profile["stack_level"] == 0, profile
    schedule = profile["charging_schedule"]
    assert schedule["charging_rate_unit"] == "W", schedule
    assert [(p["start_period"], Decimal(str(p["limit"]))) for p in schedule["charging_schedule_period"]] == [(0, Decimal(11000)), (1800, Decimal("7400.5"))], schedule
    assert calls["GetCompositeSchedule"] == {"connector_id": 1, "duration": 3600}, calls
    # The profile a DELETE clears is the one the PUT set.
    assert calls["ClearChargingProfile"] == {"id": profile["charging_profile_id"]}, calls

    status, _, bad = out["bad"]
    assert bad["status_code"] == 2001 and "start_period" in bad["status_message"], bad
    status, _, missing = out["no_duration"]
    assert missing["status_code"] == 2001 and "duration" in missing["status_message"], missing
    assert out["unknown"] == {"result": "UNKNOWN_SESSION", "timeout": 0}, out["unknown"]


def test_a_201_station_refusing_and_an_evse_without_smart_charging(scene):
    server, emsp, results, token_c, endpoints, stations = scene
    uid = new_token(emsp, endpoints, token_c)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")

    async def scenario():
        out = {}
        async with connected(server, stations["2.0.1"], version="2.0.1", cls=Smart201) as cp:
            await cp.call(c201.BootNotification(charging_station={"model": "Smart", "vendor_name": "Interop"}, reason="PowerUp"))
            uid201 = "TX-" + uuid.uuid4().hex[:8]
            await cp.call(c201.TransactionEvent(event_type="Started", timestamp=now, trigger_reason="Authorized", seq_no=0,
                                                transaction_info={"transaction_id": uid201}, id_token={"id_token": uid, "type": "ISO14443"},
                                                evse={"id": 1, "connector_id": 1}))
            status, body = await asyncio.to_thread(server.api, "GET", f"/transactions?stationId={stations['2.0.1']}")
            tx = next(t for t in body["items"] if t["uid"] == uid201)["id"]
            sid = str(tx)
            out["set"] = await asyncio.to_thread(until_session, emsp, profiles_url(endpoints, sid), token_c,
                                                 {"charging_profile": {**PROFILE, "start_date_time": now, "duration": 7200}, "response_url": results.url("set201")})
            out["set_result"] = await asyncio.to_thread(results.wait, "set201")
            out["clear"] = await asyncio.to_thread(answer, emsp, "DELETE", profiles_url(endpoints, sid, f"?response_url={results.url('clear201')}"), token_c)
            out["clear_result"] = await asyncio.to_thread(results.wait, "clear201")
            out["received"] = list(cp.received)
            out["uid"] = uid201
        dumb_uid = new_token(emsp, endpoints, token_c)
        async with connected(server, stations["dumb"]) as cp:
            await cp.call(c16.BootNotification(charge_point_model="Dumb", charge_point_vendor="Interop"))
            started = await cp.call(c16.StartTransaction(connector_id=1, id_tag=dumb_uid, meter_start=0, timestamp=now))
            out["dumb"] = await asyncio.to_thread(until_session, emsp, profiles_url(endpoints, str(started.transaction_id)), token_c,
                                                  {"charging_profile": PROFILE, "response_url": results.url("dumb")})
        return out

    out = run(scenario())
    assert out["set"]["result"] == "ACCEPTED", out["set"]
    [(_, posted, _, _)] = out["set_result"]
    assert posted == {"result": "REJECTED"}, posted
    [(_, posted, _, _)] = out["clear_result"]
    assert posted == {"result": "UNKNOWN"}, posted
    calls = {a: kw for a, kw in out["received"]}
    profile = calls["SetChargingProfile"]["charging_profile"]
    assert calls["SetChargingProfile"]["evse_id"] == 1 and profile["transaction_id"] == out["uid"], calls
    assert profile["charging_profile_kind"] == "Absolute" and profile["charging_schedule"][0]["duration"] == 7200, profile
    assert calls["ClearChargingProfile"] == {"charging_profile_id": profile["id"]}, calls
    assert out["dumb"] == {"result": "NOT_SUPPORTED", "timeout": 0}, out["dumb"]
