"""OCPI 2.1.1 interop: an independent eMSP speaking 2.1.1 (Tests/Interop/emsp, `EMSP(version="2.1.1")`) registers
with a real `voltaic serve` on `/ocpi/2.1.1/credentials` with a raw token A, then pulls the locations and tariffs
in their 2.1.1 shapes page by page. Every object is checked against the 2.1.1 tables, and against what a 2.2.1
eMSP pulls at the same time: the same objects, with the fields 2.1.1 lacks left out and the renamed ones
renamed. Then the handshake's errors (3001, 3002, 3003), the credentials lifecycle, that a 2.1.1 partner gets its
pushes in 2.1.1's shapes (raw token, published locations only), and that values 2.1.1 does not know are not sent to it.

A 2.1.1 eMSP also puts its tokens in (2.1.1's tokens module, keyed without a type), an OCPP 1.6 station charges
with one, and the eMSP pulls the Session (active, then completed) and the CDR in their 2.1.1 shapes: the location
embedded with only the EVSE and connector used, costs as amounts excluding VAT.

The tests use the session's server and the catalog of test_ocpi, plus locations and a tariff of their own."""
import contextlib
import copy
import json
import time
import urllib.parse
import uuid

import asyncio
import datetime
from decimal import Decimal

import pytest
from charge_points import connected, run
from emsp import validate
from emsp.party import EMSP, instant
from ocpp.v16 import call as call16
from test_ocpi import admin_ok, catalog, connector, register, site, tariff_body  # noqa: F401 (catalog is a fixture)
from test_ocpi_push import push_list, wait_until

# 2.2.1 ParkingType → 2.1.1 LocationType (the two 2.2 added have no 2.1.1 value but OTHER).
LOCATION_TYPE = {
    "ON_STREET": "ON_STREET", "PARKING_GARAGE": "PARKING_GARAGE", "UNDERGROUND_GARAGE": "UNDERGROUND_GARAGE",
    "PARKING_LOT": "PARKING_LOT", "ALONG_MOTORWAY": "OTHER", "ON_DRIVEWAY": "OTHER",
}
MODULES_211 = {"credentials", "locations", "tariffs", "tokens", "sessions", "cdrs", "commands"}


# Helpers ----------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def dumping(server, *emsps):
    """On a failure, prints the server's log tail and what each eMSP was asked (pytest shows it with the failure)."""
    try:
        yield
    except BaseException:
        print(f"---- voltaic serve log tail ({server.log_path}) ----")
        print(server.tail(12000))
        for emsp in emsps:
            print(f"---- eMSP {emsp.party_id} ({emsp.version}): requests (method, path, token presented) ----")
            for method, path, headers, _ in emsp.calls[-40:]:
                print(method, path, header(headers, "Authorization"))
        raise


def header(headers, name):
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def new_partner(server, name):
    partner = admin_ok(server, "POST", "/ocpi/partners", {"name": name}, expect=(201,))
    assert partner["state"] == "pending" and partner["tokenA"], partner
    return partner


def expected_roles(emsp):
    return [{"role": "EMSP", "countryCode": emsp.country_code, "partyId": emsp.party_id, "name": emsp.name}]


def endpoint_set(endpoints):
    return sorted((e["identifier"], e.get("role"), e["url"]) for e in endpoints)


def cpo_details_211(server, token_a):
    """Voltaic's 2.1.1 version details as a 2.1.1 eMSP reads them with token A (raw): identifier → url."""
    probe = EMSP(version="2.1.1")
    try:
        _, details, endpoints = probe.discover(server.base_url + "/ocpi/versions", token_a)
    finally:
        probe.close()
    return details, endpoints


def register_211(server, emsp, name="2.1.1 eMSP"):
    """Token A from the admin API, then the 2.1.1 eMSP's side of the handshake (raw tokens). Returns (partner, token A,
    token C, Voltaic's 2.1.1 endpoints as identifier → url)."""
    partner = new_partner(server, name)
    done = emsp.register_with(partner["ourVersionsUrl"], partner["tokenA"])
    assert done["status"] == 200 and done["token_c"], done
    assert validate.credentials_211(done["answer"]["data"]) == [], done["answer"]
    return partner, partner["tokenA"], done["token_c"], done["endpoints"]


def envelope_ok(status, body, what):
    assert status == 200 and isinstance(body, dict) and body.get("status_code") == 1000, (what, status, body)
    assert set(body) <= {"data", "status_code", "status_message", "timestamp"}, (what, body)
    assert isinstance(body.get("timestamp"), str) and body["timestamp"].endswith("Z"), (what, body)
    return body.get("data")


def differences(actual, expected, path="$"):
    """Where two JSON values differ; latitudes and longitudes are equal within 1.5e-6 (2.1.1 writes exactly six
    decimals, 2.2.1 five to seven)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(actual) | set(expected)):
            if key not in actual:
                out.append(f"{path}.{key}: missing (expected {expected[key]!r})")
            elif key not in expected:
                out.append(f"{path}.{key}: not expected ({actual[key]!r})")
            elif key in ("latitude", "longitude"):
                try:
                    if abs(float(actual[key]) - float(expected[key])) > 1.5e-6:
                        out.append(f"{path}.{key}: {actual[key]!r} is not {expected[key]!r}")
                except (TypeError, ValueError):
                    out.append(f"{path}.{key}: {actual[key]!r} is not a coordinate")
            else:
                out += differences(actual[key], expected[key], f"{path}.{key}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(actual) != len(expected):
            return [f"{path}: {len(actual)} items, expected {len(expected)} ({actual!r} vs {expected!r})"]
        return [d for i, (a, e) in enumerate(zip(actual, expected)) for d in differences(a, e, f"{path}[{i}]")]
    if type(actual) is not type(expected) and not (isinstance(actual, (int, float)) and isinstance(expected, (int, float))
                                                   and not isinstance(actual, bool) and not isinstance(expected, bool)):
        return [f"{path}: {actual!r} is not {expected!r}"]
    return [] if actual == expected else [f"{path}: {actual!r} is not {expected!r}"]


def plain(value):
    """A JSON value without empty lists, empty objects and nulls (which a sender may leave out or send alike)."""
    if isinstance(value, dict):
        out = {k: plain(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def expected_connector(k):
    """The 2.1.1 Connector the contract makes of a 2.2.1 one: voltage and amperage from the maxima, the first tariff
    id as tariff_id, no max_electric_power."""
    out = {key: copy.deepcopy(v) for key, v in k.items() if key not in ("max_voltage", "max_amperage", "max_electric_power", "tariff_ids")}
    out["voltage"], out["amperage"] = k["max_voltage"], k["max_amperage"]
    if k.get("tariff_ids"):
        out["tariff_id"] = k["tariff_ids"][0]
    return out


def expected_evse(e):
    out = copy.deepcopy(e)
    if "capabilities" in e:
        out["capabilities"] = [c for c in e["capabilities"] if c in validate.CAPABILITIES_211]
    out["connectors"] = [expected_connector(k) for k in e.get("connectors") or []]
    return out


def expected_location(loc):
    """The 2.1.1 Location the contract makes of a 2.2.1 one: no country_code, party_id, publish, publish_allowed_to
    or parking_type; `type` from parking_type (UNKNOWN when there is none)."""
    out = {k: copy.deepcopy(v) for k, v in loc.items() if k not in ("country_code", "party_id", "publish", "publish_allowed_to", "parking_type")}
    out["type"] = LOCATION_TYPE[loc["parking_type"]] if loc.get("parking_type") else "UNKNOWN"
    # postal_code is required on 2.1.1: a site without one has it empty.
    out.setdefault("postal_code", "")
    if "evses" in loc:
        out["evses"] = [expected_evse(e) for e in loc["evses"]]
    return out


def expected_tariff(t):
    """The 2.1.1 Tariff made of a 2.2.1 one: no country_code, party_id, type, min_price, max_price, no validity window
    (2.1.1 has none: a tariff outside it is left out), no vat per component, and no element restricted by
    reservation or current (2.1.1 cannot say so, and would apply it to everything)."""
    out = {k: copy.deepcopy(v) for k, v in t.items() if k not in ("country_code", "party_id", "type", "min_price", "max_price", "start_date_time", "end_date_time")}
    kept = []
    for element in out.get("elements") or []:
        restrictions = element.get("restrictions")
        if isinstance(restrictions, dict) and any(restrictions.get(k) is not None for k in ("reservation", "min_current", "max_current")):
            continue
        for component in element.get("price_components") or []:
            component.pop("vat", None)
        kept.append(element)
    out["elements"] = kept
    return out


def no_problems(problems):
    """Asserts that a {id: [problem, …]} mapping or a list of problems holds none, listing them all if it does."""
    if isinstance(problems, dict):
        problems = [f"{k}: {p}" for k, v in problems.items() for p in v]
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def ids(objects, key="id"):
    return [o[key] for o in objects]


@pytest.fixture(scope="module")
def extra(server, catalog):  # noqa: F811 (the fixture imported above)
    """Locations of every parking type and none, a station whose EVSE has capabilities 2.1.1 lacks and two connectors
    (two tariffs and a power cap; no tariff), and a tariff with every field 2.2 added."""
    tag = uuid.uuid4().hex[:6].upper()
    types = {}
    for parking_type in sorted(LOCATION_TYPE):
        loc = f"P211-{tag}-{parking_type}"[:36]
        admin_ok(server, "PUT", f"/locations/{loc}", site(loc, parking_type=parking_type))
        types[loc] = LOCATION_TYPE[parking_type]
    rich = f"T211-{tag}"
    admin_ok(server, "PUT", f"/tariffs/{rich}", {
        "country_code": "NL", "party_id": "VOL", "currency": "EUR", "type": "REGULAR",
        "tariff_alt_text": [{"language": "en", "text": "0.30/kWh, 2.00/h on weekdays"}],
        "min_price": {"excl_vat": 1.0, "incl_vat": 1.21}, "max_price": {"excl_vat": 50.0, "incl_vat": 60.5},
        "start_date_time": "2024-01-01T00:00:00Z", "end_date_time": "2099-01-01T00:00:00Z",
        "elements": [
            {"price_components": [{"type": "TIME", "price": 2.0, "vat": 21.0, "step_size": 60}],
             "restrictions": {"day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"], "start_time": "08:00",
                              "end_time": "20:00", "min_current": 6, "max_current": 32, "min_power": 1.5}},
            {"price_components": [{"type": "ENERGY", "price": 0.3, "vat": 21.0, "step_size": 1}, {"type": "FLAT", "price": 0.5, "vat": 21.0, "step_size": 1}]},
        ],
    })
    motorway = next(loc for loc, t in types.items() if loc.endswith("ALONG_MOTORWAY"))
    station = f"S211-{tag}"
    admin_ok(server, "POST", "/stations", {"id": station, "securityProfile": 0})
    admin_ok(server, "PUT", f"/stations/{station}/evses/1", {
        "location_id": motorway, "evse_id": f"NL*VOL*E{tag}211*1",
        "capabilities": ["RFID_READER", "CHIP_CARD_SUPPORT", "CONTACTLESS_CARD_SUPPORT", "REMOTE_START_STOP_CAPABLE", "START_SESSION_CONNECTOR_REQUIRED", "UNLOCK_CAPABLE"],
        "connectors": [
            {"id": 1, "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 230, "max_amperage": 32,
             "max_electric_power": 11000, "tariff_ids": [rich, catalog["tariffs"][0]]},
            {"id": 2, "standard": "IEC_62196_T2_COMBO", "format": "CABLE", "power_type": "DC", "max_voltage": 500, "max_amperage": 125},
        ],
    })
    return {"tag": tag, "types": types, "tariff": rich, "motorway": motorway, "evse_uid": f"{station}-1"}


# (a) Registration ------------------------------------------------------------------------------------------------


def test_211_emsp_registers_with_a_raw_token_a(server):
    emsp = EMSP(version="2.1.1", party_id="V1A", name="Legacy eMSP")
    # A 2.1.1 partner as many are: it takes raw tokens only.
    emsp.misbehave.add("raw_only")
    with dumping(server, emsp):
        try:
            partner = new_partner(server, "2.1.1 eMSP")
            token_a = partner["tokenA"]
            # Voltaic's versions offer 2.1.1 beside 2.2.1.
            status, _, body = emsp.call("GET", partner["ourVersionsUrl"], token_a)
            versions = envelope_ok(status, body, "versions")
            assert validate.versions_211(versions) == [], versions
            offered = {v["version"]: v["url"] for v in versions}
            assert offered == {"2.1.1": server.base_url + "/ocpi/2.1.1", "2.2.1": server.base_url + "/ocpi/2.2.1"}, versions
            # Its 2.1.1 details: credentials, locations, tariffs, tokens, sessions, cdrs and commands, without roles.
            status, _, body = emsp.call("GET", offered["2.1.1"], token_a)
            details = envelope_ok(status, body, "2.1.1 details")
            assert validate.version_details_211(details) == [], details
            endpoints = {e["identifier"]: e["url"] for e in details["endpoints"]}
            assert set(endpoints) == MODULES_211, details
            assert all(url.startswith(server.base_url + "/ocpi/2.1.1/") for url in endpoints.values()), endpoints

            since = len(emsp.calls)
            token_b = emsp.token_b
            status, _, answer = emsp.call("POST", endpoints["credentials"], token_a, emsp.credentials())
            answered = len(emsp.calls)
            cred = envelope_ok(status, answer, "registration")
            assert validate.credentials_211(cred) == [], cred
            token_c = cred["token"]
            assert token_c not in (token_a, token_b), cred
            assert cred["url"] == partner["ourVersionsUrl"], cred
            assert (cred["country_code"], cred["party_id"], cred["business_details"]["name"]) == ("NL", "VOL", "Voltaic"), cred

            # Before it answered, Voltaic read the eMSP's versions, then its 2.1.1 details, with token B, and nothing else.
            during = [(m, p.split("?")[0], header(h, "Authorization")) for m, p, h, _ in emsp.calls[since:answered]]
            paths = [p for _, p, _ in during]
            assert "/ocpi/versions" in paths and "/ocpi/2.1.1" in paths, during
            assert set(paths) == {"/ocpi/versions", "/ocpi/2.1.1"}, during
            assert max(i for i, p in enumerate(paths) if p == "/ocpi/versions") < paths.index("/ocpi/2.1.1"), during
            assert {EMSP.presented(a) for _, _, a in during} == {token_b}, during
            # The read that worked is the last, raw; and the details of a 2.1.1 version are read the 2.1.1 way from the
            # first try: the token as it is, not Base64 (2.1.1 transport_and_format), so no refused read.
            assert during[-1] == ("GET", "/ocpi/2.1.1", "Token " + token_b), during
            assert [a for _, p, a in during if p == "/ocpi/2.1.1"] == ["Token " + token_b], during

            # Token A is void; a second POST is 405; GET answers Voltaic's 2.1.1 credentials for token C.
            assert emsp.call("GET", partner["ourVersionsUrl"], token_a)[0] == 401
            assert emsp.call("POST", endpoints["credentials"], token_a, emsp.credentials())[0] == 401
            status, _, body = emsp.call("POST", endpoints["credentials"], token_c, emsp.credentials())
            assert status == 405, (status, body)
            status, _, body = emsp.call("GET", endpoints["credentials"], token_c)
            got = envelope_ok(status, body, "GET credentials")
            assert validate.credentials_211(got) == [] and got["token"] == token_c, got
            # Token C opens the modules, raw and Base64 alike.
            assert envelope_ok(*emsp.call("GET", endpoints["locations"], token_c)[::2], "locations (raw)") is not None
            assert envelope_ok(*emsp.call("GET", endpoints["tariffs"], token_c, raw_token=False)[::2], "tariffs (Base64)") is not None

            # The admin API: registered on 2.1.1, the eMSP's party, its endpoints without roles, no token.
            shown = admin_ok(server, "GET", f"/ocpi/partners/{partner['id']}", expect=(200,))
            assert shown["state"] == "registered" and shown["version"] == "2.1.1", shown
            assert shown["roles"] == expected_roles(emsp), shown
            assert shown.get("versionsUrl") in (None, emsp.versions_url), shown
            assert endpoint_set(shown["endpoints"]) == endpoint_set(emsp.endpoints()), shown
            for secret in (token_a, token_b, token_c):
                assert secret not in json.dumps(shown), "the partner view shows a token"
        finally:
            emsp.close()


# (b) Full pulls, compared with 2.2.1 -------------------------------------------------------------------------------


def test_211_pull_is_the_221_pull_in_211_shapes(server, catalog, extra):  # noqa: F811
    old, new = EMSP(version="2.1.1", party_id="V1B"), EMSP(party_id="V2B")
    with dumping(server, old, new):
        try:
            _, _, token_211, ep_211 = register_211(server, old)
            _, _, token_221, ep_221 = register(server, new, name="2.2.1 eMSP beside a 2.1.1 one")

            locations, pages, totals = old.pull_all(ep_211["locations"], token_211, limit=2)
            assert len(locations) >= len(catalog["locations"]) + len(extra["types"]), len(locations)
            assert len(totals) == 1 and totals.pop() == len(locations)
            assert pages == (len(locations) + 1) // 2
            assert len(set(ids(locations))) == len(locations), "a location came twice"
            no_problems({loc.get("id"): validate.location_211(loc) for loc in locations})

            locations_221, _, _ = new.pull_all(ep_221[("locations", "SENDER")], token_221, limit=50)
            # The same locations, in the same order, and each the 2.1.1 rendering of its 2.2.1 self.
            assert ids(locations) == ids(locations_221)
            by_221 = {loc["id"]: loc for loc in locations_221}
            no_problems({loc["id"]: differences(plain(loc), plain(expected_location(by_221[loc["id"]]))) for loc in locations})

            by_211 = {loc["id"]: loc for loc in locations}
            # The catalog's three EVSEs: the status and the tariff of the 2.2.1 objects.
            with_evse = [by_211[loc] for loc in catalog["locations"] if by_211[loc]["evses"]]
            assert len(with_evse) == 3, [by_211[loc] for loc in catalog["locations"]]
            for i, loc in enumerate(with_evse):
                (evse,) = loc["evses"]
                (evse_221,) = by_221[loc["id"]]["evses"]
                assert evse["uid"] == evse_221["uid"] and evse["status"] == evse_221["status"] == "UNKNOWN", (evse, evse_221)
                assert evse["connectors"][0]["tariff_id"] == evse_221["connectors"][0]["tariff_ids"][0] == catalog["tariffs"][i], evse
            # Parking types as 2.1.1 location types; none is UNKNOWN.
            assert len(extra["types"]) == 6
            for loc_id, want in extra["types"].items():
                assert by_211[loc_id]["type"] == want, by_211[loc_id]
            for loc_id in catalog["locations"]:
                assert by_211[loc_id]["type"] == "UNKNOWN", by_211[loc_id]
            # Capabilities 2.1.1 knows only; connectors with voltage, amperage, tariff_id (none without tariffs).
            (evse,) = by_211[extra["motorway"]]["evses"]
            assert evse["uid"] == extra["evse_uid"], evse
            assert sorted(evse["capabilities"]) == ["REMOTE_START_STOP_CAPABLE", "RFID_READER", "UNLOCK_CAPABLE"], evse
            first, second = sorted(evse["connectors"], key=lambda k: k["id"])
            assert (first["id"], first["voltage"], first["amperage"], first["tariff_id"]) == ("1", 230, 32, extra["tariff"]), first
            assert (second["id"], second["voltage"], second["amperage"], second["power_type"]) == ("2", 500, 125, "DC"), second
            assert "tariff_id" not in second and "max_electric_power" not in first, (first, second)

            tariffs, pages, totals = old.pull_all(ep_211["tariffs"], token_211, limit=1)
            assert len(tariffs) >= len(catalog["tariffs"]) + 1 and pages == len(tariffs), (len(tariffs), pages)
            assert len(totals) == 1 and totals.pop() == len(tariffs)
            no_problems({t.get("id"): validate.tariff_211(t) for t in tariffs})
            tariffs_221, _, _ = new.pull_all(ep_221[("tariffs", "SENDER")], token_221, limit=50)
            assert ids(tariffs) == ids(tariffs_221)
            t221 = {t["id"]: t for t in tariffs_221}
            no_problems({t["id"]: differences(plain(t), plain(expected_tariff(t221[t["id"]]))) for t in tariffs})
            (rich,) = [t for t in tariffs if t["id"] == extra["tariff"]]
            assert "start_datetime" not in rich and "end_datetime" not in rich, rich
            # The weekday TIME element is restricted by current, which 2.1.1 cannot say: left out, not made unconditional.
            assert [[c["type"] for c in e["price_components"]] for e in rich["elements"]] == [["ENERGY", "FLAT"]], rich
        finally:
            old.close()
            new.close()


def test_211_paging_offset_and_date_filters_match_221(server, catalog, extra):  # noqa: F811
    old, new = EMSP(version="2.1.1", party_id="V1C"), EMSP(party_id="V2C")
    with dumping(server, old, new):
        try:
            _, _, token_211, ep_211 = register_211(server, old)
            _, _, token_221, ep_221 = register(server, new, name="2.2.1 eMSP for paging")
            url_211, url_221 = ep_211["locations"], ep_221[("locations", "SENDER")]
            everything, _, _ = old.pull_all(url_211, token_211, limit=50)
            assert len(everything) >= 10, len(everything)

            # offset/limit: a window of the full list, the total and the server's limit in the headers.
            status, headers, body = old.call("GET", f"{url_211}?offset=2&limit=3", token_211)
            page = envelope_ok(status, body, "offset page")
            assert ids(page) == ids(everything)[2:5], (ids(page), ids(everything))
            assert int(headers["x-total-count"]) == len(everything) and int(headers["x-limit"]) >= 1, headers
            assert "link" in headers and 'rel="next"' in headers["link"], headers
            nxt = urllib.parse.urlparse(headers["link"][1:headers["link"].index(">")])
            assert nxt.path == urllib.parse.urlparse(url_211).path, headers["link"]
            assert urllib.parse.parse_qs(nxt.query).get("offset") == ["5"], headers["link"]

            # date_from (inclusive) and date_to (exclusive) split the list where 2.2.1 splits it.
            stamps = sorted({loc["last_updated"] for loc in everything})
            assert len(stamps) >= 2, stamps
            cut = stamps[len(stamps) // 2]
            for query in (f"date_from={urllib.parse.quote(cut)}", f"date_to={urllib.parse.quote(cut)}"):
                got, _, _ = old.pull_all(url_211, token_211, limit=4, query=query)
                want, _, _ = new.pull_all(url_221, token_221, limit=4, query=query)
                assert got and ids(got) == ids(want), (query, ids(got), ids(want))
            after, _, _ = old.pull_all(url_211, token_211, limit=50, query=f"date_from={urllib.parse.quote(cut)}")
            before, _, _ = old.pull_all(url_211, token_211, limit=50, query=f"date_to={urllib.parse.quote(cut)}")
            assert sorted(ids(after) + ids(before)) == sorted(ids(everything)), (ids(after), ids(before))
            assert after and before, (cut, stamps)
            assert all(instant(loc["last_updated"]) >= instant(cut) for loc in after), ids(after)
            assert all(instant(loc["last_updated"]) < instant(cut) for loc in before), ids(before)
        finally:
            old.close()
            new.close()


# (c) Single objects ------------------------------------------------------------------------------------------------


def test_211_single_location_evse_and_connector(server, catalog, extra):  # noqa: F811
    old = EMSP(version="2.1.1", party_id="V1D")
    with dumping(server, old):
        try:
            _, _, token, ep = register_211(server, old)
            base = ep["locations"]
            loc_id, uid = extra["motorway"], extra["evse_uid"]

            status, _, body = old.call("GET", f"{base}/{loc_id}", token)
            loc = envelope_ok(status, body, "location")
            assert loc["id"] == loc_id and loc["type"] == "OTHER", loc
            no_problems(validate.location_211(loc))
            listed = [x for x in old.pull_all(base, token, limit=50)[0] if x["id"] == loc_id]
            assert len(listed) == 1 and differences(plain(loc), plain(listed[0])) == [], (loc, listed)

            status, _, body = old.call("GET", f"{base}/{loc_id}/{uid}", token)
            evse = envelope_ok(status, body, "EVSE")
            no_problems(validate.evse_211(evse))
            assert evse["uid"] == uid and differences(plain(evse), plain(loc["evses"][0])) == [], (evse, loc["evses"])

            for connector_id in ("1", "2"):
                status, _, body = old.call("GET", f"{base}/{loc_id}/{uid}/{connector_id}", token)
                conn = envelope_ok(status, body, f"connector {connector_id}")
                no_problems(validate.connector_211(conn))
                (same,) = [k for k in evse["connectors"] if k["id"] == connector_id]
                assert differences(plain(conn), plain(same)) == [], (conn, same)
                assert ("tariff_id" in conn) == (connector_id == "1"), conn

            # A catalog location, never connected: its EVSE UNKNOWN, its connector's tariff the catalog's.
            cat_loc, cat_uid = catalog["locations"][0], f"{catalog['stations'][0]}-1"
            status, _, body = old.call("GET", f"{base}/{cat_loc}/{cat_uid}/1", token)
            conn = envelope_ok(status, body, "catalog connector")
            assert conn["tariff_id"] == catalog["tariffs"][0] and conn["voltage"] == 230 and conn["amperage"] == 32, conn

            # Unknown objects: 404 with 2003; no token: 401.
            for path in ("NO-SUCH-LOCATION", f"{loc_id}/NO-SUCH-EVSE", f"{loc_id}/{uid}/99"):
                status, _, body = old.call("GET", f"{base}/{path}", token)
                assert status == 404 and isinstance(body, dict) and body.get("status_code") == 2003, (path, status, body)
            status, _, body = old.call("GET", f"{base}/{loc_id}", None)
            assert status == 401 and body["status_code"] == 2000, (status, body)
        finally:
            old.close()


# (d) Registration errors -------------------------------------------------------------------------------------------


def test_211_registration_errors_then_success(server):
    emsp = EMSP(version="2.1.1", party_id="V1E")
    with dumping(server, emsp):
        try:
            partner = new_partner(server, "2.1.1 eMSP with troubles")
            token_a = partner["tokenA"]
            _, endpoints = cpo_details_211(server, token_a)
            cred_url = endpoints["credentials"]

            # It offers 2.2.1 only: 3002, and Voltaic read no details.
            emsp.misbehave = {"only_221"}
            since = len(emsp.calls)
            status, _, body = emsp.call("POST", cred_url, token_a, emsp.credentials())
            assert isinstance(body, dict) and body.get("status_code") == 3002, (status, body)
            paths = [p.split("?")[0] for _, p, _, _ in emsp.calls[since:]]
            assert paths and set(paths) == {"/ocpi/versions"}, paths

            # Its 2.1.1 details list no credentials endpoint: 3003.
            emsp.misbehave = {"no_credentials"}
            status, _, body = emsp.call("POST", cred_url, token_a, emsp.credentials())
            assert isinstance(body, dict) and body.get("status_code") == 3003, (status, body)

            # It is down: 3001, in bounded time.
            emsp.misbehave = set()
            emsp.go_down()
            started = time.time()
            status, _, body = emsp.call("POST", cred_url, token_a, emsp.credentials())
            assert isinstance(body, dict) and body.get("status_code") == 3001, (status, body)
            assert time.time() - started < 15
            assert admin_ok(server, "GET", f"/ocpi/partners/{partner['id']}", expect=(200,))["state"] == "pending"

            # Up again and well: the same token A registers it, on 2.1.1.
            emsp.come_up()
            status, _, body = emsp.call("POST", cred_url, token_a, emsp.credentials())
            cred = envelope_ok(status, body, "registration")
            assert validate.credentials_211(cred) == [], cred
            shown = admin_ok(server, "GET", f"/ocpi/partners/{partner['id']}", expect=(200,))
            assert shown["state"] == "registered" and shown["version"] == "2.1.1", shown

        finally:
            emsp.close()


# (e) Credentials lifecycle -----------------------------------------------------------------------------------------


def test_211_credentials_update_and_unregister(server):
    emsp = EMSP(version="2.1.1", party_id="V1F")
    with dumping(server, emsp):
        try:
            partner, _, token_c, endpoints = register_211(server, emsp)
            cred_url, locations_url = endpoints["credentials"], endpoints["locations"]
            # PUT with a new token B: Voltaic reads the eMSP's versions and 2.1.1 details again with it, and answers
            # new 2.1.1 credentials.
            emsp.token_b = "emsp-B2-" + uuid.uuid4().hex
            since = len(emsp.calls)
            status, _, body = emsp.call("PUT", cred_url, token_c, emsp.credentials())
            cred = envelope_ok(status, body, "PUT credentials")
            assert validate.credentials_211(cred) == [], cred
            token_c2 = cred["token"]
            assert token_c2 != token_c
            reads = [(p.split("?")[0], EMSP.presented(header(h, "Authorization"))) for _, p, h, _ in emsp.calls[since:]]
            assert ("/ocpi/versions", emsp.token_b) in reads and ("/ocpi/2.1.1", emsp.token_b) in reads, reads
            # The new token works; once used, the old one does not.
            assert emsp.call("GET", locations_url, token_c2)[0] == 200
            assert emsp.call("GET", locations_url, token_c)[0] == 401
            shown = admin_ok(server, "GET", f"/ocpi/partners/{partner['id']}", expect=(200,))
            assert shown["state"] == "registered" and shown["version"] == "2.1.1", shown
            # DELETE unregisters: the token is void.
            status, _, body = emsp.call("DELETE", cred_url, token_c2)
            assert status == 200 and body["status_code"] == 1000, (status, body)
            assert emsp.call("GET", locations_url, token_c2)[0] == 401
            assert admin_ok(server, "GET", f"/ocpi/partners/{partner['id']}", expect=(200,))["state"] == "unregistered"
        finally:
            emsp.close()


# (f) Pushes to a 2.1.1 partner, in 2.1.1's shapes -------------------------------------------------------------------


def test_211_partner_gets_pushes_in_211_shapes(server):
    old, new = EMSP(version="2.1.1", party_id="V1G"), EMSP(party_id="V2G")
    with dumping(server, old, new):
        try:
            partner_211, _, _, _ = register_211(server, old)
            register(server, new, name="2.2.1 eMSP that gets pushes")
            tag = uuid.uuid4().hex[:6].upper()
            tariff, loc, hidden = f"T211P-{tag}", f"L211P-{tag}", f"L211H-{tag}"
            admin_ok(server, "PUT", f"/tariffs/{tariff}", {"country_code": "NL", "party_id": "VOL", "currency": "EUR",
                                                           "elements": [{"price_components": [{"type": "ENERGY", "price": 0.4, "vat": 21.0, "step_size": 1}]}]})
            admin_ok(server, "PUT", f"/locations/{loc}", site(loc, parking_type="ALONG_MOTORWAY"))
            admin_ok(server, "PUT", f"/locations/{hidden}", site(hidden, publish=False))
            # Both get the tariff and the published location; each in its own version's shape.
            wait_until(lambda: None if new.stored_tariff("NL", "VOL", tariff) and new.stored_location("NL", "VOL", loc) else "not pushed yet", timeout=60)
            wait_until(lambda: None if old.stored_tariff("NL", "VOL", tariff) and old.stored_location("NL", "VOL", loc) else "not pushed to 2.1.1 yet", timeout=60)
            pushes = [p for p in old.received() if p["object_id"] in (tariff, loc, hidden)]
            assert pushes and all(p["accepted"] and not p["problems"] for p in pushes), pushes
            # 2.1.1's token is raw, and nothing 2.1.1 lacks is in the bodies (the validators above refuse such fields).
            assert all(p["authorization"] == "raw" for p in pushes), [p["authorization"] for p in pushes]
            stored = old.stored_location("NL", "VOL", loc)
            assert stored["type"] == "OTHER" and "publish" not in stored and "parking_type" not in stored, stored
            assert "vat" not in old.stored_tariff("NL", "VOL", tariff)["elements"][0]["price_components"][0]
            # An unpublished location reaches the 2.2.1 partner (which filters it) and not the 2.1.1 one, which could not.
            wait_until(lambda: None if new.stored_location("NL", "VOL", hidden) else "hidden location not pushed to 2.2.1 yet", timeout=60)
            assert old.stored_location("NL", "VOL", hidden) is None
            assert all(p["object_id"] != hidden for p in old.received())
            assert not any(hidden in json.dumps(p) for p in push_list(server, partner_211["id"])), push_list(server, partner_211["id"])
        finally:
            old.close()
            new.close()


# (g) Values 2.1.1 does not know ------------------------------------------------------------------------------------


def test_values_211_lacks_are_not_sent_to_a_211_partner(server, catalog):  # noqa: F811
    """A location with what only 2.2 has (a state, 2.2's facilities, seven-decimal coordinates, an energy mix with
    2.2's `category`) and an EVSE with connectors of standards and power types 2.2 added: what a 2.1.1 partner
    gets of it must still be valid 2.1.1 (mod_locations 4.4, 4.11, 4.12, 4.18; the 2.2 changelog)."""
    old = EMSP(version="2.1.1", party_id="V1H")
    with dumping(server, old):
        try:
            _, _, token, ep = register_211(server, old)
            tag = uuid.uuid4().hex[:6].upper()
            loc = f"L211N-{tag}"
            admin_ok(server, "PUT", f"/locations/{loc}", site(
                loc, state="Noord-Holland", parking_type="ON_DRIVEWAY", facilities=["PARKING_LOT", "BIKE_SHARING", "CAFE"],
                coordinates={"latitude": "52.3790215", "longitude": "4.9000123"},
                related_locations=[{"latitude": "52.37910", "longitude": "4.90010", "name": {"language": "en", "text": "Entrance"}}],
                energy_mix={"is_green_energy": False, "energy_sources": [{"source": "SOLAR", "percentage": 60}, {"source": "GAS", "percentage": 40}],
                            "environ_impact": [{"category": "CARBON_DIOXIDE", "amount": 120}]},
            ))
            station = f"S211N-{tag}"
            admin_ok(server, "POST", "/stations", {"id": station, "securityProfile": 0})
            admin_ok(server, "PUT", f"/stations/{station}/evses/1", {
                "location_id": loc, "evse_id": f"NL*VOL*E{tag}N*1", "coordinates": {"latitude": "52.37902", "longitude": "4.90001"},
                "connectors": [
                    {"id": 1, "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_2_PHASE", "max_voltage": 230, "max_amperage": 16,
                     "tariff_ids": [catalog["tariffs"][0]]},
                    {"id": 2, "standard": "NEMA_5_20", "format": "SOCKET", "power_type": "AC_1_PHASE", "max_voltage": 120, "max_amperage": 20},
                    {"id": 3, "standard": "DOMESTIC_F", "format": "SOCKET", "power_type": "AC_1_PHASE", "max_voltage": 230, "max_amperage": 16},
                ],
            })
            status, _, body = old.call("GET", f"{ep['locations']}/{loc}", token)
            got = envelope_ok(status, body, "location")
            assert got["id"] == loc and got["type"] == "OTHER", got
            no_problems(validate.location_211(got))
            # What 2.1.1 can say survives: the Schuko connector and the CAFE.
            assert "CAFE" in (got.get("facilities") or []), got
            assert any(k["standard"] == "DOMESTIC_F" for e in got.get("evses") or [] for k in e["connectors"]), got
            listed = [x for x in old.pull_all(ep["locations"], token, limit=50)[0] if x["id"] == loc]
            assert len(listed) == 1, listed
            no_problems(validate.location_211(listed[0]))
        finally:
            old.close()


# Tokens, sessions and CDRs over 2.1.1 ------------------------------------------------------------------------------


def token_211(emsp, uid, **fields):
    """A 2.1.1 Token of the eMSP: no party in it, the contract as `auth_id`."""
    body = {
        "uid": uid, "type": "RFID", "auth_id": f"{emsp.country_code}-{emsp.party_id}-C{uid}"[:36], "visual_number": f"{uid[:8]}-VIS",
        "issuer": emsp.name, "valid": True, "whitelist": "ALLOWED", "language": "nl",
        "last_updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def answered(answer, code=1000, http=200):
    status, _, body = answer
    assert status == http and isinstance(body, dict) and body.get("status_code") == code, (status, body)
    return body


def test_211_tokens_sessions_and_cdrs(server):
    emsp = EMSP(version="2.1.1", party_id="V1S", name="Roaming 2.1.1 eMSP")
    tag = uuid.uuid4().hex[:6].upper()
    tariff, loc, sid = f"T-{tag}211", f"LOC-{tag}211", f"S211-{tag}"
    with dumping(server, emsp):
        try:
            _, _, token_c, endpoints = register_211(server, emsp, "2.1.1 roaming eMSP")
            assert {"tokens", "sessions", "cdrs"} <= set(endpoints), endpoints
            admin_ok(server, "PUT", f"/tariffs/{tariff}", tariff_body(tariff, price="0.40"))
            admin_ok(server, "PUT", f"/locations/{loc}", site(loc))
            admin_ok(server, "POST", "/stations", {"id": sid, "securityProfile": 0})
            admin_ok(server, "PUT", f"/stations/{sid}/evses/1", {"location_id": loc, "evse_id": f"NL*VOL*E{tag}211*1", "connectors": [connector(tariff)]})
            # A second EVSE at the site, not used: a Session and a CDR embed only the one that was.
            admin_ok(server, "POST", "/stations", {"id": sid + "B", "securityProfile": 0})
            admin_ok(server, "PUT", f"/stations/{sid}B/evses/1", {"location_id": loc, "evse_id": f"NL*VOL*E{tag}211*2", "connectors": [connector(tariff)]})
            status, _, body = emsp.call("GET", f"{endpoints['locations']}/{loc}", token_c)
            evses = envelope_ok(status, body, "location")["evses"]
            assert len(evses) == 2, evses
            evse_uid = next(e["uid"] for e in evses if e["evse_id"] == f"NL*VOL*E{tag}211*1")

            # The token: put, read back as it was put (2.1.1's fields only), refused with 2.2.1's contract_id.
            uid = "04" + uuid.uuid4().hex[:12].upper()
            token = token_211(emsp, uid)
            assert validate.token_211(token) == [], token
            url = emsp.token_url(endpoints["tokens"], uid)
            answered(emsp.call("PUT", url, token_c, token))
            stored = answered(emsp.call("GET", url, token_c))["data"]
            assert validate.token_211(stored) == [], stored
            assert stored == token, (stored, token)
            wrong = emsp.call("PUT", url, token_c, token_211(emsp, uid, auth_id=None, contract_id="X"))
            assert "auth_id" in answered(wrong, code=2001)["status_message"], wrong
            other_party = emsp.token_url(endpoints["tokens"], uid, party_id="ZZZ")
            answered(emsp.call("PUT", other_party, token_c, token), code=2000, http=403)
            # A PATCH in 2.1.1's names changes what Voltaic authorizes with.
            answered(emsp.call("PATCH", url, token_c, {"valid": False, "last_updated": token["last_updated"]}))
            assert answered(emsp.call("GET", url, token_c))["data"]["valid"] is False

            async def authorize():
                async with connected(server, sid) as cp:
                    await cp.call(call16.BootNotification(charge_point_model="Roaming", charge_point_vendor="Interop"))
                    return (await cp.call(call16.Authorize(id_tag=uid))).id_tag_info["status"]

            assert run(authorize()) == "Blocked"
            answered(emsp.call("PATCH", url, token_c, {"valid": True, "auth_id": token["auth_id"], "last_updated": token["last_updated"]}))
            assert run(authorize()) == "Accepted"

            # A session with it: 12 kWh at 0.40 EUR/kWh excluding VAT.
            start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=30)
            stamp = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
            sessions_seen = {}

            async def charge():
                async with connected(server, sid) as cp:
                    await cp.call(call16.BootNotification(charge_point_model="Roaming", charge_point_vendor="Interop"))
                    started = await cp.call(call16.StartTransaction(connector_id=1, id_tag=uid, meter_start=1000, timestamp=stamp(start)))
                    assert started.id_tag_info["status"] == "Accepted", started
                    tx = started.transaction_id
                    await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{"timestamp": stamp(start + datetime.timedelta(minutes=10)), "sampled_value": [
                        {"value": "5000", "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Periodic"}]}]))
                    # The session is made by the outbox relay, just after the start is committed.
                    deadline = time.time() + 20
                    while time.time() < deadline:
                        objects, _, _ = await asyncio.to_thread(emsp.pull_all, endpoints["sessions"], token_c, 1, None, "date_from=2020-01-01T00:00:00Z")
                        sessions_seen["all"] = objects
                        sessions_seen["active"] = [o for o in objects if o.get("auth_id") == token["auth_id"] and Decimal(str(o["kwh"])) == 4]
                        if sessions_seen["active"]:
                            break
                        await asyncio.sleep(0.3)
                    stopped = await cp.call(call16.StopTransaction(transaction_id=tx, meter_stop=13000, timestamp=stamp(start + datetime.timedelta(minutes=20)), id_tag=uid))
                    assert stopped.id_tag_info is None or stopped.id_tag_info["status"] == "Accepted", stopped

            run(charge())
            assert len(sessions_seen["active"]) == 1, sessions_seen
            [active] = sessions_seen["active"]
            assert validate.session_211(active) == [], (validate.session_211(active), active)
            assert active["status"] == "ACTIVE" and "end_datetime" not in active, active
            assert active["auth_method"] == "WHITELIST" and instant(active["start_datetime"]) == start, active
            assert Decimal(str(active["kwh"])) == Decimal(4), active
            assert active["location"]["id"] == loc and [e["uid"] for e in active["location"]["evses"]] == [evse_uid], active
            assert active["location"]["evses"][0]["connectors"][0]["id"] == "1", active

            def finished():
                objects, _, _ = emsp.pull_all(endpoints["sessions"], token_c, 1, query="date_from=2020-01-01T00:00:00Z")
                mine = [o for o in objects if o.get("auth_id") == token["auth_id"] and o["status"] == "COMPLETED"]
                cdrs, _, _ = emsp.pull_all(endpoints["cdrs"], token_c, 1)
                return mine, [c for c in cdrs if c.get("auth_id") == token["auth_id"]]

            deadline = time.time() + 30
            sessions, cdrs = finished()
            while (not sessions or not cdrs) and time.time() < deadline:
                time.sleep(0.5)
                sessions, cdrs = finished()
            [done] = sessions
            assert validate.session_211(done) == [], (validate.session_211(done), done)
            assert done["id"] == active["id"] and instant(done["end_datetime"]) == start + datetime.timedelta(minutes=20), done
            assert Decimal(str(done["kwh"])) == Decimal(12) and Decimal(str(done["total_cost"])) == Decimal("4.80"), done
            [cdr] = cdrs
            assert validate.cdr_211(cdr) == [], (validate.cdr_211(cdr), cdr)
            assert Decimal(str(cdr["total_cost"])) == Decimal("4.80") and Decimal(str(cdr["total_energy"])) == Decimal(12), cdr
            assert instant(cdr["start_date_time"]) == start and instant(cdr["stop_date_time"]) == start + datetime.timedelta(minutes=20), cdr
            assert cdr["location"]["id"] == loc and [e["uid"] for e in cdr["location"]["evses"]] == [evse_uid], cdr
            assert [t["id"] for t in cdr["tariffs"]] == [tariff], cdr
            assert sum(Decimal(str(d["volume"])) for p in cdr["charging_periods"] for d in p["dimensions"] if d["type"] == "ENERGY") == Decimal(12), cdr
            # The same session and CDR were pushed in 2.1.1's shapes (PUT, then POST), checked by the eMSP's validators.
            wait_until(lambda: None if any(p["module"] == "cdrs" for p in emsp.received()) else "no CDR pushed yet", timeout=40)
            pushed = [p for p in emsp.received() if p["module"] in ("sessions", "cdrs")]
            assert pushed and all(p["accepted"] and not p["problems"] for p in pushed), pushed
            assert emsp.stored_session("NL", "VOL", done["id"]) == done, (emsp.stored_session("NL", "VOL", done["id"]), done)
            assert emsp.stored_cdr("NL", "VOL", cdr["id"]) == cdr, (emsp.stored_cdr("NL", "VOL", cdr["id"]), cdr)
            # A 2.1.1 eMSP is asked in real time too (its tokens interface, the token raw), for a NEVER token of its own.
            never_uid = "04" + uuid.uuid4().hex[:12].upper()
            never = token_211(emsp, never_uid, whitelist="NEVER")
            answered(emsp.call("PUT", emsp.token_url(endpoints["tokens"], never_uid), token_c, never))
            assert run(authorize()) == "Accepted"  # uid's own token; then the NEVER one:
            emsp.answer_authorize(never_uid, "ALLOWED")

            async def authorize_never():
                async with connected(server, sid) as cp:
                    await cp.call(call16.BootNotification(charge_point_model="Roaming", charge_point_vendor="Interop"))
                    return (await cp.call(call16.Authorize(id_tag=never_uid))).id_tag_info["status"]

            assert run(authorize_never()) == "Accepted"
            asks = [r for r in emsp.authorize_requests if r["uid"] == never_uid]
            assert len(asks) == 1 and asks[0]["body"]["location_id"] == loc, asks
            authorize_calls = [c for c in emsp.calls if c[1].endswith("/authorize") or "/authorize?" in c[1]]
            assert authorize_calls and all(header(c[2], "Authorization").startswith("Token ") and header(c[2], "Authorization") != "Token " for c in authorize_calls)
            # Another 2.1.1 party sees none of it.
            stranger = EMSP(version="2.1.1", party_id="V1T", name="Another 2.1.1 eMSP")
            try:
                _, _, stranger_c, stranger_endpoints = register_211(server, stranger, "another 2.1.1 eMSP")
                theirs, _, _ = stranger.pull_all(stranger_endpoints["cdrs"], stranger_c, 10)
                assert all(c.get("auth_id") != token["auth_id"] for c in theirs), theirs
                answered(stranger.call("GET", url.replace(endpoints["tokens"], stranger_endpoints["tokens"]), stranger_c), code=2000, http=404)
            finally:
                stranger.close()
        finally:
            emsp.close()


def test_211_commands_run_on_the_station_and_answer_in_211_shapes(server):
    """START_SESSION, STOP_SESSION, RESERVE_NOW (an int reservation id) and UNLOCK_CONNECTOR from a 2.1.1 eMSP: each
    becomes the station's OCPP 1.6 call, the answer is 2.1.1's CommandResponse (`result` alone), and the result POSTed
    to response_url is that same object; CANCEL_RESERVATION, which 2.1.1 lacks, is not a command here."""
    from charge_points import Station16
    from ocpp.routing import on
    from ocpp.v16 import call_result as r16
    from test_ocpi_commands import Results  # the eMSP's response_url

    class StuckLatch(Station16):
        """Its connector does not unlock: 2.2.1's FAILED, which 2.1.1 can only call REJECTED."""
        @on("UnlockConnector")
        def unlock(self, **kw):
            self._got("UnlockConnector", kw)
            return r16.UnlockConnector(status="UnlockFailed")

    emsp, results = EMSP(version="2.1.1", party_id="V1K", name="Commanding 2.1.1 eMSP"), Results()
    tag = uuid.uuid4().hex[:6].upper()
    tariff, loc, sid = f"T-{tag}21C", f"LOC-{tag}21C", f"C211-{tag}"
    with dumping(server, emsp):
        try:
            _, _, token_c, endpoints = register_211(server, emsp, "2.1.1 commanding eMSP")
            admin_ok(server, "PUT", f"/tariffs/{tariff}", tariff_body(tariff, price="0.40"))
            admin_ok(server, "PUT", f"/locations/{loc}", site(loc))
            admin_ok(server, "POST", "/stations", {"id": sid, "securityProfile": 0})
            admin_ok(server, "PUT", f"/stations/{sid}/evses/1", {"location_id": loc, "evse_id": f"NL*VOL*E{tag}21C*1", "connectors": [connector(tariff)]})
            status, _, body = emsp.call("GET", f"{endpoints['locations']}/{loc}", token_c)
            evse_uid = envelope_ok(status, body, "location")["evses"][0]["uid"]
            uid = "04" + uuid.uuid4().hex[:12].upper()
            token = token_211(emsp, uid)
            commands = endpoints["commands"].rstrip("/")

            def send(name, body):
                return emsp.call("POST", f"{commands}/{name}", token_c, body)

            async def scenario():
                async with connected(server, sid) as cp:
                    assert isinstance(cp, Station16)
                    await cp.call(call16.BootNotification(charge_point_model="Roaming", charge_point_vendor="Interop"))
                    await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
                    out = {}
                    out["start"] = await asyncio.to_thread(send, "START_SESSION", {
                        "response_url": results.url("start"), "token": token, "location_id": loc, "evse_uid": evse_uid})
                    out["start_result"] = await asyncio.to_thread(results.wait, "start")
                    out["unlock"] = await asyncio.to_thread(send, "UNLOCK_CONNECTOR", {
                        "response_url": results.url("unlock"), "location_id": loc, "evse_uid": evse_uid, "connector_id": "1"})
                    out["unlock_result"] = await asyncio.to_thread(results.wait, "unlock")
                    expiry = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=30)).replace(microsecond=0)
                    out["reserve"] = await asyncio.to_thread(send, "RESERVE_NOW", {
                        "response_url": results.url("reserve"), "token": token, "expiry_date": expiry.isoformat().replace("+00:00", "Z"),
                        "reservation_id": 4711, "location_id": loc, "evse_uid": evse_uid})
                    out["reserve_result"] = await asyncio.to_thread(results.wait, "reserve")
                    out["reserve_text_id"] = await asyncio.to_thread(send, "RESERVE_NOW", {
                        "response_url": results.url("reserve2"), "token": token, "expiry_date": expiry.isoformat().replace("+00:00", "Z"),
                        "reservation_id": "R-1", "location_id": loc, "evse_uid": evse_uid})
                    out["stop_unknown"] = await asyncio.to_thread(send, "STOP_SESSION", {"response_url": results.url("stop0"), "session_id": "NO-SUCH"})
                    out["received"] = list(cp.received)
                async with connected(server, sid, cls=StuckLatch) as cp:
                    await cp.call(call16.BootNotification(charge_point_model="Roaming", charge_point_vendor="Interop"))
                    out["stuck"] = await asyncio.to_thread(send, "UNLOCK_CONNECTOR", {
                        "response_url": results.url("stuck"), "location_id": loc, "evse_uid": evse_uid, "connector_id": "1"})
                    out["stuck_result"] = await asyncio.to_thread(results.wait, "stuck")
                # A whole session started by START_SESSION: 12 kWh at 0.40 EUR/kWh, its CDR pushed in 2.1.1's shape.
                async with connected(server, sid) as cp:
                    await cp.call(call16.BootNotification(charge_point_model="Roaming", charge_point_vendor="Interop"))
                    out["start2"] = await asyncio.to_thread(send, "START_SESSION", {
                        "response_url": results.url("start2"), "token": token, "location_id": loc, "evse_uid": evse_uid})
                    await asyncio.to_thread(results.wait, "start2")
                    begin = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=30)
                    stamp = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
                    started = await cp.call(call16.StartTransaction(connector_id=1, id_tag=uid, meter_start=1000, timestamp=stamp(begin)))
                    await cp.call(call16.StopTransaction(transaction_id=started.transaction_id, meter_stop=13000,
                                                         timestamp=stamp(begin + datetime.timedelta(minutes=20))))
                    out["tx"] = started.transaction_id
                return out

            out = run(scenario())
            for name in ("start", "unlock", "reserve"):
                assert answered(out[name])["data"] == {"result": "ACCEPTED"}, out[name]
                [(_, posted, _, _)] = out[f"{name}_result"]
                assert posted == {"result": "ACCEPTED"}, (name, posted)
            assert answered(out["stuck"])["data"] == {"result": "ACCEPTED"}, out["stuck"]
            [(_, posted, _, _)] = out["stuck_result"]
            assert posted == {"result": "REJECTED"}, posted
            actions = [a for a, _ in out["received"]]
            assert "RemoteStartTransaction" in actions and "UnlockConnector" in actions and "ReserveNow" in actions, actions
            remote = next(kw for a, kw in out["received"] if a == "RemoteStartTransaction")
            assert remote["id_tag"] == uid, remote
            reserve = next(kw for a, kw in out["received"] if a == "ReserveNow")
            assert reserve["id_tag"] == uid and reserve["connector_id"] == 1, reserve
            # 2.1.1's reservation id is an int; a text one is refused naming the field.
            status, _, refused = out["reserve_text_id"]
            assert refused["status_code"] == 2001 and "reservation_id" in refused["status_message"], refused
            assert answered(out["stop_unknown"])["data"] == {"result": "UNKNOWN_SESSION"}, out["stop_unknown"]
            # The token that came with START_SESSION is the eMSP's, as 2.1.1 shows it.
            stored = answered(emsp.call("GET", emsp.token_url(endpoints["tokens"], uid), token_c))["data"]
            assert stored["auth_id"] == token["auth_id"] and validate.token_211(stored) == [], stored
            status, _, body = send("CANCEL_RESERVATION", {"response_url": results.url("cancel"), "reservation_id": 4711})
            assert status == 404 and body["status_code"] == 2000, body
            # The commanded session's CDR, pushed: AUTH_REQUEST (2.1.1 has no COMMAND), its total the tariff's, excluding VAT.
            session_id = str(out["tx"])
            wait_until(lambda: None if emsp.stored_cdr("NL", "VOL", session_id) else "no CDR pushed yet", timeout=40)
            cdr = emsp.stored_cdr("NL", "VOL", session_id)
            assert validate.cdr_211(cdr) == [], (validate.cdr_211(cdr), cdr)
            assert cdr["auth_method"] == "AUTH_REQUEST" and cdr["auth_id"] == token["auth_id"], cdr
            assert Decimal(str(cdr["total_cost"])) == Decimal("4.80") and Decimal(str(cdr["total_energy"])) == Decimal(12), cdr
            session = emsp.stored_session("NL", "VOL", session_id)
            assert session["status"] == "COMPLETED" and validate.session_211(session) == [], session
            pushed = [p for p in emsp.received() if p["module"] in ("sessions", "cdrs")]
            assert pushed and all(p["accepted"] and not p["problems"] for p in pushed), pushed
        finally:
            emsp.close()
            results.httpd.shutdown()
