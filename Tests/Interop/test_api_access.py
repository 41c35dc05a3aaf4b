"""API keys from the CLI against a live server: the secret is shown once and stored only as its digest,
roles are enforced, revocation is immediate, and the audit log names who did what."""
import hashlib

from test_cli import voltaic


def add_key(server, name, role):
    out = voltaic(server, "key", "add", name, "--role", role).stdout
    secret = out.strip().splitlines()[-1]
    key_id = int(out.split()[2])
    return key_id, secret


def test_keys_from_the_cli(server):
    viewer_id, viewer = add_key(server, "cli-viewer", "viewer")
    _, operator = add_key(server, "cli-operator", "operator")
    assert viewer.startswith("vk_") and len(viewer) == 67
    # Only the SHA-256 digest is stored, never the secret.
    rows = server.sql(f"SELECT encode(secret_sha256, 'hex') FROM api_keys WHERE id = {viewer_id}")
    assert rows == [[hashlib.sha256(viewer.encode()).hexdigest()]]
    assert not server.sql(f"SELECT 1 FROM api_keys WHERE encode(secret_sha256, 'escape') LIKE '%{viewer[3:20]}%'")
    listing = voltaic(server, "key", "list").stdout
    assert "cli-viewer" in listing and "viewer" in listing and viewer not in listing

    assert server.api("GET", "/stations", token=None)[0] == 401
    assert server.api("GET", "/stations", token="vk_" + "0" * 64)[0] == 401
    assert server.api("GET", "/stations", token=viewer)[0] == 200
    assert server.api("POST", "/tokens", {"value": "CLI-KEY-T"}, token=viewer)[0] == 403
    assert server.api("POST", "/tokens", {"value": "CLI-KEY-T"}, token=operator)[0] == 201
    assert server.api("POST", "/stations", {"id": "CLI-KEY-S"}, token=operator)[0] == 403
    assert server.api("GET", "/keys", token=operator)[0] == 403
    assert server.api("GET", "/keys")[0] == 200

    assert "revoked" in voltaic(server, "key", "revoke", str(viewer_id)).stdout
    assert server.api("GET", "/stations", token=viewer)[0] == 401
    assert voltaic(server, "key", "revoke", "999999", check=False).returncode != 0
    assert voltaic(server, "key", "add", "x", "--role", "root", check=False).returncode != 0

    audit = server.api("GET", "/audit?limit=1000")[1]["items"]
    assert any(e["actor"] == "cli-viewer" and e["status"] == 403 and e["method"] == "POST" for e in audit)
    assert any(e["actor"] == "cli-operator" and e["status"] == 201 and e["target"] == "CLI-KEY-T" for e in audit)
    assert any(e["actor"] == "cli-operator" and e["status"] == 403 and e["action"] == "POST /api/v1/stations" for e in audit)
