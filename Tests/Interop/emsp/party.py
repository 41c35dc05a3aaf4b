"""The eMSP's own side of OCPI: an HTTP server for its versions, details and receiver modules, and a client
that calls a CPO the way an eMSP does (Base64 tokens by default, raw on request). An eMSP speaks OCPI 2.2.1, or
2.1.1 (`EMSP(version="2.1.1")`: flat credentials, endpoints without roles, raw tokens)."""
import base64
import copy
import functools
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A CPO pushes with many connections at once; socketserver's default listen backlog of 5 resets the rest.
ThreadingHTTPServer.request_queue_size = 128

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


class _either_method:
    """A method callable on the class (as a static method: `EMSP.call(...)`) and on an instance (which then
    passes itself as `party`, so that the instance's defaults apply: `emsp.call(...)`)."""

    def __init__(self, function):
        self.function = function
        functools.update_wrapper(self, function)

    def __get__(self, instance, owner):
        return functools.partial(self.function, instance)


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
    - "only_211": its versions list offers 2.1.1 only (a 2.2.1 eMSP: the URL it gives answers 404);
    - "only_221": a 2.1.1 eMSP whose versions list offers 2.2.1 only (its URL answers 404);
    - "refuse_registration": its credentials endpoint answers a registration HTTP 400 with OCPI 2001;
    - "push_down": its locations, tariffs, sessions and cdrs receivers answer HTTP 503 (the sender is to retry);
    - "refuse_tariffs": its tariffs receiver answers HTTP 400 with OCPI 2001 (the sender is to give up).

    As a receiver of pushes it records every request to its locations, tariffs, sessions and cdrs endpoints in
    `pushes`, in the order they were handled (refused ones too, with the HTTP status it answered), and keeps what
    it accepted: `locations[(cc, pid, location_id)]` (with its EVSEs in `evses`), `tariffs[(cc, pid, tariff_id)]`,
    `sessions[(cc, pid, session_id)]` and `cdrs[(cc, pid, cdr_id)]`, keyed upper-case since ids are CiStrings.
    A session is PUT whole or PATCHed (fields replaced, `charging_periods` appended); a CDR is POSTed to the
    module URL once, answered with a `Location` where it can be read back (GET), and never changed: a second POST
    of the same CDR is recorded as a problem.

    Down: `go_down()` closes its port (a partner that answers nothing); `come_up()` listens on the same port again,
    with all its state kept.

    As the Receiver of a registration (the CPO registers with it, `credentials.asciidoc`): `issue_token_a()` makes a
    token A, given offline to the CPO with `versions_url`. Its versions and details accept a live token A (and the
    tokens its receivers accept). `POST {base}/2.2.1/credentials` with a live token A checks the body (token, url,
    roles with a CPO role), then, before answering, reads the CPO's versions and 2.2.1 details with the body's token
    (B), makes a token C that its receivers accept from then on (as well as `token_b`), keeps B as `cpo_token` (with
    `cpo_versions_url`, `cpo_roles`, `cpo_endpoints`), voids token A, and answers 200 with its credentials (token C).
    Every POST to its credentials endpoint is recorded in `registrations` (see `_register`).

    OCPI 2.1.1 (`version="2.1.1"`): its versions offer 2.1.1 only, at `{base}/2.1.1`; its version details list
    endpoints without a `role`; its credentials are the flat 2.1.1 object (token, url, business_details, party_id,
    country_code) at `{base}/2.1.1/credentials`, where a CPO registers the same way (a 2.1.1 body, and the CPO must
    offer 2.1.1); it sends tokens raw (`Authorization: Token <token>`) unless a call asks for Base64, and its
    receivers (under `push_prefix`, `/ocpi/emsp/2.1.1/`) check what arrives with the 2.1.1 validators. It still
    accepts a Base64 token unless "raw_only". `register_with` is its side of a handshake toward a CPO, either
    version."""

    PUSH_PREFIX = "/ocpi/emsp/2.2.1/"
    VERSIONS = ("2.1.1", "2.2.1")

    def __init__(self, country_code="DE", party_id="EMS", name="Test eMSP", port=None, version="2.2.1", role="EMSP"):
        assert version in self.VERSIONS, version
        self.version = version
        # The role its 2.2.1 credentials give (a hub says HUB).
        self.role = role
        # Where its receivers are, and its version's details and credentials.
        self.push_prefix = f"/ocpi/emsp/{version}/"
        self.version_path = f"/ocpi/{version}"
        # 2.1.1 partners send the token as it is; 2.2.1 Base64-encodes it (transport_and_format).
        self.raw_tokens = version == "2.1.1"
        self.country_code, self.party_id, self.name = country_code, party_id, name
        self.token_b = "emsp-B-" + uuid.uuid4().hex
        # Registration receiver: live and void tokens A, the tokens C it issued, and what it learnt of the CPO.
        self.tokens_a, self.void_tokens_a, self.tokens_c = set(), set(), []
        self.registrations = []
        self.cpo_token = self.cpo_versions_url = None
        self.cpo_roles, self.cpo_endpoints = [], {}
        self.misbehave = set()
        self.calls = []
        # Receiver state: guarded by `lock` (the HTTP server handles requests on many threads).
        self.lock = threading.Lock()
        self.pushes = []
        self.locations = {}
        self.tariffs = {}
        self.sessions = {}
        self.cdrs = {}
        # Real-time authorization (its tokens Sender interface): the answer per uid (upper case), and every request.
        self.authorize_answers = {}
        self.authorize_requests = []
        self.port = port or free_port()
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

        self._handler = Handler
        self.httpd = None
        self.come_up()

    def come_up(self):
        """Listens (again) on its port, with all its state kept."""
        if self.httpd is None:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
            self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
            self.thread.start()

    def go_down(self):
        """Closes its port: a connection to it is refused until `come_up()`."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}/ocpi"

    @property
    def versions_url(self):
        return self.base + "/versions"

    def close(self):
        self.go_down()

    def issue_token_a(self, token=None):
        """A new token A (`token` if given) for a CPO that is to register with this eMSP (given offline, with
        `versions_url`)."""
        token = token or "emsp-A-" + uuid.uuid4().hex
        with self.lock:
            self.tokens_a.add(token)
        return token

    def credentials(self, token=None):
        """Its Credentials object in its version's shape, with `token` (token B unless told otherwise)."""
        if self.version == "2.1.1":
            return {
                "token": token or self.token_b, "url": self.versions_url, "business_details": {"name": self.name},
                "party_id": self.party_id, "country_code": self.country_code,
            }
        return {
            "token": token or self.token_b,
            "url": self.versions_url,
            "roles": [{"role": self.role, "party_id": self.party_id, "country_code": self.country_code, "business_details": {"name": self.name}}],
        }

    # Server side ---------------------------------------------------------------------------------------------

    def _receiver_tokens(self):
        """The tokens its receivers accept: token B of a registration it sent, and every token C it issued."""
        with self.lock:
            return {self.token_b, *self.tokens_c}

    def _authorized(self, header, token_a=False):
        """Whether the header carries a token its receivers accept (or, with `token_a`, a live token A)."""
        tokens = self._receiver_tokens()
        if token_a:
            with self.lock:
                tokens |= self.tokens_a
        return self._match(header, tokens) is not None

    def _token_form(self, header):
        """"raw" or "base64" for a header that carries a token its receivers accept, the way this eMSP accepts
        it, else None."""
        found = self._match(header, self._receiver_tokens())
        return found and found[0]

    def _match(self, header, tokens):
        """(form, token) when the header carries one of `tokens` ("raw", or "base64" unless raw_only), else None."""
        if not header or not header.startswith("Token "):
            return None
        value = header[len("Token "):]
        if value in tokens:
            return "raw", value
        if "raw_only" in self.misbehave:
            return None
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except Exception:
            return None
        return ("base64", decoded) if decoded in tokens else None

    @staticmethod
    def presented(header):
        """The token a header carries, Base64-decoded when it is valid Base64 of printable ASCII, else as sent;
        None when there is no `Token …` header."""
        if not header or not header.startswith("Token "):
            return None
        value = header[len("Token "):]
        try:
            decoded = base64.b64decode(value, validate=True).decode("ascii")
            if decoded and all(0x21 <= ord(ch) <= 0x7E for ch in decoded):
                return decoded
        except Exception:
            pass
        return value

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
        prefix = self.push_prefix
        if method == "POST" and path.startswith(prefix + "tokens/") and path.endswith("/authorize"):
            return self._authorize(handler, path, body)
        if method == "GET" and (path.startswith(prefix + "sessions/") or path.startswith(prefix + "cdrs/")):
            return self._read_back(handler, path)
        if (any(path.startswith(prefix + m + "/") for m in ("locations", "tariffs", "sessions", "cdrs"))
                or path == prefix + "cdrs"):
            return self._receive_push(handler, method, path, body)
        if path == "/ocpi/versions-moved" or (path == "/ocpi/versions" and "redirect" not in self.misbehave):
            if not self._authorized(handler.headers.get("Authorization"), token_a=True):
                return self._reply(handler, 401, envelope(status_code=2000, message="unknown token"))
            return self._reply(handler, 200, envelope(self.versions()))
        if path == "/ocpi/versions":
            return self._reply(handler, 307, {}, headers=[("Location", self.base + "/versions-moved")])
        if path == self.version_path:
            if not self._authorized(handler.headers.get("Authorization"), token_a=True):
                return self._reply(handler, 401, envelope(status_code=2000, message="unknown token"))
            details = {"version": self.version, "endpoints": self.endpoints()}
            return self._reply(handler, 200, envelope([details] if "details_as_list" in self.misbehave else details))
        if path == self.version_path + "/credentials":
            return self._credentials(handler, method, body)
        self._reply(handler, 404, envelope(status_code=2000, message="no such endpoint"))

    def answer_authorize(self, uid, allowed, reference=None, token=None):
        """How it answers `POST {tokens}/{uid}/authorize` from now on (an AuthorizationInfo); unknown uids get 2004."""
        info = {"allowed": allowed, "token": token or self.token(uid, whitelist="NEVER")}
        if reference is not None:
            info["authorization_reference"] = reference
        with self.lock:
            self.authorize_answers[uid.upper()] = info

    def _authorize(self, handler, path, raw):
        """Its tokens Sender's real-time authorization: `{tokens}/{uid}/authorize?type=…` with LocationReferences."""
        if not self._authorized(handler.headers.get("Authorization")):
            return self._reply(handler, 401, envelope(status_code=2000, message="unknown token"))
        uid = urllib.parse.unquote(path[len(self.push_prefix + "tokens/"):-len("/authorize")])
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "not JSON"
        with self.lock:
            self.authorize_requests.append({"uid": uid, "type": (query.get("type") or [None])[0], "body": body})
            info = self.authorize_answers.get(uid.upper())
        if info is None:
            return self._reply(handler, 404, envelope(status_code=2004, message="unknown token"))
        return self._reply(handler, 200, envelope(info))

    def versions(self):
        """What its versions endpoint lists: its own version, unless misbehaving ("only_211", "only_221")."""
        if "only_211" in self.misbehave:
            return [{"version": "2.1.1", "url": self.base + "/2.1.1"}]
        if "only_221" in self.misbehave:
            return [{"version": "2.2.1", "url": self.base + "/2.2.1"}]
        return [{"version": self.version, "url": self.base + "/" + self.version}]

    def endpoints(self):
        """The endpoints its version details list (without credentials under "no_credentials"); on 2.1.1 the same
        modules, without roles."""
        if self.version == "2.1.1":
            endpoints = [{"identifier": e["identifier"], "url": e["url"].replace("/2.2.1/", "/2.1.1/")} for e in self._endpoints_221()]
        else:
            endpoints = self._endpoints_221()
        if "no_credentials" in self.misbehave:
            endpoints = [e for e in endpoints if e["identifier"] != "credentials"]
        return endpoints

    def _endpoints_221(self):
        return [
            {"identifier": "credentials", "role": "SENDER", "url": self.base + "/2.2.1/credentials"},
            {"identifier": "locations", "role": "RECEIVER", "url": self.base + "/emsp/2.2.1/locations"},
            {"identifier": "tariffs", "role": "RECEIVER", "url": self.base + "/emsp/2.2.1/tariffs"},
            {"identifier": "tokens", "role": "SENDER", "url": self.base + "/emsp/2.2.1/tokens"},
            {"identifier": "sessions", "role": "RECEIVER", "url": self.base + "/emsp/2.2.1/sessions"},
            {"identifier": "cdrs", "role": "RECEIVER", "url": self.base + "/emsp/2.2.1/cdrs"},
        ]

    # Receiver of a registration (credentials) --------------------------------------------------------------

    def _credentials(self, handler, method, raw):
        header = handler.headers.get("Authorization")
        if method == "GET":
            found = self._match(header, self._receiver_tokens())
            if found is None:
                return self._reply(handler, 401, envelope(status_code=2000, message="unknown token"))
            return self._reply(handler, 200, envelope(self.credentials(token=found[1])))
        if method != "POST":
            return self._reply(handler, 405, envelope(status_code=2000, message=f"{method} is not supported here"))
        status, answer, record = self._register(header, raw)
        with self.lock:
            self.registrations.append(record)
        return self._reply(handler, status, answer)

    def _register(self, header, raw):
        """A CPO's POST of its credentials; returns (HTTP status, envelope, record). The record holds:
        `authorization` ("raw"/"base64" for a live token A, "void" for a token A already used, "registered" for a
        token C, "invalid", or None), `token_a`, `body` (parsed, or None), `fetched` (the CPO's versions and
        details as this eMSP read them with token B: dicts of url, status, authorization and body), `status`
        (HTTP), `status_code` (OCPI), `message`, `token_c` (issued, or None) and `at` (times started and
        answered)."""
        record = {"authorization": None, "token_a": None, "body": None, "fetched": [], "status": None, "status_code": None,
                  "message": None, "token_c": None, "at": [time.time(), None]}

        def answer(status, status_code, message=None, data=None):
            record["status"], record["status_code"], record["message"], record["at"][1] = status, status_code, message, time.time()
            return status, envelope(data, status_code=status_code, message=message), record

        with self.lock:
            live, void = set(self.tokens_a), set(self.void_tokens_a)
        found = self._match(header, live)
        if found is None:
            if header:
                record["authorization"] = "invalid"
                if self._match(header, void):
                    record["authorization"] = "void"
                elif self._match(header, self._receiver_tokens()):
                    # A registered CPO POSTs again: only PUT updates a registration.
                    record["authorization"] = "registered"
                    return answer(405, 2000, "already registered; use PUT")
            return answer(401, 2000, "unknown token")
        record["authorization"], record["token_a"] = found
        token_a = found[1]
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return answer(400, 2001, "body is not JSON")
        record["body"] = body
        problem = self._credentials_problem_211(body) if self.version == "2.1.1" else self._credentials_problem(body)
        if problem:
            return answer(400, 2001, problem)
        if "refuse_registration" in self.misbehave:
            return answer(400, 2001, "registration refused")
        # Before answering: the CPO's versions, then its details of this eMSP's version, read with token B (Base64
        # on 2.2.1, raw on 2.1.1).
        token_b = body["token"]
        status, _, versions = self.call("GET", body["url"], token_b, timeout=10)
        record["fetched"].append({"url": body["url"], "status": status, "body": versions})
        ours = None
        if status == 200 and isinstance(versions, dict) and versions.get("status_code") == 1000 and isinstance(versions.get("data"), list):
            ours = next((v.get("url") for v in versions["data"] if isinstance(v, dict) and v.get("version") == self.version), None)
        if status != 200 or not isinstance(versions, dict) or versions.get("status_code") != 1000:
            return answer(200, 3001, f"the CPO's versions answered HTTP {status}")
        if not ours:
            return answer(200, 3002, f"the CPO offers no {self.version}")
        status, _, details = self.call("GET", ours, token_b, timeout=10)
        record["fetched"].append({"url": ours, "status": status, "body": details})
        data = details.get("data") if isinstance(details, dict) else None
        if status != 200 or not isinstance(details, dict) or details.get("status_code") != 1000 or not isinstance(data, dict) or not isinstance(data.get("endpoints"), list):
            return answer(200, 3001, f"the CPO's {self.version} details answered HTTP {status}")
        endpoints = self.endpoint_map(data["endpoints"])
        if not any(k in endpoints for k in ("credentials", ("credentials", "SENDER"), ("credentials", "RECEIVER"))):
            return answer(200, 3003, "the CPO's details list no credentials endpoint")
        token_c = "emsp-C-" + uuid.uuid4().hex
        with self.lock:
            if token_a not in self.tokens_a:
                # Another POST with the same token A won meanwhile.
                record["authorization"] = "void"
                return answer(401, 2000, "unknown token")
            self.tokens_a.discard(token_a)
            self.void_tokens_a.add(token_a)
            self.tokens_c.append(token_c)
            self.cpo_token, self.cpo_versions_url = token_b, body["url"]
            self.cpo_roles, self.cpo_endpoints = self.roles_of(body), endpoints
        record["token_c"] = token_c
        return answer(200, 1000, data=self.credentials(token=token_c))

    def endpoint_map(self, endpoints):
        """A version details' endpoints as a dict: (identifier, role) → url on 2.2.1, identifier → url on 2.1.1
        (whose endpoints have no role)."""
        if self.version == "2.1.1":
            return {e.get("identifier"): e.get("url") for e in endpoints if isinstance(e, dict)}
        return {(e.get("identifier"), e.get("role")): e.get("url") for e in endpoints if isinstance(e, dict)}

    @staticmethod
    def roles_of(credentials):
        """The roles of a Credentials object of either version (2.1.1's single party is one CPO role)."""
        if isinstance(credentials.get("roles"), list):
            return copy.deepcopy(credentials["roles"])
        return [{"role": "CPO", **{k: copy.deepcopy(credentials.get(k)) for k in ("party_id", "country_code", "business_details")}}]

    @staticmethod
    def _credentials_problem_211(body):
        """None for a CPO's valid 2.1.1 Credentials, else the first problem (validate.credentials_211's)."""
        if not isinstance(body, dict):
            return "body: must be a Credentials object"
        problems = validate.credentials_211(body, path="credentials")
        return problems[0] if problems else None

    @staticmethod
    def _credentials_problem(body):
        """None for a CPO's valid 2.2.1 Credentials, else the first problem, naming the field."""
        if not isinstance(body, dict):
            return "body: must be a Credentials object"
        token = body.get("token")
        if not isinstance(token, str) or not 1 <= len(token) <= 64 or not all(0x21 <= ord(ch) <= 0x7E for ch in token):
            return "token: 1 to 64 printable ASCII characters"
        url = body.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://[^/\s]", url) or len(url) > 255:
            return "url: an http(s) URL"
        roles = body.get("roles")
        if not isinstance(roles, list) or not roles:
            return "roles: at least one role"
        for i, role in enumerate(roles):
            if not isinstance(role, dict):
                return f"roles[{i}]: must be an object"
            if role.get("role") not in ("CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP"):
                return f"roles[{i}].role: {role.get('role')!r} is not a Role"
            cc, pid = role.get("country_code"), role.get("party_id")
            if not isinstance(cc, str) or not re.fullmatch(r"[A-Za-z]{2}", cc):
                return f"roles[{i}].country_code: two letters"
            if not isinstance(pid, str) or not re.fullmatch(r"[A-Za-z0-9]{3}", pid):
                return f"roles[{i}].party_id: three letters or digits"
            details = role.get("business_details")
            if not isinstance(details, dict) or not isinstance(details.get("name"), str) or not 1 <= len(details["name"]) <= 100:
                return f"roles[{i}].business_details.name: required, up to 100 characters"
        if not any(r.get("role") == "CPO" for r in roles):
            return "roles: no CPO role"
        return None

    # Receiver of pushes (locations, tariffs, sessions, cdrs) ------------------------------------------------

    def _receive_push(self, handler, method, path, raw):
        module, _, rest = path[len(self.push_prefix):].partition("/")
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
            # "base64" or "raw" (an accepted token as sent), "invalid" (another token, or not "Token …"), None (no
            # header); `token` is the token the header carries (see `presented`).
            "authorization": (self._token_form(h.get("Authorization")) or "invalid") if h.get("Authorization") else None,
            "token": self.presented(h.get("Authorization")),
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
        if self.version == "2.1.1":
            return self._apply_push_211(push, body, key)
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

    def _apply_push_211(self, push, body, key):
        """A 2.1.1 push of a location, EVSE, connector or tariff (PUT whole, or PATCH of the fields it carries),
        checked with the 2.1.1 validators; the objects carry no country_code or party_id, only the URL does. A Session
        (PUT, whole) is kept by its URL's key; a CDR (POSTed to the module URL, with no party in it) by the sender's
        party from the OCPI-from headers, or none, and its id."""
        problems, parts, kind = push["problems"], push["parts"], push["kind"]
        if kind == "session":
            problems += validate.session_211(body)
            if str(body.get("id", "")).upper() != parts[2].upper():
                problems.append(f"session.id: {body.get('id')!r} is not the URL's {parts[2]!r}")
            self.sessions[key] = copy.deepcopy(body)
            return 200, envelope()
        if kind == "cdr":
            problems += validate.cdr_211(body)
            cc, pid = (v.upper() if v else "" for v in push["from"])
            cdr_key = (cc, pid, str(body.get("id", "")).upper())
            push["object_id"] = body.get("id")
            if cdr_key in self.cdrs:
                problems.append(f"CDR {body.get('id')!r} POSTed again: a CDR is sent once and never changed")
            else:
                self.cdrs[cdr_key] = copy.deepcopy(body)
            push["answer_headers"].append(("Location", f"{self.base}/emsp/{self.version}/cdrs/{urllib.parse.quote(str(body.get('id')), safe='')}"))
            return 200, envelope()
        check = {"location": validate.location_211, "evse": validate.evse_211, "connector": validate.connector_211, "tariff": validate.tariff_211}[kind]
        id_field = "uid" if kind == "evse" else "id"
        wanted = parts[{"location": 2, "tariff": 2, "evse": 3, "connector": 4}[kind]]
        if id_field in body and str(body[id_field]).upper() != wanted.upper():
            problems.append(f"{kind}.{id_field}: {body.get(id_field)!r} is not the URL's {wanted!r}")
        store = self.tariffs if kind == "tariff" else self.locations
        location = None if kind == "tariff" else self.locations.get(key)
        if kind in ("evse", "connector") and location is None:
            problems.append(f"{'/'.join(parts)}: pushed before its location {parts[2]!r}")
            return 404, envelope(status_code=2003, message="unknown location")
        evses = location.setdefault("evses", []) if location is not None else []
        evse = next((e for e in evses if str(e.get("uid", "")).upper() == parts[3].upper()), None) if kind in ("evse", "connector") else None
        if kind == "connector" and evse is None:
            problems.append(f"{'/'.join(parts)}: pushed before its EVSE {parts[3]!r}")
            return 404, envelope(status_code=2003, message="unknown EVSE")
        siblings = {"evse": evses, "connector": (evse or {}).setdefault("connectors", []) if evse is not None else []}.get(kind)
        if siblings is not None:
            current = next((x for x in siblings if str(x.get(id_field, "")).upper() == wanted.upper()), None)
        else:
            current = store.get(key)
        if push["method"] == "PATCH":
            if current is None:
                problems.append(f"PATCH {push['path']}: a {kind} never PUT")
                return 404, envelope(status_code=2003, message=f"unknown {kind}")
            merged = {**copy.deepcopy(current), **copy.deepcopy(body)}
        else:
            merged = copy.deepcopy(body)
        problems += check(merged)
        if siblings is None:
            store[key] = merged
        elif current is None:
            siblings.append(merged)
        else:
            siblings[siblings.index(current)] = merged
        for parent in ([evse] if kind == "connector" else []) + ([location] if kind in ("evse", "connector") else []):
            self._bump(parent, merged.get("last_updated"))
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
        push["answer_headers"].append(("Location", f"{self.base}/emsp/{self.version}/cdrs/{urllib.parse.quote(ids[2], safe='')}"))
        return 200, envelope()

    def _read_back(self, handler, path):
        """GET of a session ({cc}/{pid}/{id}) or of a CDR at the Location this eMSP answered ({id})."""
        if not self._authorized(handler.headers.get("Authorization")):
            return self._reply(handler, 401, envelope(status_code=2000, message="unknown token"))
        module, _, rest = path[len(self.push_prefix):].partition("/")
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

    def _method_problem(self, push):
        if self.version == "2.1.1" and push["method"] == "PATCH" and push["kind"] in ("location", "evse", "connector", "tariff"):
            return None
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

    @_either_method
    def call(party, method, url, token, body=None, raw_token=None, headers=None, timeout=30):
        """(HTTP status, response headers (lower-cased names), parsed body or None). The token is sent Base64-encoded
        unless `raw_token`; by default raw when called on a 2.1.1 eMSP (`emsp.call`), Base64 when called on the
        class (`EMSP.call`) or on a 2.2.1 eMSP."""
        if raw_token is None:
            raw_token = bool(party is not None and party.raw_tokens)
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

    def pull_all(self, url, token, limit, raw_token=None, query=None):
        """Follows `Link: <…>; rel="next"` from the first page to the last; returns (objects, pages, totals). The
        token goes in this eMSP's way (raw on 2.1.1) unless `raw_token` says otherwise; `query` (for example
        "date_from=…", already encoded) is added to the first page's URL."""
        objects, pages, totals = [], 0, set()
        next_url = f"{url}?{query + '&' if query else ''}limit={limit}"
        while next_url:
            status, headers, body = self.call("GET", next_url, token, raw_token=raw_token)
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

    # This eMSP registers with a CPO (the CPO is the Receiver of the handshake) ------------------------------------

    def discover(self, versions_url, token, version=None):
        """GETs the CPO's versions and the details of `version` (this eMSP's by default) with `token`, the way this
        eMSP sends tokens. Returns (versions list, version details data, endpoints as `endpoint_map` gives them);
        fails (AssertionError) when a step does not answer 1000 or the CPO offers no such version."""
        version = version or self.version
        status, _, body = self.call("GET", versions_url, token)
        assert status == 200 and isinstance(body, dict) and body.get("status_code") == 1000, (versions_url, status, body)
        offered = [v for v in body["data"] if v.get("version") == version]
        assert len(offered) == 1, (f"the CPO offers {version} {len(offered)} times", body)
        status, _, details = self.call("GET", offered[0]["url"], token)
        assert status == 200 and isinstance(details, dict) and details.get("status_code") == 1000, (offered[0]["url"], status, details)
        assert isinstance(details.get("data"), dict) and details["data"].get("version") == version, details
        return body["data"], details["data"], self.endpoint_map(details["data"]["endpoints"])

    def credentials_url(self, endpoints):
        """The CPO's credentials endpoint in a map from `endpoint_map`."""
        if self.version == "2.1.1":
            return endpoints["credentials"]
        return endpoints.get(("credentials", "SENDER")) or endpoints[("credentials", "RECEIVER")]

    def register_with(self, versions_url, token_a):
        """This eMSP's side of a registration with a CPO: discovery with token A, then POST of its credentials (token
        B) to the CPO's credentials endpoint of its version, with token A. Returns a dict: `versions`, `details`,
        `endpoints` (see `endpoint_map`), `status` (HTTP), `answer` (the envelope) and `token_c` (the answer's
        token when it is 1000, else None); nothing is asserted about the answer."""
        versions, details, endpoints = self.discover(versions_url, token_a)
        status, _, answer = self.call("POST", self.credentials_url(endpoints), token_a, self.credentials())
        ok = status == 200 and isinstance(answer, dict) and answer.get("status_code") == 1000 and isinstance(answer.get("data"), dict)
        return {"versions": versions, "details": details, "endpoints": endpoints, "status": status, "answer": answer,
                "token_c": answer["data"].get("token") if ok else None}
