#!/usr/bin/env python3
"""TLS handshake cost on the wss:// listener, as ratios measured in the same run.

Usage (from the checkout root):

    VOLTAIC_BIN=$PWD/.build/debug/voltaic .venv/bin/python Benchmarks/tls_handshake.py
    VOLTAIC_BIN=$PWD/.build/debug/voltaic .venv/bin/python Benchmarks/tls_handshake.py --seconds 3 --runs 1

A release build gives truer figures (`swift build -c release`, then VOLTAIC_BIN=$PWD/.build/release/voltaic).

Makes a self-signed certificate with `voltaic tls self-signed`, starts one `voltaic serve` with a TLS listener
(Tests/Interop/voltaic_server.py) pinned to cpu 0 (`taskset -a -pc 0`), pins this client to cpu 1, and for a
fixed window per mode runs --clients closed-loop threads, each connection doing connect + `GET /health/live`
(`Connection: close`, read to EOF) + close:

  plain      TCP on the plain port (the baseline)
  tls13      a full TLS 1.3 handshake each time (no session offered)
  tls13-res  TLS 1.3 resuming the session ticket of the thread's previous connection (count of `session_reused`)
  tls12      a full TLS 1.2 handshake each time

The client verifies the server certificate against server.pem. Per mode: handshakes/s (connections completed
per second), p50/p99 latency, and the server's CPU seconds per 1000 handshakes (/proc/<pid>/stat utime+stime
over the window; the most robust figure on a shared machine). Ratios are taken within each run; every figure
printed is the median over --runs, followed by one JSON line with all the medians. The order of the modes rotates
run by run, so that no mode always comes right after another.

--pause S idles S seconds before each window. The server's cost per connection grows with the connections of the
last minute (each keeps a 60 s first-request timer, MalformedRequestHandler, until it fires, and the firing costs
CPU later): with --pause 65 no window pays for the previous one's connections.
"""
import argparse
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Interop"))
import voltaic_server  # noqa: E402
from voltaic_server import VoltaicServer  # noqa: E402

MODES = ["plain", "tls13", "tls13-res", "tls12"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
REQUEST = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def one_connection(port, ctx, session):
    """connect (+ TLS handshake) + GET + read to EOF + close. Returns (reused, session for the next one)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock = raw
    try:
        if ctx is not None:
            sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session)
        sock.sendall(REQUEST)
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        if not data.startswith(b"HTTP/1.1 200"):
            raise RuntimeError("unexpected response: %r" % data[:80])
        if ctx is None:
            return False, None
        return sock.session_reused, sock.session  # the TLS 1.3 ticket has been read along with the response
    finally:
        sock.close()


def measure(mode, seconds, clients, plain_port, tls_port, contexts, pid):
    ctx = contexts.get(mode)
    port = plain_port if mode == "plain" else tls_port
    resume = mode == "tls13-res"
    stop = threading.Event()
    results = [None] * clients
    start_gate = threading.Barrier(clients + 1)

    def worker(i):
        lat, reused, errors, session, last_error = [], 0, 0, None, None
        start_gate.wait()
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                r, s = one_connection(port, ctx, session if resume else None)
            except (OSError, RuntimeError, ssl.SSLError) as e:
                errors, last_error, session = errors + 1, repr(e), None
                continue
            if not stop.is_set():  # count only connections completed inside the window
                lat.append(time.perf_counter() - t0)
                reused += r
            session = s
        results[i] = (lat, reused, errors, last_error)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    cpu0 = cpu_seconds(pid)
    start_gate.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - t0
    cpu1 = cpu_seconds(pid)
    for t in threads:
        t.join(30)
    lat = sorted(x for r in results for x in r[0])
    n = len(lat)
    errors = sum(r[2] for r in results)
    last_error = next((r[3] for r in results if r[3]), None)
    if n == 0:
        raise SystemExit(f"tls_handshake: no {mode} connection completed ({errors} errors, last: {last_error})")
    return {
        "per_s": n / elapsed,
        "p50_ms": lat[n // 2] * 1000,
        "p99_ms": lat[min(n - 1, int(n * 0.99))] * 1000,
        "cpu_s_per_1k": (cpu1 - cpu0) / n * 1000,
        "count": n,
        "reused": sum(r[1] for r in results),
        "errors": errors,
        "last_error": last_error,
    }


def ratios(run):
    out = {}
    for name, a, b in (("tls13/plain", "tls13", "plain"), ("res/tls13", "tls13-res", "tls13"), ("tls12/tls13", "tls12", "tls13")):
        for fig in ("per_s", "p50_ms", "cpu_s_per_1k"):
            out[f"{name} {fig}"] = run[a][fig] / run[b][fig] if run[b][fig] else float("nan")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="window per mode (default 10)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent closed-loop clients (default 8)")
    ap.add_argument("--runs", type=int, default=3, help="runs of the whole set; medians are printed (default 3)")
    ap.add_argument("--pause", type=float, default=0.0, help="idle seconds before each window (default 0; 65 drains the server's 60 s timers)")
    args = ap.parse_args()

    binary = os.environ.get("VOLTAIC_BIN", voltaic_server.BINARY)
    if not os.access(binary, os.X_OK):
        sys.exit(f"tls_handshake: no server binary at {binary} (set VOLTAIC_BIN)")
    tls_dir = tempfile.mkdtemp(prefix="voltaic-tlsbench-", dir="/tmp")
    r = subprocess.run([binary, "tls", "self-signed", "--dir", tls_dir, "--host", "127.0.0.1", "--host", "localhost"],
                       capture_output=True, text=True)
    pem, key = os.path.join(tls_dir, "server.pem"), os.path.join(tls_dir, "server.key")
    if r.returncode != 0 or not os.path.exists(pem):
        shutil.rmtree(tls_dir, ignore_errors=True)
        sys.exit(f"tls_handshake: `voltaic tls self-signed` failed ({r.returncode}): {r.stdout}{r.stderr}")

    multi_cpu = (os.cpu_count() or 1) >= 2
    tls_port = voltaic_server.free_port()
    server = VoltaicServer(extra_args=["--tls-port", str(tls_port), "--tls-certificate", pem, "--tls-key", key])
    try:
        server.start()
    except Exception as e:  # noqa: BLE001
        server.destroy()
        shutil.rmtree(tls_dir, ignore_errors=True)
        sys.exit(f"tls_handshake: the server did not start: {e}")
    try:
        pid = server.process.pid
        if multi_cpu:
            subprocess.run(["taskset", "-a", "-pc", "0", str(pid)], check=True, capture_output=True)
            os.sched_setaffinity(0, {1})
        contexts = {}
        for mode in MODES[1:]:
            ctx = ssl.create_default_context(cafile=pem)
            if mode == "tls12":
                ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            else:
                ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            contexts[mode] = ctx
        try:
            one_connection(tls_port, contexts["tls13"], None)
        except Exception as e:  # noqa: BLE001
            sys.exit(f"tls_handshake: the TLS listener on port {tls_port} does not answer: {e!r}\n{server.tail()}")
        print(f"server {binary} pid {pid} (cpu 0: {multi_cpu}), plain port {server.port}, tls port {tls_port}; "
              f"{args.clients} clients, {args.seconds:g} s per mode, {args.runs} runs, pause {args.pause:g} s", flush=True)
        for mode in MODES:  # warm-up, not counted
            measure(mode, min(1.0, args.seconds), args.clients, server.port, tls_port, contexts, pid)
        runs = []
        for i in range(args.runs):
            run = {}
            for m in MODES[i % len(MODES):] + MODES[:i % len(MODES)]:
                time.sleep(args.pause)
                run[m] = measure(m, args.seconds, args.clients, server.port, tls_port, contexts, pid)
            run["ratios"] = ratios(run)
            runs.append(run)
            print(f"run {i + 1}: " + "  ".join(f"{m} {run[m]['per_s']:.0f}/s {run[m]['cpu_s_per_1k']:.2f} cpu-s/1k" for m in run if m != "ratios"),
                  flush=True)
            for m in MODES:
                if run[m]["errors"]:
                    print(f"  {m}: {run[m]['errors']} errors, last: {run[m]['last_error']}")
    finally:
        server.destroy()
        shutil.rmtree(tls_dir, ignore_errors=True)

    med = {m: {f: statistics.median(r[m][f] for r in runs) for f in ("per_s", "p50_ms", "p99_ms", "cpu_s_per_1k", "count", "reused", "errors")}
           for m in MODES}
    med["ratios"] = {k: statistics.median(r["ratios"][k] for r in runs) for k in runs[0]["ratios"]}
    print(f"\nmedian of {len(runs)} run(s):")
    print(f"{'mode':<10} {'conn/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'srv cpu s/1k':>13} {'conns':>8} {'reused':>8} {'errors':>7}")
    for m in MODES:
        d = med[m]
        print(f"{m:<10} {d['per_s']:>9.1f} {d['p50_ms']:>8.2f} {d['p99_ms']:>8.2f} {d['cpu_s_per_1k']:>13.3f} "
              f"{d['count']:>8.0f} {d['reused']:>8.0f} {d['errors']:>7.0f}")
    print("\nratios (per run, median)       conn/s   p50 ms  srv cpu/1k")
    for name in ("tls13/plain", "res/tls13", "tls12/tls13"):
        rr = med["ratios"]
        print(f"  {name:<28} {rr[name + ' per_s']:>6.2f} {rr[name + ' p50_ms']:>8.2f} {rr[name + ' cpu_s_per_1k']:>11.2f}")
    print(json.dumps({"seconds": args.seconds, "clients": args.clients, "runs": len(runs), "binary": binary, "median": med},
                     separators=(",", ":")))


if __name__ == "__main__":
    main()
