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
                                     ["key"], ["key", "add"], ["key", "list"], ["key", "revoke"], ["receipt"], ["receipt", "verify"], ["tariff"], ["tariff", "price"],
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
