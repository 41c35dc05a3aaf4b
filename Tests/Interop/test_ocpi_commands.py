"""OCPI commands (Voltaic the Receiver) driven by an eMSP against a real `voltaic serve` and charge points of the
third-party `ocpp` package: each command becomes the station's OCPP call, the answer comes at once, and the
result reaches the eMSP's response_url; sessions started so carry the command's reference."""
import asyncio
import contextlib
import datetime
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from charge_points import Station16, Station201, connected, now
from emsp.party import EMSP
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201
from test_ocpi import admin_ok, connector, register, site, tariff_body
from test_ocpi_sessions import dec, priced_by_cli, same_totals
from voltaic_server import VoltaicServer


class Results:
    """The eMSP's response_url: every CommandResult POSTed to it, by the command's own id in the URL."""

    def __init__(self):
        self.got, self.lock = [], threading.Lock()
        results = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with results.lock:
                    results.got.append((self.path, json.loads(raw), self.headers.get("X-Request-ID"), self.headers.get("Authorization")))
                body = json.dumps({"status_code": 1000, "timestamp": "2026-12-07T00:00:00Z"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/results/{name}"

    def wait(self, name, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                found = [g for g in self.got if g[0] == f"/results/{name}"]
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no CommandResult at /results/{name} within {timeout} s")


class SlowStation16(Station16):
    @on("RemoteStartTransaction")
    async def remote_start(self, **kw):
        await asyncio.sleep(12)
        return r16.RemoteStartTransaction(status="Accepted")


def ago(minutes):
    """A time `minutes` ago, as OCPP writes it (a session's events are spread as a real one's: the meter's power stays
    plausible)."""
    return (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def token(uid):
    return {"country_code": "DE", "party_id": "EMS", "uid": uid, "type": "RFID", "contract_id": f"DE-EMS-C{uid}", "issuer": "Test eMSP",
            "valid": True, "whitelist": "ALLOWED", "last_updated": "2026-12-01T00:00:00Z"}


@contextlib.contextmanager
def scene():
    """A server with an eMSP registered and one 1.6 and one 2.0.1 station placed; the server log on failure."""
    server, emsp, results, token_c, stations = setup()
    try:
        yield server, emsp, results, token_c, stations
    except BaseException:
        print(server.tail(8000))
        raise
    finally:
        server.destroy()
        emsp.close()


def setup():
    server = VoltaicServer(extra_args=["--ocpi-push-backoff", "0.2", "--ocpi-push-backoff-max", "1"]).start()
    emsp, results = EMSP(), Results()
    _, _, token_c, _ = register(server, emsp)
    tag = uuid.uuid4().hex[:6].upper()
    admin_ok(server, "PUT", f"/tariffs/T-{tag}", tariff_body(f"T-{tag}", price="0.40"))
    stations = {}
    for version in ("1.6", "2.0.1"):
        loc, sid = f"LOC-{tag}-{version[0]}", f"CMD-{tag}-{version[0]}"
        admin_ok(server, "PUT", f"/locations/{loc}", site(loc))
        admin_ok(server, "POST", "/stations", {"id": sid, "securityProfile": 0})
        admin_ok(server, "PUT", f"/stations/{sid}/evses/1", {"location_id": loc, "evse_id": f"NL*VOL*E{tag}{version[0]}*1", "connectors": [connector(f"T-{tag}")]})
        stations[version] = (sid, loc, f"{sid}-1")
    return server, emsp, results, token_c, stations


def command(server, token_c, name, body):
    status, _, answer = EMSP.call("POST", f"{server.base_url}/ocpi/2.2.1/commands/{name}", token_c, body)
    return status, answer


async def acommand(server, token_c, name, body):
    return await asyncio.to_thread(command, server, token_c, name, body)


def sessions(server, token_c):
    status, _, body = EMSP.call("GET", f"{server.base_url}/ocpi/2.2.1/sessions?limit=100", token_c)
    assert status == 200, body
    return {s["id"]: s for s in body["data"]}


async def wait_for(predicate, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.2)
    raise AssertionError("condition not reached")


def check_cdr(emsp, tmp_path, session_id, reference):
    """The eMSP has the one CDR of the session: 7.5 kWh at 0.40/kWh and 21 % VAT, exactly what `voltaic tariff price`
    makes of it, started by the command; and it was sent the session's progress, COMPLETED last."""
    cdr = emsp.stored_cdr("NL", "VOL", session_id)
    assert cdr is not None, [p["path"] for p in emsp.received()]
    assert dec(cdr["total_energy"]) == dec(7.5), cdr
    assert (dec(cdr["total_cost"]["excl_vat"]), dec(cdr["total_cost"]["incl_vat"])) == (dec("3.00"), dec("3.63")), cdr
    assert cdr["auth_method"] == "COMMAND" and cdr["authorization_reference"] == reference, cdr
    same_totals(cdr, priced_by_cli(tmp_path, cdr))
    statuses = [p["body"]["status"] for p in emsp.received() if p["module"] == "sessions" and p["accepted"] and p["body"]["id"] == session_id]
    # ACTIVE while it charged (pushed at start and on progress, coalesced while waiting), COMPLETED at the end, never back.
    assert statuses and statuses[-1] == "COMPLETED", statuses
    assert all(s == "ACTIVE" for s in statuses[:statuses.index("COMPLETED")]), statuses
    assert len([p for p in emsp.received() if p["module"] == "cdrs" and p["accepted"]]) == 1


def test_start_stop_and_unlock_over_ocpp16(tmp_path):
    with scene() as (server, emsp, results, token_c, stations):
        sid, loc, evse = stations["1.6"]

        async def scenario():
            async with connected(server, sid, "1.6") as cp:
                await cp.call(c16.BootNotification(charge_point_vendor="Cmd", charge_point_model="Test"))
                await asyncio.sleep(1.5)  # the presence write: the station is online in the database
                uid = "CMD" + uuid.uuid4().hex[:8].upper()
                status, answer = await acommand(server, token_c, "START_SESSION", {
                    "response_url": results.url("start"), "token": token(uid), "location_id": loc, "evse_uid": evse, "authorization_reference": "REF-START-1",
                })
                assert status == 200 and answer["status_code"] == 1000, answer
                assert answer["data"]["result"] == "ACCEPTED" and answer["data"]["timeout"] > 0, answer
                got = await asyncio.to_thread(results.wait, "start")
                assert [g[1]["result"] for g in got] == ["ACCEPTED"]
                assert got[0][2] and got[0][3].startswith("Token ")
                assert cp.received[-1] == ("RemoteStartTransaction", {"connector_id": 1, "id_tag": uid})
                # The token came with the command: the station's start is authorized from it.
                start = await cp.call(c16.StartTransaction(connector_id=1, id_tag=uid, meter_start=0, timestamp=ago(30)))
                assert start.id_tag_info["status"] == "Accepted"
                tx = str(start.transaction_id)
                await wait_for(lambda: tx in sessions(server, token_c))
                session = sessions(server, token_c)[tx]
                assert session["auth_method"] == "COMMAND" and session["authorization_reference"] == "REF-START-1", session
                assert session["status"] == "ACTIVE"
                await cp.call(c16.MeterValues(connector_id=1, transaction_id=start.transaction_id, meter_value=[{
                    "timestamp": ago(15), "sampled_value": [{"value": "4000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))

                status, answer = await acommand(server, token_c, "STOP_SESSION", {"response_url": results.url("stop"), "session_id": tx})
                assert answer["data"]["result"] == "ACCEPTED", answer
                got = await asyncio.to_thread(results.wait, "stop")
                assert [g[1]["result"] for g in got] == ["ACCEPTED"]
                assert cp.received[-1] == ("RemoteStopTransaction", {"transaction_id": start.transaction_id})
                await cp.call(c16.StopTransaction(transaction_id=start.transaction_id, meter_stop=7500, timestamp=now()))
                await wait_for(lambda: sessions(server, token_c)[tx]["status"] == "COMPLETED")
                # A session that ended cannot be stopped again; one of no such id is unknown.
                _, answer = await acommand(server, token_c, "STOP_SESSION", {"response_url": results.url("stop2"), "session_id": tx})
                assert answer["data"]["result"] == "REJECTED", answer
                _, answer = await acommand(server, token_c, "STOP_SESSION", {"response_url": results.url("stop3"), "session_id": "999999"})
                assert answer["data"]["result"] == "UNKNOWN_SESSION", answer

                _, answer = await acommand(server, token_c, "UNLOCK_CONNECTOR", {
                    "response_url": results.url("unlock"), "location_id": loc, "evse_uid": evse, "connector_id": "1"})
                assert answer["data"]["result"] == "ACCEPTED", answer
                got = await asyncio.to_thread(results.wait, "unlock")
                assert [g[1]["result"] for g in got] == ["ACCEPTED"]
                assert cp.received[-1] == ("UnlockConnector", {"connector_id": 1})
                await wait_for(lambda: emsp.stored_cdr("NL", "VOL", tx) is not None)
                check_cdr(emsp, tmp_path, tx, "REF-START-1")

        asyncio.run(scenario())
        # Each result was POSTed once, and every push delivered.
        status, body = server.api("GET", "/ocpi/pushes?limit=1000")
        commands = [p for p in body["items"] if p["module"] == "commands"]
        assert len(commands) == 3 and all(p["state"] == "delivered" and p["method"] == "POST" for p in commands), commands


def test_start_over_ocpp201_is_matched_by_remote_start_id(tmp_path):
    with scene() as (server, emsp, results, token_c, stations):
        sid, loc, evse = stations["2.0.1"]

        async def scenario():
            async with connected(server, sid, "2.0.1") as cp:
                await cp.call(c201.BootNotification(charging_station={"vendor_name": "Cmd", "model": "Test"}, reason="PowerUp"))
                await asyncio.sleep(1.5)
                uid = "CMD" + uuid.uuid4().hex[:8].upper()
                _, answer = await acommand(server, token_c, "START_SESSION", {
                    "response_url": results.url("start"), "token": token(uid), "location_id": loc, "authorization_reference": "REF-201"})
                assert answer["data"]["result"] == "ACCEPTED", answer
                await asyncio.to_thread(results.wait, "start")
                action, request = cp.received[-1]
                assert action == "RequestStartTransaction"
                assert request["id_token"] == {"id_token": uid, "type": "ISO14443"} and request["evse_id"] == 1
                remote_start_id = request["remote_start_id"]
                tx_id = "tx-" + uuid.uuid4().hex[:8]
                await cp.call(c201.TransactionEvent(
                    event_type="Started", timestamp=ago(30), trigger_reason="RemoteStart", seq_no=0,
                    transaction_info={"transaction_id": tx_id, "remote_start_id": remote_start_id},
                    id_token={"id_token": uid, "type": "ISO14443"}, evse={"id": 1, "connector_id": 1},
                ))
                def made():
                    found = [s for s in sessions(server, token_c).values() if s["cdr_token"]["uid"] == uid]
                    return found and found[0]["auth_method"] == "COMMAND" and found[0]["authorization_reference"] == "REF-201"
                await wait_for(made)
                register_wh = lambda wh, at: [{"timestamp": at, "sampled_value": [{"value": wh, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}}]}]
                await cp.call(c201.TransactionEvent(
                    event_type="Updated", timestamp=ago(15), trigger_reason="MeterValuePeriodic", seq_no=1,
                    transaction_info={"transaction_id": tx_id, "charging_state": "Charging"}, meter_value=register_wh(10_000, ago(15))))
                await cp.call(c201.TransactionEvent(
                    event_type="Ended", timestamp=now(), trigger_reason="RemoteStop", seq_no=2,
                    transaction_info={"transaction_id": tx_id, "stopped_reason": "Remote"}, meter_value=register_wh(17_500, now())))
                session_id = [s for s in sessions(server, token_c).values() if s["cdr_token"]["uid"] == uid][0]["id"]
                await wait_for(lambda: emsp.stored_cdr("NL", "VOL", session_id) is not None)
                check_cdr(emsp, tmp_path, session_id, "REF-201")

        asyncio.run(scenario())


def test_refusals_are_honest_and_a_silent_charger_times_out():
    with scene() as (server, emsp, results, token_c, stations):
        sid, loc, evse = stations["1.6"]
        # The charger is offline: REJECTED at once, nothing to wait for.
        _, answer = command(server, token_c, "START_SESSION", {"response_url": results.url("offline"), "token": token("OFF1"), "location_id": loc})
        assert answer["data"]["result"] == "REJECTED" and answer["data"]["timeout"] == 0, answer
        assert "offline" in answer["data"]["message"][0]["text"]
        _, answer = command(server, token_c, "START_SESSION", {"response_url": results.url("x"), "token": token("X1"), "location_id": "NO-SUCH-LOC"})
        assert answer["data"]["result"] == "REJECTED", answer
        # A body OCPI's rules refuse: 2001 naming the field.
        _, answer = command(server, token_c, "START_SESSION", {"token": token("X2"), "location_id": loc})
        assert answer["status_code"] == 2001 and "response_url" in answer["status_message"], answer
        # Another party's token may not be started by this platform.
        other = dict(token("X3"), party_id="ZZZ")
        _, answer = command(server, token_c, "START_SESSION", {"response_url": results.url("x"), "token": other, "location_id": loc})
        assert answer["status_code"] == 2001, answer
        _, answer = command(server, token_c, "RESERVE_NOW", {"response_url": results.url("x")})
        assert answer["status_code"] == 2001 and "token" in answer["status_message"], answer
        status, answer = command(server, token_c, "FLY_TO_THE_MOON", {})
        assert status == 404, answer

        async def silent():
            async with connected(server, sid, "1.6") as plain:
                await plain.call(c16.BootNotification(charge_point_vendor="Cmd", charge_point_model="Test"))
            # The same station again, now one that takes longer than the call timeout to answer.
            from websockets.asyncio.client import connect
            async with connect(f"{server.ws_url}/{sid}", subprotocols=["ocpp1.6"]) as ws:
                cp = SlowStation16(sid, ws, response_timeout=15)
                task = asyncio.create_task(cp.start())
                await cp.call(c16.BootNotification(charge_point_vendor="Cmd", charge_point_model="Slow"))
                await asyncio.sleep(1.5)
                _, answer = await acommand(server, token_c, "START_SESSION", {"response_url": results.url("slow"), "token": token("SLOW1"), "location_id": loc})
                assert answer["data"]["result"] == "ACCEPTED", answer
                got = await asyncio.to_thread(results.wait, "slow", 40)
                assert [g[1]["result"] for g in got] == ["TIMEOUT"]
                task.cancel()

        asyncio.run(silent())


class ReservingStation201(Station201):
    @on("ReserveNow")
    def reserve_now(self, **kw):
        self._got("ReserveNow", kw)
        return r201.ReserveNow(status="Accepted")

    @on("CancelReservation")
    def cancel_reservation(self, **kw):
        self._got("CancelReservation", kw)
        return r201.CancelReservation(status="Accepted")


def later(minutes):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def test_reserve_now_books_the_evse_and_cancel_reservation_frees_it():
    """RESERVE_NOW is a booking (the same path as the admin API's): the EVSE is the token's until the expiry, another
    reservation of it is REJECTED, another car is refused at it, ReserveNow goes to the charger with the CSMS's
    reservation id; the same reservation id replaces it; CANCEL_RESERVATION frees the EVSE at once."""
    with scene() as (server, emsp, results, token_c, stations):
        sid, loc, evse = stations["1.6"]

        async def on16():
            async with connected(server, sid, "1.6") as cp:
                await cp.call(c16.BootNotification(charge_point_vendor="Cmd", charge_point_model="Test"))
                await asyncio.sleep(1)
                body = {"response_url": results.url("r1"), "token": token("RES1"), "expiry_date": later(30), "reservation_id": "R1",
                        "location_id": loc, "evse_uid": evse}
                _, answer = await acommand(server, token_c, "RESERVE_NOW", body)
                assert answer["data"]["result"] == "ACCEPTED", answer
                got = await asyncio.to_thread(results.wait, "r1")
                assert [g[1]["result"] for g in got] == ["ACCEPTED"], got
                sent = [kw for a, kw in cp.received if a == "ReserveNow"]
                assert len(sent) == 1 and sent[0]["id_tag"] == "RES1" and sent[0]["connector_id"] == 1, sent
                reservation = sent[0]["reservation_id"]
                # The EVSE is taken: another reservation of it overlaps, and PostgreSQL refuses it.
                _, answer = await acommand(server, token_c, "RESERVE_NOW", dict(body, reservation_id="R2", token=token("RES2"), response_url=results.url("r2")))
                assert answer["data"]["result"] == "REJECTED" and "reserved" in answer["data"]["message"][0]["text"], answer
                # Another car is refused at the reserved EVSE.
                status, _ = await asyncio.to_thread(server.api, "POST", "/tokens", {"value": "LOCAL9"})
                assert status == 201
                r = await cp.call(c16.StartTransaction(connector_id=1, id_tag="LOCAL9", meter_start=0, timestamp=now()))
                assert r.id_tag_info["status"] == "Invalid", r
                await cp.call(c16.StopTransaction(transaction_id=r.transaction_id, meter_stop=0, timestamp=now()))
                # The same reservation id again replaces it, at the charger too (the same CSMS reservation id).
                _, answer = await acommand(server, token_c, "RESERVE_NOW", dict(body, expiry_date=later(45), response_url=results.url("r1b")))
                assert answer["data"]["result"] == "ACCEPTED", answer
                await asyncio.to_thread(results.wait, "r1b")
                sent = [kw for a, kw in cp.received if a == "ReserveNow"]
                assert len(sent) == 2 and sent[1]["reservation_id"] == reservation, sent
                assert server.sql(f"SELECT count(*) FROM bookings WHERE station_id = '{sid}' AND state = 'reserved'") == [["1"]]
                # An unknown reservation cannot be cancelled; a known one is, and the EVSE is free for another at once.
                _, answer = await acommand(server, token_c, "CANCEL_RESERVATION", {"response_url": results.url("c0"), "reservation_id": "NOPE"})
                assert answer["data"]["result"] == "REJECTED", answer
                _, answer = await acommand(server, token_c, "CANCEL_RESERVATION", {"response_url": results.url("c1"), "reservation_id": "r1"})
                assert answer["data"]["result"] == "ACCEPTED", answer
                got = await asyncio.to_thread(results.wait, "c1")
                assert [g[1]["result"] for g in got] == ["ACCEPTED"], got
                assert [kw["reservation_id"] for a, kw in cp.received if a == "CancelReservation"] == [reservation]
                _, answer = await acommand(server, token_c, "RESERVE_NOW", dict(body, reservation_id="R2", token=token("RES2"), response_url=results.url("r2b")))
                assert answer["data"]["result"] == "ACCEPTED", answer
                # An expiry in the past is refused at once.
                _, answer = await acommand(server, token_c, "RESERVE_NOW", dict(body, reservation_id="R3", expiry_date=later(-5)))
                assert answer["data"]["result"] == "REJECTED", answer

        asyncio.run(on16())

        sid2, loc2, evse2 = stations["2.0.1"]

        async def on201():
            from websockets.asyncio.client import connect
            async with connect(f"{server.ws_url}/{sid2}", subprotocols=["ocpp2.0.1"]) as ws:
                cp = ReservingStation201(sid2, ws, response_timeout=15)
                task = asyncio.create_task(cp.start())
                await cp.call(c201.BootNotification(charging_station={"model": "Cmd", "vendor_name": "Test"}, reason="PowerUp"))
                await asyncio.sleep(1)
                _, answer = await acommand(server, token_c, "RESERVE_NOW", {
                    "response_url": results.url("r201"), "token": token("RES201"), "expiry_date": later(20), "reservation_id": "R201",
                    "location_id": loc2})
                assert answer["data"]["result"] == "ACCEPTED", answer
                got = await asyncio.to_thread(results.wait, "r201")
                assert [g[1]["result"] for g in got] == ["ACCEPTED"], got
                sent = [kw for a, kw in cp.received if a == "ReserveNow"]
                assert len(sent) == 1 and sent[0]["id_token"] == {"id_token": "RES201", "type": "ISO14443"} and sent[0]["evse_id"] == 1, sent
                task.cancel()

        asyncio.run(on201())
