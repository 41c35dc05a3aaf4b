"""OCPI 2.2.1 interop: an independent eMSP (Tests/Interop/emsp) registers with a real `voltaic serve`, pulls its
locations and tariffs page by page, and checks every object against the spec's field rules; then it behaves as the
partners that strain implementations do."""
import asyncio
from datetime import datetime
import time
import uuid

import pytest
from charge_points import connected, now, run
from emsp import validate
from emsp.party import EMSP
from ocpp.v16 import call


def admin_ok(server, method, path, body=None, expect=(200, 201)):
    status, answer = server.api(method, path, body)
    assert status in expect, (status, answer)
    return answer


def site(location_id, **extra):
    return {
        "country_code": "NL", "party_id": "VOL", "publish": True, "name": f"Site {location_id}", "address": "Stationsplein 1",
        "city": "Amsterdam", "postal_code": "1012AB", "country": "NLD",
        "coordinates": {"latitude": "52.37902", "longitude": "4.90001"}, "time_zone": "Europe/Amsterdam",
        "owner": {"name": "Alice"}, "facilities": ["CAFE"],
        "opening_times": {"twentyfourseven": False, "regular_hours": [{"weekday": d, "period_begin": "08:00", "period_end": "20:00"} for d in range(1, 6)]},
        **extra,
    }


def tariff_body(tariff_id, price="0.25"):
    return {
        "country_code": "NL", "party_id": "VOL", "currency": "EUR", "type": "REGULAR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": float(price), "vat": 21.0, "step_size": 1}]}],
    }


def connector(tariff_id):
    return {"id": 1, "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 230, "max_amperage": 32, "tariff_ids": [tariff_id]}


@pytest.fixture(scope="module")
def catalog(server):
    """7 locations, 3 with an EVSE of a station each, and 3 tariffs, all made through the admin API."""
    tag = uuid.uuid4().hex[:6].upper()
    tariffs = [f"T-{tag}-{i}" for i in range(3)]
    for i, t in enumerate(tariffs):
        admin_ok(server, "PUT", f"/tariffs/{t}", tariff_body(t, price=f"0.2{i}"))
    locations = [f"LOC-{tag}-{i}" for i in range(7)]
    for loc in locations:
        admin_ok(server, "PUT", f"/locations/{loc}", site(loc))
    stations = []
    for i in range(3):
        sid = f"OCPI-{tag}-{i}"
        admin_ok(server, "POST", "/stations", {"id": sid, "securityProfile": 0})
        admin_ok(server, "PUT", f"/stations/{sid}/evses/1", {
            "location_id": locations[i], "evse_id": f"NL*VOL*E{tag}{i}*1", "capabilities": ["RFID_READER", "REMOTE_START_STOP_CAPABLE"],
            "connectors": [connector(tariffs[i])],
        })
        stations.append(sid)
    return {"tag": tag, "tariffs": tariffs, "locations": locations, "stations": stations}


def register(server, emsp, name="eMSP"):
    """Token A from the admin API, then the eMSP's side of the handshake. Returns (token A, token C)."""
    partner = admin_ok(server, "POST", "/ocpi/partners", {"name": name})
    token_a, versions_url = partner["tokenA"], partner["ourVersionsUrl"]
    status, _, body = emsp.call("GET", versions_url, token_a)
    assert status == 200 and body["status_code"] == 1000, body
    v221 = [v for v in body["data"] if v["version"] == "2.2.1"]
    assert v221, body
    status, _, details = emsp.call("GET", v221[0]["url"], token_a)
    assert status == 200 and details["data"]["version"] == "2.2.1", details
    endpoints = {(e["identifier"], e["role"]): e["url"] for e in details["data"]["endpoints"]}
    assert ("locations", "SENDER") in endpoints and ("tariffs", "SENDER") in endpoints, endpoints
    status, _, answer = emsp.call("POST", endpoints[("credentials", "SENDER")], token_a, emsp.credentials())
    assert status == 200 and answer["status_code"] == 1000, answer
    token_c = answer["data"]["token"]
    assert token_c != token_a
    assert answer["data"]["roles"][0]["role"] == "CPO"
    # Voltaic fetched the eMSP's versions and details with token B before it answered.
    assert any(c[1].startswith("/ocpi/versions") for c in emsp.calls)
    assert any(c[1] == "/ocpi/2.2.1" for c in emsp.calls)
    return partner, token_a, token_c, endpoints


def test_handshake_then_full_paged_pull_of_locations_and_tariffs(server, catalog):
    emsp = EMSP()
    try:
        partner, token_a, token_c, endpoints = register(server, emsp)
        # Token A is void once the handshake is done, everywhere; token C opens the modules.
        assert emsp.call("GET", endpoints[("locations", "SENDER")], token_a)[0] == 401
        assert emsp.call("GET", partner["ourVersionsUrl"], token_a)[0] == 401
        assert emsp.call("POST", endpoints[("credentials", "SENDER")], token_a, emsp.credentials())[0] == 401
        listed = admin_ok(server, "GET", f"/ocpi/partners/{partner['id']}")
        assert listed["state"] == "registered" and listed["version"] == "2.2.1"
        assert listed["roles"] == [{"role": "EMSP", "countryCode": "DE", "partyId": "EMS", "name": "Test eMSP"}]
        assert "tokenA" not in listed

        locations, pages, totals = emsp.pull_all(endpoints[("locations", "SENDER")], token_c, limit=2)
        ours = [loc for loc in locations if loc["id"] in catalog["locations"]]
        assert len(ours) == len(catalog["locations"])
        assert len({loc["id"] for loc in locations}) == len(locations), "a location came twice"
        assert len(totals) == 1 and totals.pop() == len(locations)
        assert pages == (len(locations) + 1) // 2
        for loc in locations:
            assert validate.location(loc) == [], loc
        # Creation order: a change does not move a location between pages.
        assert [loc["id"] for loc in ours] == catalog["locations"]
        with_evse = [loc for loc in ours if loc["evses"]]
        assert len(with_evse) == 3
        for loc in with_evse:
            (evse,) = loc["evses"]
            # Never connected: UNKNOWN, never a guess.
            assert evse["status"] == "UNKNOWN"
            assert evse["connectors"][0]["tariff_ids"][0] in catalog["tariffs"]

        tariffs, _, totals = emsp.pull_all(endpoints[("tariffs", "SENDER")], token_c, limit=1)
        assert {t["id"] for t in tariffs} >= set(catalog["tariffs"])
        for t in tariffs:
            assert validate.tariff(t) == [], t
    finally:
        emsp.close()


def test_single_objects_headers_and_errors(server, catalog):
    emsp = EMSP(party_id="EM2")
    try:
        _, _, token, endpoints = register(server, emsp)
        base = endpoints[("locations", "SENDER")]
        loc = catalog["locations"][0]
        uid = f"{catalog['stations'][0]}-1"
        headers = {"X-Request-ID": "req-1", "X-Correlation-ID": "corr-1", "OCPI-from-country-code": "DE", "OCPI-from-party-id": "EM2",
                   "OCPI-to-country-code": "NL", "OCPI-to-party-id": "VOL"}
        # Ids are CiStrings: a lower-cased id finds the location.
        status, h, body = emsp.call("GET", f"{base}/{loc.lower()}", token, headers=headers)
        assert status == 200 and body["data"]["id"] == loc
        assert h["x-request-id"] == "req-1" and h["x-correlation-id"] == "corr-1"
        # Routing headers are swapped in the answer.
        assert (h["ocpi-from-country-code"], h["ocpi-from-party-id"], h["ocpi-to-country-code"], h["ocpi-to-party-id"]) == ("NL", "VOL", "DE", "EM2")
        assert body["timestamp"].endswith("Z")
        status, _, body = emsp.call("GET", f"{base}/{loc}/{uid}", token)
        assert status == 200 and body["data"]["uid"] == uid and validate.evse(body["data"]) == []
        status, _, body = emsp.call("GET", f"{base}/{loc}/{uid}/1", token)
        assert status == 200 and body["data"]["id"] == "1" and validate.connector(body["data"]) == []
        status, _, body = emsp.call("GET", f"{base}/NO-SUCH-LOCATION", token)
        assert status == 404 and body["status_code"] == 2003
        status, _, body = emsp.call("GET", f"{base}/{loc}/NO-SUCH-EVSE", token)
        assert status == 404 and body["status_code"] == 2003
        # A raw token (2.1.1 style, and what many 2.2 partners send) is accepted as well.
        status, _, body = emsp.call("GET", f"{base}/{loc}", token, raw_token=True)
        assert status == 200, body
        # Trailing slashes are tolerated.
        status, _, body = emsp.call("GET", base + "/", token)
        assert status == 200 and body["status_code"] == 1000, body
        # No token, an unknown one: 401 with the envelope.
        status, _, body = emsp.call("GET", base, None)
        assert status == 401 and body["status_code"] == 2000
        status, _, body = emsp.call("GET", base, "not-a-token")
        assert status == 401
        # Bad paging parameters: 2001, naming the parameter.
        status, _, body = emsp.call("GET", base + "?limit=abc", token)
        assert body["status_code"] == 2001 and "limit" in body["status_message"]
        status, _, body = emsp.call("GET", base + "?date_from=yesterday", token)
        assert body["status_code"] == 2001 and "date_from" in body["status_message"]
        # A limit above the server's is lowered, and X-Limit says the server's.
        status, h, body = emsp.call("GET", base + "?limit=100000", token)
        assert status == 200 and len(body["data"]) <= int(h["x-limit"])
    finally:
        emsp.close()


def _instant(stamp):
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_date_filters_and_status_changes_bump_last_updated(server, catalog):
    emsp = EMSP(party_id="EM3")
    try:
        _, _, token, endpoints = register(server, emsp)
        base = endpoints[("locations", "SENDER")]
        loc, sid = catalog["locations"][1], catalog["stations"][1]
        _, _, before = emsp.call("GET", f"{base}/{loc}", token)
        stamp = before["data"]["last_updated"]
        time.sleep(0.05)

        async def plug_in():
            async with connected(server, sid) as cp:
                await cp.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
                await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing", timestamp=now()))
                status, _, body = emsp.call("GET", f"{base}/{loc}", token)
                evse = body["data"]["evses"][0]
                assert evse["status"] == "CHARGING", evse
                # Compared as times: "…00Z" and "…00.814Z" do not order as strings.
                assert _instant(body["data"]["last_updated"]) > _instant(stamp)
                assert _instant(evse["last_updated"]) <= _instant(body["data"]["last_updated"])
                # date_from is inclusive and date_to exclusive: the changed location is in [stamp', ∞) only.
                changed = body["data"]["last_updated"]
                status, h, page = emsp.call("GET", f"{base}?date_from={changed}", token)
                assert loc in [x["id"] for x in page["data"]]
                status, h, page = emsp.call("GET", f"{base}?date_to={changed}", token)
                assert loc not in [x["id"] for x in page["data"]]
                # A whole answer, or a full page with a Link to the rest.
                if "link" in h:
                    assert len(page["data"]) == int(h["x-limit"])
                else:
                    assert len(page["data"]) == int(h["x-total-count"])

        run(plug_in())
        # The socket closed: the station is offline, its EVSE UNKNOWN.
        deadline = time.time() + 10
        while time.time() < deadline:
            _, _, body = emsp.call("GET", f"{base}/{loc}", token)
            if body["data"]["evses"][0]["status"] == "UNKNOWN":
                break
            time.sleep(0.2)
        assert body["data"]["evses"][0]["status"] == "UNKNOWN"
    finally:
        emsp.close()


def test_credentials_lifecycle_and_misbehaving_partners(server, catalog):
    emsp = EMSP(party_id="EM4")
    emsp.misbehave |= {"redirect", "details_as_list"}
    try:
        # A 307 on the versions URL and a details answer that is a list of one are followed and read.
        partner, token_a, token_c, endpoints = register(server, emsp)
        cred_url = endpoints[("credentials", "SENDER")]
        # A second POST is refused 405: the partner is registered.
        status, _, body = emsp.call("POST", cred_url, token_c, emsp.credentials())
        assert status == 405, body
        # GET returns Voltaic's credentials for the token the caller used.
        status, _, body = emsp.call("GET", cred_url, token_c)
        assert status == 200 and body["data"]["token"] == token_c
        # PUT rotates: a new token, the old one void.
        emsp.token_b = "emsp-B2-" + uuid.uuid4().hex
        status, _, body = emsp.call("PUT", cred_url, token_c, emsp.credentials())
        assert status == 200 and body["status_code"] == 1000, body
        token_c2 = body["data"]["token"]
        assert token_c2 != token_c
        # Until the new token is first used the old one still works: a PUT whose answer was lost does not lock
        # the partner out, and it may PUT again with the old token.
        assert emsp.call("GET", endpoints[("locations", "SENDER")], token_c)[0] == 200
        status, _, body = emsp.call("PUT", cred_url, token_c, emsp.credentials())
        assert status == 200 and body["status_code"] == 1000, body
        assert emsp.call("GET", endpoints[("locations", "SENDER")], token_c2)[0] == 401, "the answer that was not used is void"
        token_c2 = body["data"]["token"]
        assert emsp.call("GET", endpoints[("locations", "SENDER")], token_c2)[0] == 200
        # The new token used, the old one is void.
        assert emsp.call("GET", endpoints[("locations", "SENDER")], token_c)[0] == 401
        # Suspended by an admin: 403 on modules; resumed: 200 again.
        admin_ok(server, "POST", f"/ocpi/partners/{partner['id']}/suspend")
        assert emsp.call("GET", endpoints[("locations", "SENDER")], token_c2)[0] == 403
        admin_ok(server, "POST", f"/ocpi/partners/{partner['id']}/resume")
        assert emsp.call("GET", endpoints[("locations", "SENDER")], token_c2)[0] == 200
        # DELETE unregisters; the token is void, and a second DELETE is 401 (no such token).
        status, _, body = emsp.call("DELETE", cred_url, token_c2)
        assert status == 200 and body["status_code"] == 1000
        assert emsp.call("GET", endpoints[("locations", "SENDER")], token_c2)[0] == 401
        assert admin_ok(server, "GET", f"/ocpi/partners/{partner['id']}")["state"] == "unregistered"
    finally:
        emsp.close()


def test_registration_fails_honestly(server):
    # Not JSON: HTTP 400. A body OCPI refuses: 2001 naming the field.
    emsp = EMSP(party_id="EM5")
    try:
        partner = admin_ok(server, "POST", "/ocpi/partners", {"name": "bad bodies"})
        cred = partner["ourVersionsUrl"].replace("/versions", "/2.2.1/credentials")
        status, _, body = emsp.call("POST", cred, partner["tokenA"], b"{not json")
        assert status == 400, body
        bad = emsp.credentials()
        bad["roles"][0]["country_code"] = "DEU"
        status, _, body = emsp.call("POST", cred, partner["tokenA"], bad)
        assert body["status_code"] == 2001 and "roles[0].country_code" in body["status_message"], body
        # A partner that answers nothing: 3001, in bounded time, and token A still works afterwards.
        down = emsp.credentials()
        down["url"] = "http://127.0.0.1:9/ocpi/versions"
        started = time.time()
        status, _, body = emsp.call("POST", cred, partner["tokenA"], down)
        assert body["status_code"] == 3001, body
        assert time.time() - started < 15
        # A partner that accepts the connection and never answers: 3001 within the partner timeout (3 s here).
        import socket
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        try:
            hung = emsp.credentials()
            hung["url"] = f"http://127.0.0.1:{silent.getsockname()[1]}/ocpi/versions"
            started = time.time()
            status, _, body = emsp.call("POST", cred, partner["tokenA"], hung)
            assert body["status_code"] == 3001, body
            assert time.time() - started < 8
        finally:
            silent.close()
        # Endpoints without credentials: 3003.
        emsp.misbehave.add("no_credentials")
        status, _, body = emsp.call("POST", cred, partner["tokenA"], emsp.credentials())
        assert body["status_code"] == 3003, body
        # A partner that takes only raw tokens is registered all the same.
        emsp.misbehave = {"raw_only"}
        status, _, body = emsp.call("POST", cred, partner["tokenA"], emsp.credentials())
        assert body["status_code"] == 1000, body  # raw tokens are retried after a 401
    finally:
        emsp.close()
