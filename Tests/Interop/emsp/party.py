"""The eMSP's own side of OCPI: an HTTP server for its versions, details and receiver modules, and a client
that calls a CPO the way an eMSP does (Base64 tokens by default, raw on request)."""
import base64
import copy
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import validate


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def instant(stamp):
    """An OCPI DateTime as an aware datetime (a missing zone is UTC), to order stamps of any precision."""
    value = stamp[:-1] if stamp.endswith("Z") else stamp
    if "." in value:
        head, frac = value.split(".", 1)
        value = f"{head}.{frac[:6].ljust(6, '0')}"
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


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
    - "down": it answers nothing (the port is closed);
    - "push_down": its locations, tariffs, sessions and cdrs receivers answer HTTP 503 (the sender is to retry);
    - "refuse_tariffs": its tariffs receiver answers HTTP 400 with OCPI 2001 (the sender is to give up).

    As a receiver of pushes it records every request to its locations, tariffs, sessions and cdrs endpoints in
    `pushes`, in the order they were handled (refused ones too, with the HTTP status it answered), and keeps what
    it accepted: `locations[(cc, pid, location_id)]` (with its EVSEs in `evses`), `tariffs[(cc, pid, tariff_id)]`,
    `sessions[(cc, pid, session_id)]` and `cdrs[(cc, pid, cdr_id)]`, keyed upper-case since ids are CiStrings.
    A session is PUT whole or PATCHed (fields replaced, `charging_periods` appended); a CDR is POSTed to the
    module URL once, answered with a `Location` where it can be read back (GET), and never changed: a second POST
    of the same CDR is recorded as a problem."""

    PUSH_PREFIX = "/ocpi/emsp/2.2.1/"

    def __init__(self, country_code="DE", party_id="EMS", name="Test eMSP"):
        self.country_code, self.party_id, self.name = country_code, party_id, name
        self.token_b = "emsp-B-" + uuid.uuid4().hex
        self.misbehave = set()
        self.calls = []
        # Receiver state: guarded by `lock` (the HTTP server handles requests on many threads).
        self.lock = threading.Lock()
        self.pushes = []
        self.locations = {}
        self.tariffs = {}
        self.sessions = {}
        self.cdrs = {}
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

            def do_DELETE(self):
                emsp._handle(self, "DELETE")

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
        return self._token_form(header) is not None

    def _token_form(self, header):
        """"raw" or "base64" for a header that carries token B the way this eMSP accepts it, else None."""
        if not header or not header.startswith("Token "):
            return None
        value = header[len("Token "):]
        if value == self.token_b:
            return "raw"
        if "raw_only" in self.misbehave:
            return None
        try:
            return "base64" if base64.b64decode(value, validate=True).decode() == self.token_b else None
        except Exception:
            return None

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
        if method == "GET" and (path.startswith(self.PUSH_PREFIX + "sessions/") or path.startswith(self.PUSH_PREFIX + "cdrs/")):
            return self._read_back(handler, path)
        if (any(path.startswith(self.PUSH_PREFIX + m + "/") for m in ("locations", "tariffs", "sessions", "cdrs"))
                or path == self.PUSH_PREFIX + "cdrs"):
            return self._receive_push(handler, method, path, body)
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
                {"identifier": "sessions", "role": "RECEIVER", "url": self.base + "/emsp/2.2.1/sessions"},
                {"identifier": "cdrs", "role": "RECEIVER", "url": self.base + "/emsp/2.2.1/cdrs"},
            ]}
            if "no_credentials" in self.misbehave:
                details["endpoints"] = [e for e in details["endpoints"] if e["identifier"] != "credentials"]
            return self._reply(handler, 200, envelope([details] if "details_as_list" in self.misbehave else details))
        self._reply(handler, 404, envelope(status_code=2000, message="no such endpoint"))

    # Receiver of pushes (locations, tariffs, sessions, cdrs) ------------------------------------------------

    def _receive_push(self, handler, method, path, raw):
        module, _, rest = path[len(self.PUSH_PREFIX):].partition("/")
        parts = [urllib.parse.unquote(p) for p in rest.split("/")] if rest else []
        h = handler.headers
        push = {
            "method": method, "module": module, "path": path, "parts": parts,
            # A CDR is POSTed to the module URL: its ids are read from the body.
            "country_code": parts[0] if len(parts) > 0 and module != "cdrs" else None,
            "party_id": parts[1] if len(parts) > 1 and module != "cdrs" else None,
            "object_id": parts[2] if len(parts) > 2 and module != "cdrs" else None,
            "evse_uid": parts[3] if module == "locations" and len(parts) > 3 else None,
            "connector_id": parts[4] if module == "locations" and len(parts) > 4 else None,
            "kind": None,
            "request_id": h.get("X-Request-ID"), "correlation_id": h.get("X-Correlation-ID"),
            "from": (h.get("OCPI-from-country-code"), h.get("OCPI-from-party-id")),
            "to": (h.get("OCPI-to-country-code"), h.get("OCPI-to-party-id")),
            # "base64" or "raw" (token B as sent), "invalid" (another token, or not "Token …"), None (no header).
            "authorization": (self._token_form(h.get("Authorization")) or "invalid") if h.get("Authorization") else None,
            "content_type": h.get("Content-Type"),
            "body": None, "problems": [], "status": None, "accepted": False, "received_at": time.time(),
            "answer_headers": [],
        }
        with self.lock:
            self.pushes.append(push)
            status, answer = self._apply_push(push, raw)
            push["status"], push["accepted"] = status, 200 <= status < 300 and answer["status_code"] < 2000
        # The answer echoes the message ids and swaps the routing headers (transport_and_format).
        echo = [(k, h.get(k)) for k in ("X-Request-ID", "X-Correlation-ID") if h.get(k)]
        echo += [("OCPI-from-country-code", self.country_code), ("OCPI-from-party-id", self.party_id)]
        echo += [(f"OCPI-to-{k}", v) for k, v in zip(("country-code", "party-id"), push["from"]) if v]
        return self._reply(handler, status, answer, headers=echo + push["answer_headers"])

    def _apply_push(self, push, raw):
        """Checks and stores one push (the caller holds the lock); returns (HTTP status, envelope)."""
        module, parts, problems = push["module"], push["parts"], push["problems"]
        if "push_down" in self.misbehave:
            return 503, envelope(status_code=3000, message="temporarily unavailable")
        if push["authorization"] in (None, "invalid"):
            return 401, envelope(status_code=2000, message="unknown token")
        shape = {"locations": (3, 5), "tariffs": (3, 3), "sessions": (3, 3), "cdrs": (0, 0)}.get(module)
        if shape is None or not (shape[0] <= len(parts) <= shape[1]) or not all(parts):
            problems.append(f"{push['path']}: not a {module} receiver {'module' if module == 'cdrs' else 'object'} URL")
            return 404, envelope(status_code=2000, message="no such endpoint")
        if module in ("tariffs", "sessions", "cdrs"):
            push["kind"] = {"tariffs": "tariff", "sessions": "session", "cdrs": "cdr"}[module]
        else:
            push["kind"] = ("location", "evse", "connector")[len(parts) - 3]
        if push["kind"] == "tariff" and "refuse_tariffs" in self.misbehave:
            return 400, envelope(status_code=2001, message="tariffs refused")
        if method_problem := self._method_problem(push):
            problems.append(method_problem)
            return 405, envelope(status_code=2000, message=method_problem)
        key = (parts[0].upper(), parts[1].upper(), parts[2].upper()) if parts else None
        if push["method"] == "DELETE":
            if raw:
                problems.append("DELETE: carries a body")
            self.tariffs.pop(key, None)
            return 200, envelope()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            problems.append("body: not JSON")
            return 400, envelope(status_code=2001, message="body is not JSON")
        push["body"] = body
        if not isinstance(body, dict):
            problems.append("body: must be a JSON object")
            return 400, envelope(status_code=2001, message="body must be an object")
        if not (push["content_type"] or "").startswith("application/json"):
            problems.append(f"Content-Type: must be application/json ({push['content_type']!r})")
        kind = push["kind"]
        if kind == "session":
            return self._apply_session(push, body, key)
        if kind == "cdr":
            return self._apply_cdr(push, body)
        if kind == "tariff":
            problems += validate.tariff(body)
            self._same_ids(body, parts, problems, ("country_code", "party_id", "id"))
            self.tariffs[key] = copy.deepcopy(body)
            return 200, envelope()
        if kind == "location":
            problems += validate.location(body)
            self._same_ids(body, parts, problems, ("country_code", "party_id", "id"))
            self.locations[key] = copy.deepcopy(body)
            return 200, envelope()
        location = self.locations.get(key)
        if location is None:
            # An EVSE or connector of a location never pushed: the sender broke its order.
            problems.append(f"{'/'.join(parts)}: pushed before its location {parts[2]!r}")
            return 404, envelope(status_code=2003, message="unknown location")
        evses = location.setdefault("evses", [])
        if kind == "evse":
            problems += validate.evse(body)
            if str(body.get("uid", "")).upper() != parts[3].upper():
                problems.append(f"evse.uid: {body.get('uid')!r} is not the URL's {parts[3]!r}")
            i = next((i for i, e in enumerate(evses) if str(e.get("uid", "")).upper() == parts[3].upper()), None)
            if i is None:
                evses.append(copy.deepcopy(body))
            else:
                evses[i] = copy.deepcopy(body)
            self._bump(location, body.get("last_updated"))
            return 200, envelope()
        problems += validate.connector(body)
        if str(body.get("id", "")).upper() != parts[4].upper():
            problems.append(f"connector.id: {body.get('id')!r} is not the URL's {parts[4]!r}")
        evse = next((e for e in evses if str(e.get("uid", "")).upper() == parts[3].upper()), None)
        if evse is None:
            problems.append(f"{'/'.join(parts)}: pushed before its EVSE {parts[3]!r}")
            return 404, envelope(status_code=2003, message="unknown EVSE")
        connectors = evse.setdefault("connectors", [])
        i = next((i for i, k in enumerate(connectors) if str(k.get("id", "")).upper() == parts[4].upper()), None)
        if i is None:
            connectors.append(copy.deepcopy(body))
        else:
            connectors[i] = copy.deepcopy(body)
        self._bump(evse, body.get("last_updated"))
        self._bump(location, body.get("last_updated"))
        return 200, envelope()

    def _apply_session(self, push, body, key):
        """PUT replaces the session (its charging_periods too); PATCH replaces the fields it carries, appends its
        charging_periods, and must carry last_updated (mod_sessions, transport_and_format)."""
        problems = push["problems"]
        if push["method"] == "PUT":
            problems += validate.session(body)
            self._same_ids(body, push["parts"], problems, ("country_code", "party_id", "id"))
            self.sessions[key] = copy.deepcopy(body)
            return 200, envelope()
        stored = self.sessions.get(key)
        if stored is None:
            problems.append(f"PATCH {push['path']}: a session never PUT")
            return 404, envelope(status_code=2001, message="unknown session")
        if body.get("last_updated") is None:
            problems.append("PATCH: last_updated is required in a PATCH")
        for field in ("country_code", "party_id", "id"):
            if field in body and str(body[field]).upper() != str(stored.get(field, "")).upper():
                problems.append(f"PATCH: {field} {body[field]!r} changes the session's key")
        merged = copy.deepcopy(stored)
        for field, value in body.items():
            if field == "charging_periods":
                if value:
                    merged["charging_periods"] = (merged.get("charging_periods") or []) + copy.deepcopy(value)
            else:
                merged[field] = copy.deepcopy(value)
        problems += validate.session(merged)
        if isinstance(body.get("last_updated"), str) and isinstance(stored.get("last_updated"), str):
            try:
                if instant(body["last_updated"]) < instant(stored["last_updated"]):
                    problems.append("PATCH: last_updated goes back")
            except ValueError:
                pass
        self.sessions[key] = merged
        return 200, envelope()

    def _apply_cdr(self, push, body):
        """A CDR POSTed to the module URL: stored once, answered with its Location."""
        problems = push["problems"]
        problems += validate.cdr(body)
        ids = [body.get(k) for k in ("country_code", "party_id", "id")]
        if not all(isinstance(v, str) and v for v in ids):
            return 400, envelope(status_code=2001, message="country_code, party_id and id are required")
        push["country_code"], push["party_id"], push["object_id"] = ids
        key = tuple(v.upper() for v in ids)
        if key in self.cdrs:
            same = "the same" if self.cdrs[key] == body else "a different"
            problems.append(f"CDR {ids[2]!r} POSTed again ({same} body): a CDR is sent once and never changed")
        else:
            self.cdrs[key] = copy.deepcopy(body)
        push["answer_headers"].append(("Location", f"{self.base}/emsp/2.2.1/cdrs/{urllib.parse.quote(ids[2], safe='')}"))
        return 200, envelope()

    def _read_back(self, handler, path):
        """GET of a session ({cc}/{pid}/{id}) or of a CDR at the Location this eMSP answered ({id})."""
        if not self._authorized(handler.headers.get("Authorization")):
            return self._reply(handler, 401, envelope(status_code=2000, message="unknown token"))
        module, _, rest = path[len(self.PUSH_PREFIX):].partition("/")
        parts = [urllib.parse.unquote(p).upper() for p in rest.split("/")]
        with self.lock:
            if module == "sessions" and len(parts) == 3:
                found = self.sessions.get(tuple(parts))
            elif module == "cdrs" and len(parts) == 1:
                found = next((c for k, c in self.cdrs.items() if k[2] == parts[0]), None)
            else:
                found = None
            found = copy.deepcopy(found)
        if found is None:
            return self._reply(handler, 404, envelope(status_code=2001, message=f"no such {module[:-1]}"))
        return self._reply(handler, 200, envelope(found))

    @staticmethod
    def _method_problem(push):
        if push["method"] == "PUT" and push["kind"] != "cdr":
            return None
        if push["method"] == "PATCH" and push["kind"] == "session":
            return None
        if push["method"] == "POST" and push["kind"] == "cdr":
            return None
        if push["method"] == "DELETE" and push["kind"] == "tariff":
            return None
        return f"{push['method']} {push['path']}: not a method of the {push['kind']} receiver"

    @staticmethod
    def _same_ids(body, parts, problems, fields):
        for field, value in zip(fields, parts):
            if str(body.get(field, "")).upper() != value.upper():
                problems.append(f"{field}: {body.get(field)!r} is not the URL's {value!r}")

    @staticmethod
    def _bump(obj, stamp):
        """A PUT of an EVSE or connector moves its parents' last_updated up to its own (mod_locations)."""
        if isinstance(stamp, str) and (not isinstance(obj.get("last_updated"), str) or instant(stamp) > instant(obj["last_updated"])):
            obj["last_updated"] = stamp

    # What was received, as copies taken under the lock.

    def received(self):
        with self.lock:
            return copy.deepcopy(self.pushes)

    def stored_location(self, country_code, party_id, location_id):
        with self.lock:
            return copy.deepcopy(self.locations.get((country_code.upper(), party_id.upper(), location_id.upper())))

    def stored_tariff(self, country_code, party_id, tariff_id):
        with self.lock:
            return copy.deepcopy(self.tariffs.get((country_code.upper(), party_id.upper(), tariff_id.upper())))

    def stored_tariff_ids(self):
        with self.lock:
            return {k[2] for k in self.tariffs}

    def stored_session(self, country_code, party_id, session_id):
        with self.lock:
            return copy.deepcopy(self.sessions.get((country_code.upper(), party_id.upper(), session_id.upper())))

    def stored_cdr(self, country_code, party_id, cdr_id):
        with self.lock:
            return copy.deepcopy(self.cdrs.get((country_code.upper(), party_id.upper(), cdr_id.upper())))

    def stored_cdrs(self):
        with self.lock:
            return copy.deepcopy(list(self.cdrs.values()))

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

    # Tokens at the CPO (this eMSP is the tokens module's Sender) -------------------------------------------------

    def token(self, uid, type="RFID", **fields):
        """A full OCPI 2.2.1 Token of this eMSP's party; `fields` replace or add members (None removes one)."""
        body = {
            "country_code": self.country_code, "party_id": self.party_id, "uid": uid, "type": type,
            "contract_id": f"{self.country_code}-{self.party_id}-C{uid}"[:36], "visual_number": f"{uid[:8]}-VIS",
            "issuer": self.name, "valid": True, "whitelist": "ALLOWED", "language": "de",
            "last_updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        for k, v in fields.items():
            if v is None:
                body.pop(k, None)
            else:
                body[k] = v
        return body

    def token_url(self, tokens_url, uid, type=None, country_code=None, party_id=None):
        """{tokens_url}/{country_code}/{party_id}/{uid}[?type=…], this eMSP's party unless told otherwise."""
        segments = [country_code or self.country_code, party_id or self.party_id, uid]
        url = tokens_url.rstrip("/") + "/" + "/".join(urllib.parse.quote(s, safe="") for s in segments)
        return url + (f"?type={type}" if type else "")

    def put_token(self, tokens_url, token_c, body, uid=None, type=None, country_code=None, party_id=None):
        """PUTs a Token at the CPO, at the URL of its own key unless told otherwise (no `?type=` for an RFID token,
        the default); (status, headers, body)."""
        type = type or (body.get("type") if body.get("type") != "RFID" else None)
        url = self.token_url(tokens_url, uid or body["uid"], type, country_code or body.get("country_code"), party_id or body.get("party_id"))
        return self.call("PUT", url, token_c, body)

    def patch_token(self, tokens_url, token_c, uid, fields, type=None, country_code=None, party_id=None):
        return self.call("PATCH", self.token_url(tokens_url, uid, type, country_code, party_id), token_c, fields)

    def get_token(self, tokens_url, token_c, uid, type=None, country_code=None, party_id=None):
        return self.call("GET", self.token_url(tokens_url, uid, type, country_code, party_id), token_c)

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
