"""OCPI 2.2.1 hubclientinfo, Voltaic the Receiver, against a real `voltaic serve`: a platform that registered with the
HUB role PUTs the connection status of parties behind it and reads it back; the admin API lists what each hub said;
a platform without the HUB role, a body naming another party than the URL, and a bad status are refused."""
import time

from emsp.party import EMSP
from test_ocpi import admin_ok, register


def stamp(seconds=0):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))


def info(cc, pid, status, role="CPO", seconds=0):
    return {"country_code": cc, "party_id": pid, "role": role, "status": status, "last_updated": stamp(seconds)}


def envelope(answer, http=200, code=1000):
    status, _, body = answer
    assert status == http and isinstance(body, dict) and body.get("status_code") == code, (status, body)
    return body


def test_a_hub_tells_the_status_of_its_parties(server):
    hub, emsp = EMSP(country_code="NL", party_id="HB1", name="Test hub", role="HUB"), EMSP(party_id="NHB", name="Not a hub")
    try:
        partner, _, token_c, endpoints = register(server, hub, "a hub")
        _, _, emsp_c, _ = register(server, emsp, "an eMSP, not a hub")
        url = endpoints[("hubclientinfo", "RECEIVER")].rstrip("/")

        first = info("DE", "ABC", "CONNECTED", role="EMSP")
        envelope(hub.call("PUT", f"{url}/DE/ABC", token_c, first))
        assert envelope(hub.call("GET", f"{url}/de/abc", token_c))["data"] == first
        later = info("DE", "ABC", "SUSPENDED", role="EMSP", seconds=5)
        envelope(hub.call("PUT", f"{url}/DE/ABC", token_c, later))
        envelope(hub.call("PUT", f"{url}/BE/XYZ", token_c, info("BE", "XYZ", "PLANNED")))
        assert envelope(hub.call("GET", f"{url}/DE/ABC", token_c))["data"] == later

        # Refused: another party than the URL, a status OCPI lacks, a platform that is no hub, a party never told.
        assert "party_id" in envelope(hub.call("PUT", f"{url}/DE/ABC", token_c, info("DE", "ABD", "OFFLINE")), code=2001)["status_message"]
        assert "status" in envelope(hub.call("PUT", f"{url}/DE/ABC", token_c, {**later, "status": "ASLEEP"}), code=2001)["status_message"]
        envelope(emsp.call("PUT", f"{url}/DE/ABC", emsp_c, info("DE", "ABC", "OFFLINE")), http=403, code=2000)
        envelope(emsp.call("GET", f"{url}/DE/ABC", emsp_c), http=403, code=2000)
        envelope(hub.call("GET", f"{url}/FR/NOP", token_c), http=404, code=2000)

        # The admin API: what this hub said, and nothing of the refused calls.
        listed = admin_ok(server, "GET", f"/ocpi/partners/{partner['id']}/clients")["items"]
        assert [(c["countryCode"], c["partyId"], c["role"], c["status"]) for c in listed] == [
            ("BE", "XYZ", "CPO", "PLANNED"), ("DE", "ABC", "EMSP", "SUSPENDED")], listed
        assert admin_ok(server, "GET", "/ocpi/partners/999999/clients", expect=(404,))
    finally:
        hub.close()
        emsp.close()
