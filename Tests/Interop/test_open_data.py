"""The open-data feed for map services: published locations without a token, cacheable, and off when asked."""
import time
import urllib.error
import urllib.request
import uuid

from emsp import validate
from test_ocpi import admin_ok, site
from voltaic_server import VoltaicServer


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def pull(server, limit=2):
    import json
    objects, url = [], f"{server.base_url}/ocpi/open/locations?limit={limit}"
    while url:
        status, headers, body = get(url)
        assert status == 200, (status, body)
        data = json.loads(body)
        assert data["status_code"] == 1000
        objects += data["data"]
        link = headers.get("link")
        url = link[1:link.index(">")] if link else None
    return objects


def test_published_locations_without_a_token_cacheable(server):
    tag = uuid.uuid4().hex[:6].upper()
    shown = [f"OPEN-{tag}-{i}" for i in range(3)]
    hidden = f"HIDDEN-{tag}"
    for loc in shown:
        admin_ok(server, "PUT", f"/locations/{loc}", site(loc))
    admin_ok(server, "PUT", f"/locations/{hidden}", site(hidden, publish=False))

    objects = pull(server)
    ids = {o["id"] for o in objects}
    assert set(shown) <= ids
    assert hidden not in ids
    problems = [p for o in objects for p in validate.location(o)]
    assert problems == []

    url = f"{server.base_url}/ocpi/open/locations?limit=100"
    status, headers, _ = get(url)
    assert status == 200
    etag, modified = headers["etag"], headers["last-modified"]
    assert etag.startswith('"') and modified.endswith("GMT")
    assert "max-age" in headers["cache-control"]
    # Unchanged: 304 with no body, by tag and by date.
    status, headers, body = get(url, {"If-None-Match": etag})
    assert (status, body) == (304, b"")
    status, _, body = get(url, {"If-Modified-Since": modified})
    assert (status, body) == (304, b"")
    # A change is a new tag.
    time.sleep(1.1)
    admin_ok(server, "PUT", f"/locations/{shown[0]}", site(shown[0], name="Renamed"))
    status, headers, _ = get(url, {"If-None-Match": etag})
    assert status == 200
    assert headers["etag"] != etag


def test_the_feed_can_be_turned_off():
    s = VoltaicServer(extra_args=["--no-open-data"]).start()
    try:
        status, _, _ = get(f"{s.base_url}/ocpi/open/locations")
        assert status == 404
    finally:
        s.destroy()
