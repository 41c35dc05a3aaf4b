"""OCPI 2.2.1 tokens, sessions and CDRs against a real `voltaic serve`.

The independent eMSP (Tests/Interop/emsp) registers, puts its drivers' tokens in Voltaic (the tokens module,
Voltaic the Receiver), and a station (the `ocpp` package's client, OCPP 1.6 and 2.0.1) charges with one of them at
an EVSE placed at a location with a tariff. The eMSP then receives the Session (PUT, ACTIVE then COMPLETED) and
the CDR (POST, once), checks both against the spec's field rules and the pricing CLI, and pulls them back page by
page; a second eMSP of another party sees none of it. A token Voltaic issued itself makes no OCPI session.

The file starts its own server with a fast push retry backoff, shared by its tests."""
import asyncio
import contextlib
import datetime
import json
import subprocess
import time
import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest
from charge_points import connected, run
from conftest import new_token
from emsp import validate
from emsp.party import EMSP, instant
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from test_ocpi import admin_ok, connector, register, site, tariff_body
from test_ocpi_push import FAST_BACKOFF, push_list, wait_until, wait_until_async
from voltaic_server import BINARY, VoltaicServer

CPO = ("NL", "VOL")
PRICE = "0.40"  # EUR per kWh, VAT 21 %, step_size 1 (tariff_body)
TIME_ZONE = "Europe/Amsterdam"  # site()'s
TOTAL_KEYS = ("total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost", "total_parking_cost",
              "total_reservation_cost", "total_energy", "total_time", "total_parking_time")


@pytest.fixture(scope="module")
def env():
    """One server for the file, and two registered eMSP platforms of different parties."""
    server = VoltaicServer(extra_args=FAST_BACKOFF + ["--ocpi-push-attempts", "50"]).start()
    emsp = EMSP(country_code="DE", party_id="SE1", name="Sessions eMSP")
    other = EMSP(country_code="BE", party_id="SE2", name="Other eMSP")
    try:
        e = SimpleNamespace(server=server, emsp=emsp, other=other)
        e.partner, _, e.token_c, e.endpoints = register(server, emsp, "sessions eMSP")
        e.other_partner, _, e.other_token_c, e.other_endpoints = register(server, other, "other eMSP")
        for endpoints in (e.endpoints, e.other_endpoints):
            assert {("tokens", "RECEIVER"), ("sessions", "SENDER"), ("cdrs", "SENDER")} <= set(endpoints), endpoints
        e.tokens_url = e.endpoints[("tokens", "RECEIVER")]
        yield e
    finally:
        emsp.close()
        other.close()
        server.destroy()


@contextlib.contextmanager
def diagnostics(env):
    """On failure: the server's log tail and what each eMSP received last."""
    try:
        yield
    except BaseException:
        print(f"---- voltaic serve log tail ({env.server.log_path}) ----")
        print(env.server.tail(12000))
        for e in (env.emsp, env.other):
            print(f"---- last pushes received by {e.country_code}/{e.party_id} ----")
            for p in e.received()[-20:]:
                print(p["method"], p["path"], p["status"], p["request_id"], p["problems"], json.dumps(p["body"])[:2000])
        raise


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


def stamp(seconds_from_now=0):
    """An OCPI DateTime, whole seconds, UTC."""
    return iso(datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=seconds_from_now))


def new_uid():
    """An RFID uid as Gireve writes them: the 7-byte UID in upper-case hex."""
    return "04" + uuid.uuid4().hex[:12].upper()


def dec(x):
    return None if x is None else Decimal(str(x))


def ok(answer):
    status, _, body = answer
    assert status == 200 and isinstance(body, dict) and body["status_code"] == 1000, (status, body)
    return body


def refused(answer, http, code):
    status, _, body = answer
    assert status in ((http,) if isinstance(http, int) else http), (status, body)
    assert isinstance(body, dict) and body.get("status_code") == code and body.get("data") is None, (status, body)
    return body


def put_roaming_token(env, emsp=None, token_c=None, **fields):
    emsp, token_c = emsp or env.emsp, token_c or env.token_c
    body = emsp.token(new_uid(), **fields)
    assert validate.token(body) == [], body
    ok(emsp.put_token(env.tokens_url, token_c, body))
    return body


def charging_site(env):
    """A tariff (0.40/kWh + 21 % VAT), a location and a station whose EVSE 1 is placed there with the tariff."""
    server = env.server
    tag = uuid.uuid4().hex[:6].upper()
    s = SimpleNamespace(tag=tag, tariff=f"T-{tag}", loc=f"LOC-{tag}", sid=f"SESS-{tag}", evse_id=f"NL*VOL*E{tag}*1")
    admin_ok(server, "PUT", f"/tariffs/{s.tariff}", tariff_body(s.tariff, price=PRICE))
    admin_ok(server, "PUT", f"/locations/{s.loc}", site(s.loc))
    admin_ok(server, "POST", "/stations", {"id": s.sid, "securityProfile": 0})
    admin_ok(server, "PUT", f"/stations/{s.sid}/evses/1", {
        "location_id": s.loc, "evse_id": s.evse_id, "capabilities": ["RFID_READER"], "connectors": [connector(s.tariff)],
    })
    # The EVSE's OCPI uid and the tariff, as the eMSP pulls them.
    status, _, body = env.emsp.call("GET", f"{env.endpoints[('locations', 'SENDER')]}/{s.loc}", env.token_c)
    assert status == 200 and len(body["data"]["evses"]) == 1, body
    s.evse_uid = body["data"]["evses"][0]["uid"]
    s.location = body["data"]
    tariffs, _, _ = env.emsp.pull_all(env.endpoints[("tariffs", "SENDER")], env.token_c, limit=100)
    mine = [t for t in tariffs if t["id"] == s.tariff]
    assert len(mine) == 1, [t["id"] for t in tariffs]
    s.tariff_object = mine[0]
    return s


def meter16(ts, wh):
    return {"timestamp": iso(ts), "sampled_value": [{"value": str(wh), "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}


def meter201(ts, wh, context="Sample.Periodic"):
    return {"timestamp": iso(ts), "sampled_value": [{"value": wh, "context": context, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}}]}


async def boot16(cp):
    r = await cp.call(call16.BootNotification(charge_point_model="Roaming", charge_point_vendor="Interop"))
    assert r.status == "Accepted"


async def boot201(cp):
    r = await cp.call(call201.BootNotification(charging_station={"model": "Roaming", "vendor_name": "Interop"}, reason="PowerUp"))
    assert r.status == "Accepted"


def authorize16(server, station_id, id_tag):
    """Connects an OCPP 1.6 station, boots it, and returns the status Voltaic answers to Authorize(id_tag)."""
    async def scenario():
        async with connected(server, station_id) as cp:
            await boot16(cp)
            return (await cp.call(call16.Authorize(id_tag=id_tag))).id_tag_info["status"]

    return run(scenario())


def session_pushes(emsp, session_id):
    return [p for p in emsp.received() if p["module"] == "sessions" and (p["object_id"] or "").upper() == session_id.upper()]


def cdr_pushes(emsp, cdr_id):
    return [p for p in emsp.received() if p["module"] == "cdrs" and (p["object_id"] or "").upper() == cdr_id.upper()]


def session_in(emsp, session_id, status):
    def check():
        stored = emsp.stored_session(*CPO, session_id)
        return None if stored and stored.get("status") == status else f"session {session_id} at the eMSP: {stored}"
    return check


def cdr_arrived(emsp, cdr_id):
    return lambda: None if emsp.stored_cdr(*CPO, cdr_id) else f"no CDR {cdr_id} at the eMSP yet"


def nothing_pending(env, partner_id):
    return lambda: (lambda pending: None if not pending else f"{len(pending)} pushes pending: {pending}")(push_list(env.server, partner_id, "pending"))


def check_transport(emsp, pushes):
    """Every request: accepted, token B Base64-encoded, message ids and routing headers. (What the eMSP found wrong
    with the bodies is in p["problems"], asserted empty by the caller.)"""
    assert pushes, "no request"
    for p in pushes:
        assert p["accepted"] and p["status"] == 200, p
        assert p["authorization"] == "base64", p
        assert p["request_id"] and p["correlation_id"], p
        assert p["from"] == CPO and p["to"] == (emsp.country_code, emsp.party_id), p
        assert (p["content_type"] or "").startswith("application/json"), p
        assert (p["country_code"], p["party_id"]) == CPO, p


def periods_of(obj):
    return [(instant(p["start_date_time"]), {d["type"]: dec(d["volume"]) for d in p["dimensions"]}) for p in obj["charging_periods"]]


def check_periods(obj, expected):
    """`expected`: [(start, {dimension: volume})]. Energy exact; hours within 0.0001 (a number has 4 decimals)."""
    actual = periods_of(obj)
    assert len(actual) == len(expected), (obj["charging_periods"], expected)
    for (at, dims), (want_at, want_dims) in zip(actual, expected):
        assert at == want_at, (obj["charging_periods"], expected)
        assert set(dims) == set(want_dims), (obj["charging_periods"], expected)
        for k, v in want_dims.items():
            if k == "ENERGY":
                assert dims[k] == Decimal(v), (k, dims[k], v)
            else:
                assert abs(dims[k] - Decimal(v)) <= Decimal("0.0001"), (k, dims[k], v)


def check_price(got, excl, incl):
    assert isinstance(got, dict), got
    assert dec(got["excl_vat"]) == Decimal(excl) and dec(got.get("incl_vat")) == Decimal(incl), got


def priced_by_cli(tmp_path, cdr):
    """`voltaic tariff price` on the CDR's own tariff and the CDR without its totals."""
    t, c = tmp_path / "tariff.json", tmp_path / "cdr.json"
    assert cdr.get("tariffs"), cdr
    t.write_text(json.dumps(cdr["tariffs"][0]))
    c.write_text(json.dumps({k: v for k, v in cdr.items() if not k.startswith("total_")}))
    r = subprocess.run([BINARY, "tariff", "price", "--tariff", str(t), "--cdr", str(c), "--time-zone", TIME_ZONE],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def same_totals(cdr, priced):
    assert set(priced) == set(TOTAL_KEYS), priced
    for key in TOTAL_KEYS:
        want, got = priced[key], cdr.get(key)
        if isinstance(want, dict):
            assert isinstance(got, dict), (key, got, want)
            assert dec(got["excl_vat"]) == dec(want["excl_vat"]) and dec(got.get("incl_vat")) == dec(want.get("incl_vat")), (key, got, want)
        else:
            assert dec(got) == dec(want), (key, got, want)


def pulled(env, emsp, token_c, endpoints, module):
    """Every object of a sender module, one per page, following Link; checked for the paging headers."""
    objects, pages, totals = emsp.pull_all(endpoints[(module, "SENDER")], token_c, limit=1)
    assert pages == max(len(objects), 1), (pages, len(objects))
    assert totals == {len(objects)}, totals
    ids = [o["id"] for o in objects]
    assert len(set(ids)) == len(ids), f"an object came twice: {ids}"
    return {o["id"]: o for o in objects}


def check_finished_session(env, tmp_path, s, token, session_id, *, start, end, kwh, periods, cost, parking_hours, saw_active):
    """What the eMSP received and can pull for a finished roaming session, against what the station did. The
    spec-rule problems of every object are gathered and asserted last, so that one failure does not hide others."""
    emsp, server = env.emsp, env.server
    problems = []
    wait_until(session_in(emsp, session_id, "COMPLETED"), timeout=40)
    wait_until(cdr_arrived(emsp, session_id), timeout=40)
    wait_until(nothing_pending(env, env.partner["id"]), timeout=20)
    time.sleep(1.5)  # a second CDR POST or a late session push, if any, would show meanwhile

    expected_token = {"country_code": emsp.country_code, "party_id": emsp.party_id, "uid": token["uid"], "type": "RFID",
                      "contract_id": token["contract_id"]}

    # The session pushes: PUTs to {sessions}/NL/VOL/{id}, in order, never ACTIVE again once COMPLETED.
    pushes = session_pushes(emsp, session_id)
    check_transport(emsp, pushes)
    assert all(p["method"] == "PUT" and p["kind"] == "session" for p in pushes), [(p["method"], p["path"]) for p in pushes]
    statuses = [p["body"]["status"] for p in pushes]
    assert "COMPLETED" in statuses and statuses[-1] == "COMPLETED", statuses
    first_completed = statuses.index("COMPLETED")
    assert set(statuses[:first_completed]) <= {"ACTIVE"} and set(statuses[first_completed:]) == {"COMPLETED"}, statuses
    if saw_active:
        assert statuses[0] == "ACTIVE", statuses
    stamps = [instant(p["body"]["last_updated"]) for p in pushes]
    assert stamps == sorted(stamps), [p["body"]["last_updated"] for p in pushes]
    kwhs = [dec(p["body"]["kwh"]) for p in pushes]
    assert kwhs == sorted(kwhs), kwhs
    for p in pushes:
        body = p["body"]
        assert (body["country_code"], body["party_id"], body["id"]) == (*CPO, session_id), body
        assert instant(body["start_date_time"]) == start, body
        assert {**body["cdr_token"], "uid": body["cdr_token"]["uid"].upper()} == expected_token, body
        if body["status"] == "ACTIVE":
            assert body.get("end_date_time") is None, body

    session = emsp.stored_session(*CPO, session_id)
    assert session is not None
    problems += [f"pushed session {p['request_id']}: {x}" for p in pushes for x in p["problems"]]
    problems += [f"stored session: {x}" for x in validate.session(session)]
    assert (session["country_code"], session["party_id"], session["id"], session["status"]) == (*CPO, session_id, "COMPLETED"), session
    assert instant(session["start_date_time"]) == start and session.get("end_date_time") and instant(session["end_date_time"]) == end, session
    assert dec(session["kwh"]) == Decimal(kwh), session
    assert session["auth_method"] == "WHITELIST", session
    assert (session["location_id"], session["evse_uid"], session["connector_id"]) == (s.loc, s.evse_uid, "1"), session
    assert session["currency"] == "EUR", session
    check_periods(session, periods)
    check_price(session.get("total_cost"), *cost)

    # The CDR: POSTed once to the module URL itself, valid, complete, with the pricing engine's totals.
    posts = cdr_pushes(emsp, session_id)
    assert len(posts) == 1, [(p["method"], p["path"], p["status"], p["problems"]) for p in posts]
    check_transport(emsp, posts)
    assert posts[0]["method"] == "POST" and posts[0]["path"] == EMSP.PUSH_PREFIX + "cdrs", posts[0]["path"]
    cdr = emsp.stored_cdr(*CPO, session_id)
    assert cdr == posts[0]["body"]
    problems += [f"posted CDR: {x}" for x in posts[0]["problems"]]  # validate.cdr, and the ids
    assert (cdr["country_code"], cdr["party_id"], cdr["id"], cdr["session_id"]) == (*CPO, session_id, session_id), cdr
    assert instant(cdr["start_date_time"]) == start and instant(cdr["end_date_time"]) == end, cdr
    assert {**cdr["cdr_token"], "uid": cdr["cdr_token"]["uid"].upper()} == expected_token, cdr
    assert cdr["auth_method"] == "WHITELIST", cdr
    loc = s.location
    want_location = {
        "id": s.loc, "name": loc["name"], "address": loc["address"], "city": loc["city"], "postal_code": loc["postal_code"],
        "country": loc["country"], "coordinates": loc["coordinates"], "evse_uid": s.evse_uid, "evse_id": s.evse_id,
        "connector_id": "1", "connector_standard": "IEC_62196_T2", "connector_format": "SOCKET", "connector_power_type": "AC_3_PHASE",
    }
    got_location = {k: cdr["cdr_location"].get(k) for k in want_location}
    assert got_location == want_location, cdr["cdr_location"]
    assert cdr["currency"] == "EUR", cdr
    assert len(cdr["tariffs"]) == 1 and cdr["tariffs"][0] == s.tariff_object, (cdr["tariffs"], s.tariff_object)
    check_periods(cdr, periods)
    assert cdr["charging_periods"] == session["charging_periods"], (cdr["charging_periods"], session["charging_periods"])
    assert dec(cdr["total_energy"]) == Decimal(kwh), cdr
    assert abs(dec(cdr["total_time"]) - dec((end - start).total_seconds() / 3600)) <= Decimal("0.0001"), cdr
    assert abs(dec(cdr.get("total_parking_time") or 0) - Decimal(parking_hours)) <= Decimal("0.0001"), cdr
    check_price(cdr["total_cost"], *cost)
    check_price(cdr.get("total_energy_cost"), *cost)  # the tariff prices energy only
    assert cdr["total_cost"] == session["total_cost"], (cdr["total_cost"], session["total_cost"])
    same_totals(cdr, priced_by_cli(tmp_path, cdr))
    # The Location the eMSP answered reads the CDR back.
    status, _, body = emsp.call("GET", f"{emsp.base}/emsp/2.2.1/cdrs/{session_id}", emsp.token_b)
    assert status == 200 and body["data"] == cdr

    # The pushes API: every session PUT and the one CDR POST delivered, with the request ids the eMSP saw.
    items = push_list(server, env.partner["id"])
    of_session = [i for i in items if i["module"] == "sessions" and i["target"] == session_id]
    of_cdr = [i for i in items if i["module"] == "cdrs" and i["target"] == session_id]
    assert of_session, items
    assert all(i["method"] == "PUT" and i["state"] == "delivered" and i["deliveredAt"] for i in of_session), of_session
    assert {i["requestId"] for i in of_session} == {p["request_id"] for p in pushes}, (of_session, [p["request_id"] for p in pushes])
    assert len(of_cdr) == 1, of_cdr
    assert (of_cdr[0]["method"], of_cdr[0]["state"], of_cdr[0]["requestId"]) == ("POST", "delivered", posts[0]["request_id"]), of_cdr

    # Pulled one per page: the same session and CDR; their last_updated in the date_from/date_to windows.
    sessions = pulled(env, emsp, env.token_c, env.endpoints, "sessions")
    cdrs = pulled(env, emsp, env.token_c, env.endpoints, "cdrs")
    assert session_id in sessions and session_id in cdrs, (list(sessions), list(cdrs))
    for obj in sessions.values():
        problems += [f"pulled session {obj['id']}: {x}" for x in validate.session(obj)]
        assert (obj["cdr_token"]["country_code"], obj["cdr_token"]["party_id"]) == (emsp.country_code, emsp.party_id), obj
    for obj in cdrs.values():
        problems += [f"pulled CDR {obj['id']}: {x}" for x in validate.cdr(obj)]
        assert (obj["cdr_token"]["country_code"], obj["cdr_token"]["party_id"]) == (emsp.country_code, emsp.party_id), obj
    assert sessions[session_id] == session, (sessions[session_id], session)
    assert cdrs[session_id] == cdr, (cdrs[session_id], cdr)
    for module, obj in (("sessions", session), ("cdrs", cdr)):
        url = env.endpoints[(module, "SENDER")]
        status, headers, body = emsp.call("GET", f"{url}?date_from={obj['last_updated']}&limit=1000", env.token_c)
        assert status == 200 and session_id in [o["id"] for o in body["data"]], (module, body)
        status, headers, body = emsp.call("GET", f"{url}?date_to={obj['last_updated']}&limit=1000", env.token_c)
        assert status == 200 and session_id not in [o["id"] for o in body["data"]], (module, body)

    # The other eMSP (another party) is neither sent nor shown any of it.
    check_not_shown(env, session_id)
    # And every object the eMSP was sent or pulled keeps the spec's rules.
    assert problems == [], "\n".join(problems)
    return session, cdr


def check_not_shown(env, session_id, emsps=None):
    """Neither pulled by, nor pushed to, the given platforms (default: the other eMSP)."""
    for emsp, token_c, endpoints in emsps or [(env.other, env.other_token_c, env.other_endpoints)]:
        sessions = pulled(env, emsp, token_c, endpoints, "sessions")
        cdrs = pulled(env, emsp, token_c, endpoints, "cdrs")
        assert session_id not in sessions and session_id not in cdrs, (emsp.party_id, list(sessions), list(cdrs))
        for obj in list(sessions.values()) + list(cdrs.values()):
            assert (obj["cdr_token"]["country_code"], obj["cdr_token"]["party_id"]) == (emsp.country_code, emsp.party_id), obj
        assert session_pushes(emsp, session_id) == [] and cdr_pushes(emsp, session_id) == [], emsp.party_id


# --------------------------------------------------------------------------------------------------------------


def test_tokens_module_and_ocpp_authorization_from_the_copies(env):
    server, emsp, url, token_c = env.server, env.emsp, env.tokens_url, env.token_c
    with diagnostics(env):
        station = f"AUTH-{uuid.uuid4().hex[:6].upper()}"
        admin_ok(server, "POST", "/stations", {"id": station, "securityProfile": 0})

        # PUT, then GET it back equal, by the uid in any case.
        token = put_roaming_token(env)
        uid = token["uid"]
        assert ok(emsp.get_token(url, token_c, uid))["data"] == token
        assert ok(emsp.get_token(url, token_c, uid.lower(), type="RFID"))["data"] == token
        # A station presenting the uid in another case is Accepted.
        assert authorize16(server, station, uid.lower()) == "Accepted"

        # PATCH valid:false: merged, and the station is told Blocked.
        later = stamp(5)
        ok(emsp.patch_token(url, token_c, uid, {"valid": False, "last_updated": later}))
        blocked = {**token, "valid": False, "last_updated": later}
        assert ok(emsp.get_token(url, token_c, uid))["data"] == blocked
        assert authorize16(server, station, uid) == "Blocked"
        # A PATCH without last_updated, or with an invalid field, is 2001 (HTTP 200) and changes nothing.
        refused(emsp.patch_token(url, token_c, uid, {"valid": True}), 200, 2001)
        refused(emsp.patch_token(url, token_c, uid, {"whitelist": "SOMETIMES", "last_updated": stamp(6)}), 200, 2001)
        refused(emsp.patch_token(url, token_c, uid, {"valid": "yes", "last_updated": stamp(6)}), 200, 2001)
        assert ok(emsp.get_token(url, token_c, uid))["data"] == blocked

        # An unknown token: 404 + 2004 on GET and PATCH. The type is part of the key (RFID by default).
        refused(emsp.get_token(url, token_c, new_uid()), 404, 2004)
        refused(emsp.patch_token(url, token_c, new_uid(), {"valid": False, "last_updated": stamp()}), 404, 2004)
        app = emsp.token(new_uid(), type="APP_USER", whitelist="NEVER")
        ok(emsp.put_token(url, token_c, app))
        assert ok(emsp.get_token(url, token_c, app["uid"], type="APP_USER"))["data"] == app
        refused(emsp.get_token(url, token_c, app["uid"]), 404, 2004)

        # Another party in the URL: 403 + 2000, nothing stored. So for the token of the other platform's party.
        foreign = emsp.token(new_uid(), party_id="ZZZ")
        refused(emsp.put_token(url, token_c, foreign), 403, 2000)
        theirs = put_roaming_token(env, env.other, env.other_token_c)
        refused(emsp.put_token(url, token_c, {**theirs, "valid": False}), 403, 2000)
        refused(emsp.patch_token(url, token_c, theirs["uid"], {"valid": False, "last_updated": stamp()},
                                 country_code=env.other.country_code, party_id=env.other.party_id), 403, 2000)
        status, _, body = emsp.get_token(url, token_c, theirs["uid"], country_code=env.other.country_code, party_id=env.other.party_id)
        assert status in (403, 404) and body.get("data") is None, (status, body)
        assert ok(env.other.get_token(url, env.other_token_c, theirs["uid"]))["data"] == theirs

        # A body naming another token than the URL: 2001, nothing stored.
        mismatch = emsp.token(new_uid())
        refused(emsp.put_token(url, token_c, mismatch, uid=new_uid()), (200, 400), 2001)
        refused(emsp.get_token(url, token_c, mismatch["uid"]), 404, 2004)
        refused(emsp.put_token(url, token_c, mismatch, type="APP_USER"), (200, 400), 2001)
        refused(emsp.get_token(url, token_c, mismatch["uid"]), 404, 2004)

        # Another platform registered with the same party cannot overwrite or patch this platform's token.
        twin = EMSP(country_code=emsp.country_code, party_id=emsp.party_id, name="Twin eMSP")
        try:
            _, _, twin_token, twin_endpoints = register(server, twin, "twin eMSP")
            refused(twin.put_token(url, twin_token, {**token, "valid": True, "last_updated": stamp(10)}), 403, 2000)
            refused(twin.patch_token(url, twin_token, uid, {"valid": True, "last_updated": stamp(10)}), 403, 2000)
            assert ok(emsp.get_token(url, token_c, uid))["data"] == blocked
            assert ok(twin.call("DELETE", twin_endpoints[("credentials", "SENDER")], twin_token))
        finally:
            twin.close()
        assert authorize16(server, station, uid) == "Blocked"

        # whitelist NEVER asks the eMSP in real time; it answers 2004 (it does not know the token): Invalid.
        never = put_roaming_token(env, whitelist="NEVER")
        assert authorize16(server, station, never["uid"]) == "Invalid"
        # Voltaic's own token of the same value takes precedence over a roaming copy.
        own = new_uid()
        new_token(server, value=own)
        assert server.api("POST", f"/tokens/{own}/block")[0] == 200
        ok(emsp.put_token(url, token_c, emsp.token(own)))
        assert authorize16(server, station, own) == "Blocked"
        # And an unknown uid stays Invalid.
        assert authorize16(server, station, new_uid()) == "Invalid"


def test_ocpp16_roaming_session_is_pushed_priced_posted_and_pulled(env, tmp_path):
    with diagnostics(env):
        s = charging_site(env)
        token = put_roaming_token(env)
        uid = token["uid"]
        t0 = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=40)
        minutes = lambda n: t0 + datetime.timedelta(minutes=n)  # noqa: E731

        async def charge():
            async with connected(env.server, s.sid) as cp:
                await boot16(cp)
                assert (await cp.call(call16.Authorize(id_tag=uid))).id_tag_info["status"] == "Accepted"
                start = await cp.call(call16.StartTransaction(connector_id=1, id_tag=uid, meter_start=1000, timestamp=iso(t0)))
                assert start.id_tag_info["status"] == "Accepted"
                tx = start.transaction_id
                # Pushed ACTIVE when it starts.
                await wait_until_async(session_in(env.emsp, str(tx), "ACTIVE"), timeout=40)
                await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=[meter16(minutes(15), 4000)]))
                stop = await cp.call(call16.StopTransaction(meter_stop=8500, timestamp=iso(minutes(30)), transaction_id=tx, id_tag=uid,
                                                            reason="EVDisconnected"))
                assert stop.id_tag_info is None or stop.id_tag_info["status"] == "Accepted", stop
                return tx

        tx = run(charge())
        # 3.0 kWh in the first quarter hour, 4.5 in the second: 7.5 kWh × 0.40 = 3.00, × 1.21 = 3.63.
        check_finished_session(
            env, tmp_path, s, token, str(tx), start=t0, end=minutes(30), kwh="7.5",
            periods=[(t0, {"ENERGY": "3", "TIME": "0.25"}), (minutes(15), {"ENERGY": "4.5", "TIME": "0.25"})],
            cost=("3.00", "3.63"), parking_hours="0", saw_active=True,
        )


def test_ocpp201_roaming_session_is_pushed_priced_posted_and_pulled(env, tmp_path):
    with diagnostics(env):
        s = charging_site(env)
        token = put_roaming_token(env)
        uid = token["uid"]
        tx_uid = str(uuid.uuid4())
        t0 = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=45)
        minutes = lambda n: t0 + datetime.timedelta(minutes=n)  # noqa: E731

        def event(kind, seq, at, trigger, **extra):
            info = {"transaction_id": tx_uid, **extra.pop("info", {})}
            return call201.TransactionEvent(event_type=kind, timestamp=iso(at), trigger_reason=trigger, seq_no=seq, transaction_info=info, **extra)

        def transaction_id():
            status, body = env.server.api("GET", f"/transactions?stationId={s.sid}")
            assert status == 200, body
            found = [t for t in body["items"] if t["uid"] == tx_uid]
            assert len(found) == 1, body
            return str(found[0]["id"])

        async def charge():
            async with connected(env.server, s.sid, "2.0.1") as cp:
                await boot201(cp)
                id_token = {"id_token": uid, "type": "ISO14443"}
                assert (await cp.call(call201.Authorize(id_token=id_token))).id_token_info["status"] == "Accepted"
                r = await cp.call(event("Started", 0, t0, "Authorized", id_token=id_token, evse={"id": 1, "connector_id": 1},
                                        meter_value=[meter201(t0, 20000, "Transaction.Begin")], info={"charging_state": "Charging"}))
                assert r.id_token_info["status"] == "Accepted", r
                session_id = await asyncio.to_thread(transaction_id)
                await wait_until_async(session_in(env.emsp, session_id, "ACTIVE"), timeout=40)
                await cp.call(event("Updated", 1, minutes(10), "MeterValuePeriodic", meter_value=[meter201(minutes(10), 22000)]))
                # The car is full at minute 20 and stays plugged in ten more minutes: parking.
                await cp.call(event("Updated", 2, minutes(20), "ChargingStateChanged", meter_value=[meter201(minutes(20), 24600)],
                                    info={"charging_state": "SuspendedEV"}))
                await cp.call(event("Ended", 3, minutes(30), "EVDeparted", meter_value=[meter201(minutes(30), 24600, "Transaction.End")],
                                    info={"stopped_reason": "EVDisconnected"}))
                return session_id

        session_id = run(charge())
        # 24600 − 20000 Wh = 4.6 kWh × 0.40 = 1.84, × 1.21 = 2.2264 → 2.23.
        check_finished_session(
            env, tmp_path, s, token, session_id, start=t0, end=minutes(30), kwh="4.6",
            periods=[(t0, {"ENERGY": "2", "TIME": 1 / 6}), (minutes(10), {"ENERGY": "2.6", "TIME": 1 / 6}),
                     (minutes(20), {"PARKING_TIME": 1 / 6})],
            cost=("1.84", "2.23"), parking_hours=1 / 6, saw_active=True,
        )


def test_a_token_voltaic_issued_itself_makes_no_ocpi_session(env):
    server = env.server
    with diagnostics(env):
        s = charging_site(env)
        own = new_token(server, value=new_uid())
        roaming = put_roaming_token(env)
        t0 = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=30)
        at = lambda n: iso(t0 + datetime.timedelta(minutes=n))  # noqa: E731

        async def charge():
            async with connected(server, s.sid) as cp:
                await boot16(cp)
                assert (await cp.call(call16.Authorize(id_tag=own))).id_tag_info["status"] == "Accepted"
                a = await cp.call(call16.StartTransaction(connector_id=1, id_tag=own, meter_start=0, timestamp=at(0)))
                assert a.id_tag_info["status"] == "Accepted"
                await cp.call(call16.StopTransaction(meter_stop=2000, timestamp=at(10), transaction_id=a.transaction_id, id_tag=own))
                # Then a roaming driver at the same EVSE: its CDR arriving shows the pushes of both have been made.
                b = await cp.call(call16.StartTransaction(connector_id=1, id_tag=roaming["uid"], meter_start=2000, timestamp=at(15)))
                assert b.id_tag_info["status"] == "Accepted"
                await cp.call(call16.StopTransaction(meter_stop=3000, timestamp=at(25), transaction_id=b.transaction_id, id_tag=roaming["uid"]))
                return str(a.transaction_id), str(b.transaction_id)

        own_tx, roaming_tx = run(charge())
        assert own_tx != roaming_tx
        wait_until(cdr_arrived(env.emsp, roaming_tx), timeout=40)
        wait_until(nothing_pending(env, env.partner["id"]), timeout=20)
        time.sleep(1.5)
        assert server.api("GET", f"/transactions/{own_tx}")[1]["transaction"]["state"] == "Ended"
        # The control: the roaming transaction is a session and a CDR of the eMSP's.
        assert roaming_tx in pulled(env, env.emsp, env.token_c, env.endpoints, "sessions")
        assert roaming_tx in pulled(env, env.emsp, env.token_c, env.endpoints, "cdrs")
        assert session_pushes(env.emsp, roaming_tx) and cdr_pushes(env.emsp, roaming_tx)
        # Voltaic's own token: no session, no CDR, for no platform; nothing queued for it either.
        check_not_shown(env, own_tx, [(env.emsp, env.token_c, env.endpoints), (env.other, env.other_token_c, env.other_endpoints)])
        for partner in (env.partner, env.other_partner):
            items = push_list(server, partner["id"])
            assert [i for i in items if i["module"] in ("sessions", "cdrs") and i["target"] == own_tx] == [], items


def test_real_time_authorization_asks_the_emsp_where_the_copy_says_to(env):
    """whitelist NEVER and ALLOWED_OFFLINE tokens, and tokens Voltaic has no copy of, are authorized by the eMSP in real
    time (`POST {tokens}/{uid}/authorize` with the station's LocationReferences): its answer decides, stands for the
    station's start (asked once), and its reference goes into the Session and the CDR with AUTH_REQUEST. With the eMSP
    down, a NEVER token is refused and an ALLOWED_OFFLINE one charges from its copy."""
    server, emsp = env.server, env.emsp
    with diagnostics(env):
        s = charging_site(env)
        asked = lambda uid: [r for r in emsp.authorize_requests if r["uid"].upper() == uid.upper()]  # noqa: E731

        # ALLOWED with a reference: Accepted, asked once with where the station is, for the Authorize and the start.
        allowed = put_roaming_token(env, whitelist="NEVER")
        emsp.answer_authorize(allowed["uid"], "ALLOWED", reference="RT-REF-1", token=allowed)
        start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=20)

        async def charge():
            async with connected(server, s.sid) as cp:
                await boot16(cp)
                status = (await cp.call(call16.Authorize(id_tag=allowed["uid"]))).id_tag_info["status"]
                started = await cp.call(call16.StartTransaction(connector_id=1, id_tag=allowed["uid"], meter_start=0, timestamp=iso(start)))
                await cp.call(call16.StopTransaction(transaction_id=started.transaction_id, meter_stop=2000, timestamp=iso(start + datetime.timedelta(minutes=10))))
                return status, started.id_tag_info["status"], started.transaction_id

        authorized, start_status, tx = run(charge())
        assert (authorized, start_status) == ("Accepted", "Accepted")
        requests = asked(allowed["uid"])
        assert len(requests) == 1, requests
        assert requests[0]["type"] == "RFID" and requests[0]["body"] == {"location_id": s.loc, "evse_uids": [s.evse_uid]}, requests
        session_id = str(tx)
        wait_until(session_in(emsp, session_id, "COMPLETED"), timeout=40)
        wait_until(cdr_arrived(emsp, session_id), timeout=40)
        session, cdr = emsp.stored_session(*CPO, session_id), emsp.stored_cdr(*CPO, session_id)
        for obj in (session, cdr):
            assert obj["auth_method"] == "AUTH_REQUEST" and obj["authorization_reference"] == "RT-REF-1", obj
        assert validate.session(session) == [] and validate.cdr(cdr) == [], (validate.session(session), validate.cdr(cdr))

        # What the eMSP answers is what the station is told.
        blocked = put_roaming_token(env, whitelist="NEVER")
        emsp.answer_authorize(blocked["uid"], "BLOCKED", token=blocked)
        assert authorize16(server, s.sid, blocked["uid"]) == "Blocked"
        unknown_there = put_roaming_token(env, whitelist="ALLOWED_OFFLINE")
        assert authorize16(server, s.sid, unknown_there["uid"]) == "Invalid"  # 2004 from the eMSP: not allowed
        assert len(asked(unknown_there["uid"])) == 1

        # A token Voltaic has no copy of: every eMSP is asked; the one that allows it wins and its copy is kept.
        stranger = emsp.token(new_uid(), whitelist="ALLOWED")
        emsp.answer_authorize(stranger["uid"], "ALLOWED", reference="RT-REF-2", token=stranger)
        assert authorize16(server, s.sid, stranger["uid"]) == "Accepted"
        assert [r["uid"] for r in env.other.authorize_requests if r["uid"].upper() == stranger["uid"].upper()], "the other eMSP was not asked"
        assert ok(emsp.get_token(env.tokens_url, env.token_c, stranger["uid"]))["data"] == stranger
        # One that no eMSP knows stays Invalid, and is not asked about again at once (every eMSP would be asked).
        nobody = new_uid()
        assert authorize16(server, s.sid, nobody) == "Invalid"
        assert authorize16(server, s.sid, nobody) == "Invalid"
        assert len(asked(nobody)) == 1, asked(nobody)
        # A refusal of a token Voltaic had no copy of is the station's answer, though the Token it comes with would allow;
        # and its copy is not kept (it would let the token charge once the refusal is old). A refusal does not stand:
        # the next attempt asks again.
        refused_one = emsp.token(new_uid(), whitelist="ALLOWED")
        emsp.answer_authorize(refused_one["uid"], "BLOCKED", token=refused_one)
        assert authorize16(server, s.sid, refused_one["uid"]) == "Blocked"
        refused(emsp.get_token(env.tokens_url, env.token_c, refused_one["uid"]), 404, 2004)
        emsp.answer_authorize(refused_one["uid"], "ALLOWED", token=refused_one)
        assert authorize16(server, s.sid, refused_one["uid"]) == "Accepted"
        assert len(asked(refused_one["uid"])) == 2

        # The eMSP down: NEVER is refused, ALLOWED_OFFLINE charges from its copy.
        never, offline = put_roaming_token(env, whitelist="NEVER"), put_roaming_token(env, whitelist="ALLOWED_OFFLINE")
        emsp.answer_authorize(never["uid"], "ALLOWED", token=never)
        emsp.answer_authorize(offline["uid"], "BLOCKED", token=offline)
        emsp.go_down()
        try:
            assert authorize16(server, s.sid, never["uid"]) == "Invalid"
            assert authorize16(server, s.sid, offline["uid"]) == "Accepted"
        finally:
            emsp.come_up()
        # Back up, the same tokens get the eMSP's answers (an unreachable answer does not stand).
        assert authorize16(server, s.sid, never["uid"]) == "Accepted"
        assert authorize16(server, s.sid, offline["uid"]) == "Blocked"
