"""HTTP behaviour of a live `voltaic serve` that the router tests cannot see: malformed requests on raw
sockets, the idle timeout, and answers within a bounded time while PostgreSQL is down or frozen."""
import json
import os
import shlex
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
from voltaic_server import ADMIN_TOKEN, VoltaicServer, pg_bin


def raw(server, data, timeout=5):
    """Sends bytes, reads until the server closes; returns (bytes read, closed by the server)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out, True
                out += chunk
        except socket.timeout:
            return out, False


GOOD_HEADERS = b"Host: 127.0.0.1\r\nAuthorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n"


@pytest.mark.parametrize("request_bytes", [
    b"GET /api/v1/stations HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x00b\r\n\r\n",
    b"GET /api/v1/stations HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x01b\r\n\r\n",
    b"GET /api/v1/stations/\xff HTTP/1.1\r\n" + GOOD_HEADERS + b"\r\n",
    b"GET /api/v1/stations HTTP/9.9\r\n" + GOOD_HEADERS + b"\r\n",
    b"POST /api/v1/tokens HTTP/1.1\r\n" + GOOD_HEADERS + b"Content-Length: abc\r\n\r\n{}",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 32,  # a TLS ClientHello
], ids=["nul-in-header", "ctl-in-header", "0xff-in-path", "http-9.9", "content-length-abc", "tls-hello"])
def test_malformed_requests_get_400_and_the_connection_is_closed(server, request_bytes):
    out, closed = raw(server, request_bytes)
    assert out.startswith(b"HTTP/1.1 400"), out
    assert b"connection: close" in out.lower()
    assert closed, "the server left the connection open"


def test_a_malformed_request_after_a_good_one_on_the_same_connection(server):
    out, closed = raw(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nX-Bad: \x01\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 400" in out and closed, out


def test_a_good_request_still_works_and_keeps_alive(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        for _ in range(2):
            s.sendall(b"GET /api/v1/stations HTTP/1.1\r\n" + GOOD_HEADERS + b"\r\n")
            head = s.recv(65536)
            assert head.startswith(b"HTTP/1.1 200"), head


@pytest.fixture(scope="module")
def fragile():
    """A server of its own whose PostgreSQL the tests stop and freeze, with short timeouts."""
    s = VoltaicServer(extra_args=["--api-timeout", "2", "--idle-timeout", "1"]).start()
    yield s
    resume(s)
    s.destroy()


def postgres_pids(server):
    with open(os.path.join(server.data_dir, "postgres", "postmaster.pid")) as f:
        postmaster = int(f.readline())
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
    return [postmaster] + [int(p) for p in children]


def resume(server):
    try:
        for pid in postgres_pids(server):
            os.kill(pid, signal.SIGCONT)
    except (OSError, ValueError):
        pass


def timed(server, method, path, body=None):
    start = time.monotonic()
    status, problem = server.api(method, path, body)
    return status, problem, time.monotonic() - start


def health(server):
    start = time.monotonic()
    try:
        with urllib.request.urlopen(server.base_url + "/health", timeout=5) as r:
            return r.status, json.loads(r.read()), time.monotonic() - start
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), time.monotonic() - start


def test_an_idle_connection_is_closed(fragile):
    # One that never sends a request, and one that goes quiet after a request.
    for request in [b"", b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"]:
        with socket.create_connection(("127.0.0.1", fragile.port), timeout=5) as s:
            s.sendall(request)
            if request:
                assert s.recv(65536).startswith(b"HTTP/1.1 200")
            start = time.monotonic()
            assert s.recv(1) == b""
            assert time.monotonic() - start < 4


def test_a_frozen_database_gives_503_in_bounded_time(fragile):
    assert fragile.api("GET", "/stations")[0] == 200
    pids = postgres_pids(fragile)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for method, path, body in [("GET", "/stations", None), ("POST", "/tokens", {"value": "FROZEN"}), ("GET", "/transactions", None)]:
            status, problem, took = timed(fragile, method, path, body)
            assert status == 503 and problem["status"] == 503, problem
            assert took < 3.5, took
        for _ in range(3):
            status, body, took = health(fragile)
            assert status == 503 and body["database"] == "down" and took < 1.0, (status, body, took)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    deadline = time.time() + 20
    while fragile.api("GET", "/stations")[0] != 200:
        assert time.time() < deadline, "the API did not recover"
        time.sleep(0.3)


def test_a_stopped_database_gives_503_and_health_says_down(fragile):
    pg = os.path.join(fragile.data_dir, "postgres")
    # Restart with the options the embedded launcher gave it (port, socket directory).
    with open(os.path.join(pg, "postmaster.opts")) as f:
        args = shlex.split(f.read())[1:]
    i = args.index("-D")
    options = " ".join(shlex.quote(a) for a in args[:i] + args[i + 2:])
    cmd = [pg_bin("pg_ctl"), "-D", pg, "-m", "immediate", "-w", "stop"]
    start = [pg_bin("pg_ctl"), "-D", pg, "-o", options, "-w", "-l", os.path.join(pg, "restart.log"), "start"]
    if os.geteuid() == 0:
        cmd, start = ["runuser", "-u", "postgres", "--"] + cmd, ["runuser", "-u", "postgres", "--"] + start
    subprocess.run(cmd, check=True, capture_output=True)
    try:
        status, problem, took = timed(fragile, "GET", "/stations")
        assert status == 503 and took < 3.5, (status, problem, took)
        status, problem, took = timed(fragile, "PUT", "/tokens/DOWN", {})
        assert status == 503 and took < 3.5, (status, problem, took)
        status, body, took = health(fragile)
        assert status == 503 and body["database"] == "down" and took < 1.0
    finally:
        subprocess.run(start, check=True, capture_output=True)
    deadline = time.time() + 30
    while health(fragile)[0] != 200:
        assert time.time() < deadline, "health did not recover"
        time.sleep(0.3)
