"""The `voltaic` CLI against the database of a running server (it shares the embedded cluster, and leaves it running)."""
import os
import subprocess

import pytest
from voltaic_server import BINARY, ROOT


def voltaic(server, *args, check=True):
    env = dict(os.environ, VOLTAIC_MIGRATIONS_DIR=os.path.join(ROOT, "Migrations"), VOLTAIC_DATA_DIR=server.data_dir)
    r = subprocess.run([BINARY, *args], capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.mark.parametrize("command", [[], ["serve"], ["migrate"], ["station"], ["station", "add"], ["station", "list"], ["station", "remove"],
                                     ["token"], ["token", "add"], ["token", "list"], ["token", "block"],
                                     ["key"], ["key", "add"], ["key", "list"], ["key", "revoke"], ["receipt"], ["receipt", "verify"], ["tariff"], ["tariff", "price"], ["tariff", "put"], ["tariff", "list"], ["tariff", "delete"],
                                     ["location"], ["location", "put"], ["location", "list"], ["location", "place-evse"],
                                     ["partner"], ["partner", "add"], ["partner", "list"], ["partner", "suspend"], ["partner", "resume"], ["partner", "remove"],
                                     ["bench"], ["bench", "merkle"]])
def test_every_subcommand_has_help(command):
    r = subprocess.run([BINARY, *command, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "USAGE" in r.stdout.upper()


def test_station_and_token_administration(server):
    added = voltaic(server, "station", "add", "CLI-1").stdout
    assert "Added station CLI-1, security profile 1" in added
    generated = added.split("Password (shown only this once): ")[1].strip()
    assert 16 <= len(generated) <= 40
    assert "Basic auth" in voltaic(server, "station", "add", "CLI-2", "--password", "a-long-enough-password").stdout
    assert "security profile 0" in voltaic(server, "station", "add", "CLI-3", "--no-password").stdout
    assert voltaic(server, "station", "add", "CLI-1", check=False).returncode != 0
    for bad, field in [(["bad id"], "identity"), (["CLI-4", "--password", "short"], "--password"),
                       (["CLI-4", "--password", "a-long-enough-password", "--no-password"], "--no-password")]:
        r = voltaic(server, "station", "add", *bad, check=False)
        assert r.returncode != 0 and field in r.stderr, r.stderr
    listing = {line.split()[0]: line.split() for line in voltaic(server, "station", "list").stdout.splitlines()[1:]}
    assert listing["CLI-1"][2] == "1" and listing["CLI-2"][2] == "1" and listing["CLI-3"][2] == "0"
    assert "CLI-4" not in listing
    assert server.api("GET", "/stations/CLI-2")[1]["station"]["hasPassword"] is True
    assert server.api("GET", "/stations/CLI-3")[1]["station"]["hasPassword"] is False

    voltaic(server, "token", "add", "CLI-TOKEN", "--expires", "2031-01-01T00:00:00Z", "--group", "FLEET")
    assert server.api("GET", "/tokens/CLI-TOKEN")[1]["groupId"] == "FLEET"
    assert "Blocked" in voltaic(server, "token", "block", "CLI-TOKEN").stdout
    assert "CLI-TOKEN" in voltaic(server, "token", "list").stdout
    assert server.api("GET", "/tokens/CLI-TOKEN")[1]["status"] == "Blocked"

    assert "Removed station CLI-1" in voltaic(server, "station", "remove", "CLI-1").stdout
    # Removed is decommissioned: gone from the station views (its transactions stay readable).
    assert server.api("GET", "/stations/CLI-1")[0] == 404
    assert "CLI-1" not in [s["station"]["id"] for s in server.api("GET", "/stations")[1]["items"]]

    status = voltaic(server, "migrate", "--status").stdout
    assert "0001" in status and "applied" in status
    assert "up to date" in voltaic(server, "migrate").stdout
    # The server's cluster is still up after the CLI is done with it.
    assert server.api("GET", "/stations")[0] == 200


def test_catalog_and_partners_from_the_cli(server, tmp_path):
    import json
    tariff = tmp_path / "tariff.json"
    tariff.write_text(json.dumps({"country_code": "NL", "party_id": "VOL", "id": "CLI-T", "currency": "EUR",
                                  "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "vat": 21, "step_size": 1}]}]}))
    assert "Tariff CLI-T: created" in voltaic(server, "tariff", "put", "--file", str(tariff)).stdout
    assert "Tariff CLI-T: unchanged" in voltaic(server, "tariff", "put", "--file", str(tariff)).stdout
    assert "CLI-T" in [t["id"] for t in json.loads(voltaic(server, "tariff", "list").stdout)]
    location = tmp_path / "location.json"
    location.write_text(json.dumps({"country_code": "NL", "party_id": "VOL", "id": "CLI-LOC", "publish": True, "address": "Dam 1", "city": "Amsterdam",
                                    "country": "NLD", "coordinates": {"latitude": "52.37302", "longitude": "4.89281"}, "time_zone": "Europe/Amsterdam"}))
    assert "Location CLI-LOC: created" in voltaic(server, "location", "put", "--file", str(location)).stdout
    voltaic(server, "station", "add", "CLI-EVSE", "--no-password")
    evse = tmp_path / "evse.json"
    evse.write_text(json.dumps({"location_id": "cli-loc", "evse_id": "NL*VOL*ECLI*1", "connectors": [
        {"id": 1, "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 230, "max_amperage": 32, "tariff_ids": ["CLI-T"]}]}))
    assert "evse cli-evse-1 of cli-evse at cli-loc: created" in voltaic(server, "location", "place-evse", "CLI-EVSE", "1", "--file", str(evse)).stdout.lower()
    row = [line.split() for line in voltaic(server, "location", "list").stdout.splitlines() if line.startswith("CLI-LOC")]
    assert row and row[0][1:3] == ["yes", "1"], row
    # The CLI writes through the catalog service: each change is an outbox event, as the API's are.
    assert server.sql("SELECT count(*) FROM outbox WHERE topic IN ('tariff.updated', 'location.updated', 'evse.updated') AND payload::text LIKE '%CLI-%'") == [["3"]]
    # A bad file: exit 2, the field named.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(location.read_text()), "coordinates": {"latitude": "52.3", "longitude": "4.89281"}}))
    r = voltaic(server, "location", "put", "--file", str(bad), check=False)
    assert r.returncode == 2 and "coordinates.latitude" in r.stderr, r.stderr
    evse.write_text(json.dumps({**json.loads(evse.read_text()), "location_id": "NOWHERE"}))
    r = voltaic(server, "location", "place-evse", "CLI-EVSE", "1", "--file", str(evse), check=False)
    assert r.returncode == 2 and "NOWHERE" in r.stderr, r.stderr
    # A tariff that connectors name cannot be deleted; one no connector names can.
    r = voltaic(server, "tariff", "delete", "cli-t", check=False)
    assert r.returncode == 2 and "named by connectors" in r.stderr, r.stderr
    tariff.write_text(tariff.read_text().replace("CLI-T", "CLI-T2"))
    voltaic(server, "tariff", "put", "--file", str(tariff))
    assert "Deleted tariff CLI-T2" in voltaic(server, "tariff", "delete", "cli-t2").stdout
    assert voltaic(server, "tariff", "delete", "CLI-T2", check=False).returncode == 2

    added = voltaic(server, "partner", "add", "CLI eMSP", "--public-url", "https://cpo.example/").stdout
    assert "Versions URL: https://cpo.example/ocpi/versions" in added
    token = added.split("Token A (shown only this once): ")[1].strip()
    assert len(token) == 43
    pid = added.split()[1]
    assert any(line.split()[:2] == [pid, "pending"] for line in voltaic(server, "partner", "list").stdout.splitlines())
    assert voltaic(server, "partner", "suspend", pid, check=False).returncode == 2, "a pending partner cannot be suspended"
    assert "Removed partner" in voltaic(server, "partner", "remove", pid).stdout
    assert not any(line.split()[:1] == [pid] for line in voltaic(server, "partner", "list").stdout.splitlines())
