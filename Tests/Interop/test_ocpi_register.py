"""OCPI 2.2.1 credentials, the outbound direction: Voltaic registers WITH a partner. The independent eMSP
(Tests/Interop/emsp) issues a token A; the admin gives it to Voltaic with the eMSP's versions URL
(`POST /api/v1/ocpi/partners/{id}/register`); Voltaic reads the eMSP's versions and details with token A, POSTs its
credentials (token B) to the eMSP's credentials endpoint, and keeps the eMSP's token C. Then the eMSP calls Voltaic
with B and Voltaic calls the eMSP with C. Then the ways it fails: a partner already registered, an eMSP down or
silent, one that refuses, one that does not know the token, malformed bodies, no common version, no credentials
endpoint.

The tests share one server of their own, with a fast push backoff."""
import base64
import contextlib
import json
import socket
import time
import uuid

import pytest
from emsp.party import EMSP
from test_ocpi import admin_ok, register, site, tariff_body
from test_ocpi_push import CPO, check_requests, start_server, wait_until


@pytest.fixture(scope="module")
def voltaic():
    server = start_server(attempts=5)
    yield server
    server.destroy()


@contextlib.contextmanager
def dumping(server, *emsps):
    """On a failure, prints the server's log tail and what each eMSP saw (pytest shows it with the failure)."""
    try:
        yield
    except BaseException:
        print(f"---- voltaic serve log tail ({server.log_path}) ----")
        print(server.tail(12000))
        for emsp in emsps:
            print(f"---- eMSP {emsp.party_id}: requests (method, path, token presented) ----")
            for method, path, headers, _ in emsp.calls[-40:]:
                print(method, path, EMSP.presented(header(headers, "Authorization")))
            print(f"---- eMSP {emsp.party_id}: registrations ----")
            for r in emsp.registrations:
                print(json.dumps({k: v for k, v in r.items() if k != "fetched"}, default=str))
                for f in r["fetched"]:
                    print("   fetched", f["url"], f["status"])
        raise


def header(headers, name):
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def b64(token):
    return base64.b64encode(token.encode()).decode()


def new_partner(server, name):
    partner = admin_ok(server, "POST", "/ocpi/partners", {"name": name}, expect=(201,))
    assert partner["state"] == "pending", partner
    return partner


def register_outbound(server, partner_id, versions_url, token):
    """The admin's call: (HTTP status, body), and the seconds it took."""
    started = time.time()
    status, body = server.api("POST", f"/ocpi/partners/{partner_id}/register", {"versionsUrl": versions_url, "token": token})
    return status, body, time.time() - started


def handshake_calls(emsp, since=0):
    """What the eMSP was asked outside its push receivers since `since`: (method, path, Authorization header)."""
    return [(m, p.split("?")[0], header(h, "Authorization")) for m, p, h, _ in emsp.calls[since:] if not p.startswith(EMSP.PUSH_PREFIX)]


def problem_text(body):
    assert isinstance(body, dict) and body.get("title"), body
    return f"{body.get('title')} {body.get('detail') or ''}"


def state_of(server, partner_id):
    return admin_ok(server, "GET", f"/ocpi/partners/{partner_id}", expect=(200,))["state"]


def expected_roles(emsp):
    return [{"role": "EMSP", "countryCode": emsp.country_code, "partyId": emsp.party_id, "name": emsp.name}]


def endpoint_set(endpoints):
    return sorted((e["identifier"], e.get("role"), e["url"]) for e in endpoints)


def successful(emsp):
    return [r for r in emsp.registrations if r["status"] == 200 and r["status_code"] == 1000]


# --------------------------------------------------------------------------------------------------------------


def test_outbound_handshake_then_b_and_c_are_used_and_a_is_void(voltaic):
    emsp = EMSP(party_id="RG1", name="Register eMSP")
    with dumping(voltaic, emsp):
        try:
            tag = uuid.uuid4().hex[:6].upper()
            loc = f"LOC-{tag}"
            admin_ok(voltaic, "PUT", f"/locations/{loc}", site(loc))
            partner = new_partner(voltaic, "outbound eMSP")
            pid, our_token_a = partner["id"], partner["tokenA"]
            token_a = emsp.issue_token_a()
            since = len(emsp.calls)

            status, view, _ = register_outbound(voltaic, pid, emsp.versions_url, token_a)
            assert status == 200, (status, view)

            # The eMSP accepted one registration, and learnt Voltaic's side of it.
            (done,) = successful(emsp)
            assert len(emsp.registrations) == 1, emsp.registrations
            token_b, token_c = done["body"]["token"], done["token_c"]
            assert isinstance(token_b, str) and 1 <= len(token_b) <= 64 and all(0x21 <= ord(ch) <= 0x7E for ch in token_b), token_b
            assert token_b not in (token_a, our_token_a, token_c)
            assert done["body"]["url"] == partner["ourVersionsUrl"], done["body"]
            roles = done["body"]["roles"]
            assert len(roles) == 1, roles
            assert {k: roles[0].get(k) for k in ("role", "party_id", "country_code")} == {"role": "CPO", "party_id": "VOL", "country_code": "NL"}, roles
            assert roles[0]["business_details"]["name"] == "Voltaic", roles

            # The API's view: registered with the eMSP's version, roles, endpoints, and never a token.
            assert view["id"] == pid and view["state"] == "registered" and view["version"] == "2.2.1", view
            assert view["versionsUrl"] == emsp.versions_url, view
            assert view["roles"] == expected_roles(emsp), view
            assert view["endpoints"] and endpoint_set(view["endpoints"]) == endpoint_set(emsp.endpoints()), view
            assert "tokenA" not in view and "token" not in view, view
            for secret in (token_a, token_b, token_c, our_token_a):
                assert secret not in json.dumps(view), "the partner view shows a token"

            # What the eMSP saw, in order: GET versions, GET details, POST credentials, each with its token A in
            # Base64 (2.2.1), and nothing else of the handshake.
            assert handshake_calls(emsp, since) == [
                ("GET", "/ocpi/versions", "Token " + b64(token_a)),
                ("GET", "/ocpi/2.2.1", "Token " + b64(token_a)),
                ("POST", "/ocpi/2.2.1/credentials", "Token " + b64(token_a)),
            ], handshake_calls(emsp, since)
            post = [h for m, p, h, _ in emsp.calls[since:] if m == "POST" and p.startswith("/ocpi/2.2.1/credentials")][0]
            assert (header(post, "Content-Type") or "").startswith("application/json"), post
            assert header(post, "X-Request-ID") and header(post, "X-Correlation-ID"), post

            # While Voltaic waited for the answer, the eMSP read Voltaic's versions and 2.2.1 details with B.
            fetched = done["fetched"]
            assert [(f["url"], f["status"]) for f in fetched] == [
                (partner["ourVersionsUrl"], 200),
                (next(v["url"] for v in fetched[0]["body"]["data"] if v["version"] == "2.2.1"), 200),
            ], fetched
            assert fetched[0]["body"]["status_code"] == 1000 and fetched[1]["body"]["status_code"] == 1000, fetched
            details = fetched[1]["body"]["data"]
            assert details["version"] == "2.2.1", details
            assert emsp.cpo_token == token_b and emsp.cpo_versions_url == partner["ourVersionsUrl"]
            assert ("credentials", "SENDER") in emsp.cpo_endpoints and ("locations", "SENDER") in emsp.cpo_endpoints, emsp.cpo_endpoints

            # B opens Voltaic's modules: the eMSP pulls the locations with it.
            status, _, body = emsp.call("GET", emsp.cpo_endpoints[("locations", "SENDER")], token_b)
            assert status == 200 and body["status_code"] == 1000, (status, body)
            assert loc in [x["id"] for x in body["data"]], body
            # A second POST of credentials with B is refused: the partner is registered (only PUT updates).
            status, _, body = emsp.call("POST", emsp.cpo_endpoints[("credentials", "SENDER")], token_b, emsp.credentials(token="emsp-B-again"))
            assert status == 405, (status, body)
            # The token A Voltaic issued for this partner, never used, opens nothing now.
            assert emsp.call("GET", partner["ourVersionsUrl"], our_token_a)[0] == 401
            assert emsp.call("GET", emsp.cpo_endpoints[("locations", "SENDER")], our_token_a)[0] == 401

            # Voltaic pushes to the eMSP with C (Base64).
            tariff = f"T-{tag}"
            admin_ok(voltaic, "PUT", f"/tariffs/{tariff}", tariff_body(tariff))
            wait_until(lambda: None if emsp.stored_tariff(*CPO, tariff) is not None else "tariff not pushed yet")
            received = emsp.received()
            of_tariff = [p for p in received if p["module"] == "tariffs" and (p["object_id"] or "").upper() == tariff.upper()]
            assert of_tariff and of_tariff[-1]["accepted"], of_tariff
            check_requests(emsp, received)
            assert {p["token"] for p in received} == {token_c}, [(p["path"], p["token"]) for p in received]

            # Token A is void at the eMSP: versions, details and a second POST are 401.
            assert emsp.call("GET", emsp.versions_url, token_a)[0] == 401
            assert emsp.call("GET", emsp.base + "/2.2.1", token_a)[0] == 401
            assert emsp.call("POST", emsp.base + "/2.2.1/credentials", token_a, {"token": "x", "url": "http://x/", "roles": []})[0] == 401
            assert emsp.registrations[-1]["authorization"] == "void"

            # The admin API shows the partner registered, alone and in the list.
            shown = admin_ok(voltaic, "GET", f"/ocpi/partners/{pid}", expect=(200,))
            assert shown["state"] == "registered" and shown["version"] == "2.2.1" and shown["roles"] == expected_roles(emsp), shown
            assert endpoint_set(shown["endpoints"]) == endpoint_set(emsp.endpoints()), shown
            listed = admin_ok(voltaic, "GET", "/ocpi/partners", expect=(200,))["items"]
            assert [p["state"] for p in listed if p["id"] == pid] == ["registered"], listed
        finally:
            emsp.close()


def test_registering_a_registered_partner_is_409(voltaic):
    emsp, inbound = EMSP(party_id="RG2"), EMSP(party_id="RG3")
    with dumping(voltaic, emsp, inbound):
        try:
            partner = new_partner(voltaic, "registered twice")
            status, view, _ = register_outbound(voltaic, partner["id"], emsp.versions_url, emsp.issue_token_a())
            assert status == 200 and view["state"] == "registered", (status, view)
            since = len(emsp.calls)
            status, body, _ = register_outbound(voltaic, partner["id"], emsp.versions_url, emsp.issue_token_a())
            assert status == 409, (status, body)
            problem_text(body)
            # The eMSP was not asked to register again (that would rotate its tokens).
            assert not [c for c in handshake_calls(emsp, since) if c[0] == "POST"], handshake_calls(emsp, since)
            assert len(emsp.registrations) == 1
            assert state_of(voltaic, partner["id"]) == "registered"

            # A partner that registered the other way (inbound) is not pending either.
            other, _, _, _ = register(voltaic, inbound, name="registered inbound")
            status, body, _ = register_outbound(voltaic, other["id"], inbound.versions_url, inbound.issue_token_a())
            assert status == 409, (status, body)
            assert inbound.registrations == [], inbound.registrations
            assert state_of(voltaic, other["id"]) == "registered"

            # No such partner.
            status, body, _ = register_outbound(voltaic, 987654321, emsp.versions_url, emsp.issue_token_a())
            assert status == 404, (status, body)
        finally:
            emsp.close()
            inbound.close()


def test_emsp_down_or_silent_is_502_then_registers_once_up(voltaic):
    emsp = EMSP(party_id="RG4")
    with dumping(voltaic, emsp):
        try:
            partner = new_partner(voltaic, "down eMSP")
            token_a = emsp.issue_token_a()
            emsp.go_down()
            status, body, took = register_outbound(voltaic, partner["id"], emsp.versions_url, token_a)
            assert status == 502, (status, body)
            assert "versions" in problem_text(body), body
            assert took < 10, took
            assert state_of(voltaic, partner["id"]) == "pending"

            # Accepts the connection and never answers: 502 within the partner timeout (3 s here, both tries).
            silent = socket.socket()
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            try:
                url = f"http://127.0.0.1:{silent.getsockname()[1]}/ocpi/versions"
                status, body, took = register_outbound(voltaic, partner["id"], url, token_a)
                assert status == 502, (status, body)
                assert "versions" in problem_text(body), body
                assert took < 10, took
            finally:
                silent.close()
            assert state_of(voltaic, partner["id"]) == "pending"

            # The eMSP is up again on the same port: the admin tries again and it works.
            emsp.come_up()
            status, view, _ = register_outbound(voltaic, partner["id"], emsp.versions_url, token_a)
            assert status == 200 and view["state"] == "registered" and view["roles"] == expected_roles(emsp), (status, view)
            assert len(successful(emsp)) == 1 and len(emsp.registrations) == 1, emsp.registrations
        finally:
            emsp.close()


def test_emsp_refusing_the_credentials_is_502_and_the_admin_may_retry(voltaic):
    emsp = EMSP(party_id="RG5")
    with dumping(voltaic, emsp):
        try:
            partner = new_partner(voltaic, "refusing eMSP")
            token_a = emsp.issue_token_a()
            emsp.misbehave.add("refuse_registration")
            since = len(emsp.calls)
            status, body, _ = register_outbound(voltaic, partner["id"], emsp.versions_url, token_a)
            assert status == 502, (status, body)
            assert "credentials" in problem_text(body), body
            assert [c[:2] for c in handshake_calls(emsp, since)] == [
                ("GET", "/ocpi/versions"), ("GET", "/ocpi/2.2.1"), ("POST", "/ocpi/2.2.1/credentials"),
            ], handshake_calls(emsp, since)
            assert [(r["status"], r["status_code"]) for r in emsp.registrations] == [(400, 2001)], emsp.registrations
            refused_b = emsp.registrations[0]["body"]["token"]
            assert state_of(voltaic, partner["id"]) == "pending"

            emsp.misbehave.discard("refuse_registration")
            status, view, _ = register_outbound(voltaic, partner["id"], emsp.versions_url, token_a)
            assert status == 200 and view["state"] == "registered", (status, view)
            (done,) = successful(emsp)
            token_b = done["body"]["token"]
            assert token_b != refused_b, "the second attempt reused the first attempt's token B"
            # The token B of the refused attempt opens nothing; the one that registered does.
            assert emsp.call("GET", partner["ourVersionsUrl"], refused_b)[0] == 401
            assert emsp.call("GET", emsp.cpo_endpoints[("locations", "SENDER")], refused_b)[0] == 401
            assert emsp.call("GET", emsp.cpo_endpoints[("locations", "SENDER")], token_b)[0] == 200
        finally:
            emsp.close()


def test_a_token_a_the_emsp_does_not_know_is_502(voltaic):
    emsp = EMSP(party_id="RG6")
    with dumping(voltaic, emsp):
        try:
            partner = new_partner(voltaic, "wrong token A")
            token_a = emsp.issue_token_a()
            wrong = "not-" + token_a
            since = len(emsp.calls)
            status, body, _ = register_outbound(voltaic, partner["id"], emsp.versions_url, wrong)
            assert status == 502, (status, body)
            assert "versions" in problem_text(body), body
            # Base64 first (2.2.1), raw after the 401 (2.1.1); both refused; nothing further.
            assert handshake_calls(emsp, since) == [
                ("GET", "/ocpi/versions", "Token " + b64(wrong)),
                ("GET", "/ocpi/versions", "Token " + wrong),
            ], handshake_calls(emsp, since)
            assert state_of(voltaic, partner["id"]) == "pending"

            status, view, _ = register_outbound(voltaic, partner["id"], emsp.versions_url, token_a)
            assert status == 200 and view["state"] == "registered", (status, view)
        finally:
            emsp.close()


def test_no_common_version_or_no_credentials_endpoint_is_422(voltaic):
    emsp = EMSP(party_id="RG7")
    with dumping(voltaic, emsp):
        try:
            partner = new_partner(voltaic, "unusable eMSP")
            token_a = emsp.issue_token_a()
            for misbehave, word in (("only_211", "version"), ("no_credentials", "credentials")):
                emsp.misbehave = {misbehave}
                since = len(emsp.calls)
                status, body, _ = register_outbound(voltaic, partner["id"], emsp.versions_url, token_a)
                assert status == 422, (misbehave, status, body)
                assert word in problem_text(body).lower(), (misbehave, body)
                # Voltaic did not POST its credentials to a partner it cannot use.
                calls = handshake_calls(emsp, since)
                assert calls and not [c for c in calls if c[0] == "POST"], (misbehave, calls)
                assert state_of(voltaic, partner["id"]) == "pending"
            assert emsp.registrations == []
            emsp.misbehave = set()
            status, view, _ = register_outbound(voltaic, partner["id"], emsp.versions_url, token_a)
            assert status == 200 and view["state"] == "registered", (status, view)
        finally:
            emsp.close()


def test_malformed_bodies_are_422_naming_the_field(voltaic):
    emsp = EMSP(party_id="RG8")
    with dumping(voltaic, emsp):
        try:
            partner = new_partner(voltaic, "malformed bodies")
            token_a = emsp.issue_token_a()
            cases = [
                ("versionsUrl", "not a url", token_a),
                ("versionsUrl", "ftp://127.0.0.1/ocpi/versions", token_a),
                ("versionsUrl", "http://", token_a),
                ("versionsUrl", "", token_a),
                ("token", emsp.versions_url, ""),
                ("token", emsp.versions_url, "has space"),
                ("token", emsp.versions_url, "x" * 65),
                ("token", emsp.versions_url, "t\u00f6ken"),
                ("token", emsp.versions_url, "tab\tinside"),
            ]
            for field, url, token in cases:
                status, body, _ = register_outbound(voltaic, partner["id"], url, token)
                assert status == 422, (field, url, token, status, body)
                assert field in problem_text(body), (field, body)
            assert emsp.calls == [], emsp.calls
            assert state_of(voltaic, partner["id"]) == "pending"
            # 64 printable characters are a token.
            long_a = emsp.issue_token_a(("emsp-A-" + uuid.uuid4().hex * 2)[:64])
            assert len(long_a) == 64
            status, view, _ = register_outbound(voltaic, partner["id"], emsp.versions_url, long_a)
            assert status == 200 and view["state"] == "registered", (status, view)
        finally:
            emsp.close()


def test_partners_that_strain_implementations_are_registered_with(voltaic):
    """An eMSP taking raw tokens only (Voltaic retries raw after a 401), and one whose versions URL redirects and
    whose details are a list of one object."""
    raw, odd = EMSP(party_id="RG9"), EMSP(party_id="RGA")
    raw.misbehave.add("raw_only")
    odd.misbehave |= {"redirect", "details_as_list"}
    with dumping(voltaic, raw, odd):
        try:
            partner = new_partner(voltaic, "raw only eMSP")
            token_a = raw.issue_token_a()
            status, view, _ = register_outbound(voltaic, partner["id"], raw.versions_url, token_a)
            assert status == 200 and view["state"] == "registered", (status, view)
            (done,) = successful(raw)
            assert done["authorization"] == "raw", done
            token_c = done["token_c"]
            # Pushes reach it with C, raw.
            tariff = f"T-RAW-{uuid.uuid4().hex[:6].upper()}"
            admin_ok(voltaic, "PUT", f"/tariffs/{tariff}", tariff_body(tariff))
            wait_until(lambda: None if raw.stored_tariff(*CPO, tariff) is not None else "tariff not pushed yet")
            accepted = [p for p in raw.received() if p["accepted"]]
            assert accepted and {(p["token"], p["authorization"]) for p in accepted} == {(token_c, "raw")}, accepted

            partner = new_partner(voltaic, "redirecting eMSP")
            status, view, _ = register_outbound(voltaic, partner["id"], odd.versions_url, odd.issue_token_a())
            assert status == 200 and view["state"] == "registered", (status, view)
            assert endpoint_set(view["endpoints"]) == endpoint_set(odd.endpoints()), view
            assert len(successful(odd)) == 1
        finally:
            raw.close()
            odd.close()
