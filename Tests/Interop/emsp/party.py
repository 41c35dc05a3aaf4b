"""The eMSP's own side of OCPI: an HTTP server for its versions, details and receiver modules, and a client
that calls a CPO the way an eMSP does (Base64 tokens by default, raw on request)."""
import base64
import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def envelope(data=None, status_code=1000, message=None):
    body = {"status_code": status_code, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if data is not None:
        body["data"] = data
    if message:
        body["status_message"] = message
    return body


class EMSP:
    """One eMSP platform. `misbehave` switches on the ways real partners stray:
    - "redirect": its versions URL answers 307 to the real one;
    - "details_as_list": its version details `data` is a list of one object;
    - "raw_only": it accepts only raw (not Base64) tokens;
    - "no_credentials": its version details list no credentials endpoint;
    - "down": it answers nothing (the port is closed)."""

    def __init__(self, country_code="DE", party_id="EMS", name="Test eMSP"):
        self.country_code, self.party_id, self.name = country_code, party_id, name
        self.token_b = "emsp-B-" + uuid.uuid4().hex
        self.misbehave = set()
        self.calls = []
        self.port = free_port()
        emsp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                emsp._handle(self, "GET")

            def do_POST(self):
                emsp._handle(self, "POST")

            def do_PUT(self):
                emsp._handle(self, "PUT")

            def do_PATCH(self):
                emsp._handle(self, "PATCH")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}/ocpi"

    @property
    def versions_url(self):
        return self.base + "/versions"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def credentials(self, token=None):
        return {
            "token": token or self.token_b,
            "url": self.versions_url,
            "roles": [{"role": "EMSP", "party_id": self.party_id, "country_code": self.country_code, "business_details": {"name": self.name}}],
        }

    # Server side ---------------------------------------------------------------------------------------------

    def _authorized(self, header):
        if not header or not header.startswith("Token "):
            return False
        value = header[len("Token "):]
        if value == self.token_b:
            return True
        if "raw_only" in self.misbehave:
            return False
        try:
            return base64.b64decode(value, validate=True).decode() == self.token_b
        except Exception:
            return False

    def _reply(self, handler, status, body, headers=()):
        raw = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        for k, v in headers:
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(raw)

    def _handle(self, handler, method):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        self.calls.append((method, handler.path, dict(handler.headers), body))
        path = handler.path.split("?")[0].rstrip("/")
        if path == "/ocpi/versions-moved" or (path == "/ocpi/versions" and "redirect" not in self.misbehave):
            if not self._authorized(handler.headers.get("Authorization")):
                return self._reply(handler, 401, envelope(status_code=2000, message="unknown token"))
            return self._reply(handler, 200, envelope([{"version": "2.2.1", "url": self.base + "/2.2.1"}]))
        if path == "/ocpi/versions":
            return self._reply(handler, 307, {}, headers=[("Location", self.base + "/versions-moved")])
        if path == "/ocpi/2.2.1":
            if not self._authorized(handler.headers.get("Authorization")):
                return self._reply(handler, 401, envelope(status_code=2000, message="unknown token"))
            details = {"version": "2.2.1", "endpoints": [
                {"identifier": "credentials", "role": "SENDER", "url": self.base + "/2.2.1/credentials"},
                {"identifier": "locations", "role": "RECEIVER", "url": self.base + "/emsp/2.2.1/locations"},
                {"identifier": "tariffs", "role": "RECEIVER", "url": self.base + "/emsp/2.2.1/tariffs"},
                {"identifier": "tokens", "role": "SENDER", "url": self.base + "/emsp/2.2.1/tokens"},
            ]}
            if "no_credentials" in self.misbehave:
                details["endpoints"] = [e for e in details["endpoints"] if e["identifier"] != "credentials"]
            return self._reply(handler, 200, envelope([details] if "details_as_list" in self.misbehave else details))
        self._reply(handler, 404, envelope(status_code=2000, message="no such endpoint"))

    # Client side ---------------------------------------------------------------------------------------------

    @staticmethod
    def call(method, url, token, body=None, raw_token=False, headers=None, timeout=30):
        """(HTTP status, response headers (lower-cased names), parsed body or None)."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token is not None:
            req.add_header("Authorization", "Token " + (token if raw_token else base64.b64encode(token.encode()).decode()))
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, {k.lower(): v for k, v in r.headers.items()}, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw
            return e.code, {k.lower(): v for k, v in e.headers.items()}, parsed

    def pull_all(self, url, token, limit):
        """Follows `Link: <…>; rel="next"` from the first page to the last; returns (objects, pages, totals)."""
        objects, pages, totals = [], 0, set()
        next_url = f"{url}?limit={limit}"
        while next_url:
            status, headers, body = self.call("GET", next_url, token)
            assert status == 200, (status, body)
            assert body["status_code"] == 1000, body
            assert isinstance(body["data"], list)
            assert len(body["data"]) <= limit
            pages += 1
            totals.add(int(headers["x-total-count"]))
            assert int(headers["x-limit"]) >= 1
            objects += body["data"]
            link = headers.get("link")
            next_url = None
            if link:
                assert link.endswith('>; rel="next"'), link
                next_url = link[1:link.index(">")]
            assert pages < 10_000
        return objects, pages, totals
