#!/usr/bin/env python3
"""Handshake flood: does /health stay fast while clients hammer the OCPP handshake with wrong passwords?

Usage (from the checkout root, after `flock /tmp/voltaic-build.lock swift build -c release --product voltaic`):

    .venv/bin/python Benchmarks/handshake_flood.py --server-cpu 0 --client-cpu 1 --runs 3 --json flood.json
    .venv/bin/python Benchmarks/handshake_flood.py --probes 500 --probe-rate 50 --flood-sources 32   # one source address per flooder

Each run starts the release `voltaic serve` (pinned with `taskset -c --server-cpu`; its embedded PostgreSQL
inherits the pinning) in a fresh data directory, registers one station with a password (security profile 1,
HTTP Basic) through `voltaic station add ID --password …`, checks that the right password upgrades (101),
then measures `GET /health` latency, --probes sequential GETs at --probe-rate per second, each on a new TCP
connection (as a monitor would):

  (a) with no other load;
  (b) while --flooders asyncio tasks (spread over --flood-procs processes, at nice --flood-nice so that the
      prober, on the same client CPU, is not queued behind them) loop WebSocket handshakes as fast as they
      can: half to the registered station id with a wrong password, half to random unknown ids. Each
      attempt is a new connection, sends the upgrade request, reads the status line and resets the
      connection (SO_LINGER 0, so no TIME_WAIT runs the ports out).

Reported per run and as the median of --runs: /health p50/p99/max for (a) and (b), handshake attempts/s
during (b), how they were answered (HTTP status counts per kind of attempt: 401 wrong password, 429
throttled, 503 checks saturated, 404 unknown id; connection errors by type), the server's and PostgreSQL's
CPU over (b), and the warnings/errors the server logged. The goal checked (printed, not asserted):
/health p99 <= 50 ms under the flood.

--flood-sources N spreads the flooders over 127.0.0.1 … 127.0.0.N (the server throttles failures per source
address; a flood from many addresses gets past that part of the throttle).

Independent of the server's code: it speaks HTTP over loopback and reads /proc.
"""
import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402

STATION = "FLOOD-CP-001"
PASSWORD = "right-password-0123456789"


def upgrade_request(port, station_id, password):
    auth = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ocpp/{station_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n"
        f"Authorization: Basic {auth}\r\n\r\n"
    ).encode()


async def handshake(port, station_id, password, local_addr=None, timeout=10.0):
    """One handshake attempt: the HTTP status it got, or the name of the error."""
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, local_addr=local_addr), timeout)
    except (OSError, asyncio.TimeoutError) as e:
        return "connect " + type(e).__name__
    try:
        w.write(upgrade_request(port, station_id, password))
        line = await asyncio.wait_for(r.readline(), timeout)
        parts = line.split()
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else ("closed" if not line else "bad status line")
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
        return type(e).__name__
    finally:
        sock = w.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        w.close()


def flood_proc(port, tasks, task_offset, sources, nice, stop_at, conn):
    os.nice(nice)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main():
        counts = {"wrong-password": {}, "random-id": {}}
        attempts = [0]
        rng = random.Random(os.getpid())
        wrong = "wrong-password-" + "x" * 12

        async def loop_task(k):
            g = task_offset + k
            kind = "wrong-password" if g % 2 == 0 else "random-id"
            local = (sources[g % len(sources)], 0) if sources else None
            c = counts[kind]
            while time.monotonic() < stop_at:
                sid = STATION if kind == "wrong-password" else "RND-%012x" % rng.getrandbits(48)
                status = await handshake(port, sid, wrong, local)
                c[status] = c.get(status, 0) + 1
                attempts[0] += 1

        t0 = time.monotonic()
        await asyncio.gather(*(loop_task(k) for k in range(tasks)))
        conn.send({"counts": {k: {str(s): n for s, n in v.items()} for k, v in counts.items()}, "attempts": attempts[0], "seconds": time.monotonic() - t0})

    asyncio.run(main())


def probe_health(port, n, rate, timeout=5.0):
    """n sequential GET /health, one new connection each, started every 1/rate s (or late, never early)."""
    import http.client

    lat, statuses, errors = [], {}, {}
    t0 = time.perf_counter()
    for i in range(n):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.request("GET", "/health")
            r = conn.getresponse()
            body = r.read()
            lat.append(time.perf_counter() - t)
            ok = r.status == 200 and json.loads(body).get("status") == "ok"
            key = r.status if ok or r.status != 200 else "200 not ok"
            statuses[key] = statuses.get(key, 0) + 1
        except (OSError, http.client.HTTPException, ValueError) as e:
            lat.append(time.perf_counter() - t)
            errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
        finally:
            conn.close()
    out = bc.latency_summary_ms(lat)
    out.update(statuses={str(k): v for k, v in statuses.items()}, errors=errors)
    return out


def count_log(path, since):
    out = {"warning": 0, "error": 0, "critical": 0, "handshake refused": 0, "samples": []}
    try:
        with open(path, "rb") as f:
            f.seek(since)
            for raw in f:
                line = raw.decode(errors="replace")
                if "handshake refused" in line:
                    out["handshake refused"] += 1
                for level in ("warning", "error", "critical"):
                    if f" {level} " in line or f"[{level}]" in line or f" {level}:" in line:
                        out[level] += 1
                        if len(out["samples"]) < 8:
                            out["samples"].append(line.strip()[:300])
    except OSError:
        pass
    return out


def run_once(args, run_index):
    server = bc.Server("voltaic", cpu=args.server_cpu, binary=args.voltaic_bin, log_level=args.server_log_level)
    server.start()
    try:
        pinning = server.pinning()
        server.cli("station", "add", STATION, "--password", PASSWORD)
        ok = asyncio.run(handshake(server.port, STATION, PASSWORD))
        if ok != 101:
            raise RuntimeError(f"the right password did not upgrade: {ok}")
        bad = asyncio.run(handshake(server.port, STATION, "wrong-password-yyyyyyyyyyy"))
        result = {"run": run_index, "pinning": pinning, "right_password": ok, "one_wrong_password": bad}
        time.sleep(1)
        result["no_flood"] = probe_health(server.port, args.probes, args.probe_rate)

        log_offset = os.path.getsize(server.log_path)
        sources = [f"127.0.0.{i + 1}" for i in range(args.flood_sources)] if args.flood_sources > 1 else []
        probe_s = args.probes / args.probe_rate
        stop_at = time.monotonic() + args.flood_ramp + probe_s + 1
        ctx = mp.get_context("fork")
        per = [args.flooders // args.flood_procs + (1 if i < args.flooders % args.flood_procs else 0) for i in range(args.flood_procs)]
        pipes, procs, offset = [], [], 0
        for tasks in per:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=flood_proc, args=(server.port, tasks, offset, sources, args.flood_nice, stop_at, child), daemon=True)
            p.start()
            pipes.append(parent)
            procs.append(p)
            offset += tasks
        time.sleep(args.flood_ramp)
        s0 = bc.snapshot(server)
        result["flood"] = probe_health(server.port, args.probes, args.probe_rate)
        s1 = bc.snapshot(server)
        floods = [pipe.recv() for pipe in pipes]
        for p in procs:
            p.join(timeout=10)
        counts = {"wrong-password": {}, "random-id": {}}
        for f in floods:
            for kind, c in f["counts"].items():
                for s, n in c.items():
                    counts[kind][s] = counts[kind].get(s, 0) + n
        attempts = sum(f["attempts"] for f in floods)
        seconds = max(f["seconds"] for f in floods)
        result.update(
            handshakes_per_s=attempts / seconds, handshake_attempts=attempts, answers=counts, server=bc.window(s0, s1),
            server_log=count_log(server.log_path, log_offset),
        )
        time.sleep(0.5)
        result["after_flood_health"] = server.request("GET", "/health")[0]
        result["after_flood_right_password"] = asyncio.run(handshake(server.port, STATION, PASSWORD))
        return result
    finally:
        server.destroy(keep_log_to=args.keep_logs and f"{args.keep_logs}-flood-{run_index}.log")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--probes", type=int, default=2000, help="GET /health per phase")
    p.add_argument("--probe-rate", type=float, default=50.0, help="GETs per second")
    p.add_argument("--flooders", type=int, default=32, help="concurrent handshake loops")
    p.add_argument("--flood-procs", type=int, default=4, help="processes the flooders are spread over")
    p.add_argument("--flood-sources", type=int, default=1, help="spread flooders over 127.0.0.1..N")
    p.add_argument("--flood-nice", type=int, default=10)
    p.add_argument("--flood-ramp", type=float, default=3.0, help="seconds of flood before the probes start")
    p.add_argument("--server-cpu", default=None)
    p.add_argument("--client-cpu", default=None)
    p.add_argument("--server-log-level", default="info")
    p.add_argument("--voltaic-bin", default=bc.VOLTAIC_BIN)
    p.add_argument("--keep-logs", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    bc.pin_self(args.client_cpu)
    bc.raise_nofile()
    state = bc.machine_state()
    print(f"# probes={args.probes}@{args.probe_rate}/s flooders={args.flooders} in {args.flood_procs} procs sources={args.flood_sources} "
          f"runs={args.runs} server-cpu={args.server_cpu} client-cpu={args.client_cpu} loadavg={state['loadavg']} "
          f"fuzzers={state['fuzzer_pids'] or 'none'}", flush=True)
    rows = []
    for run in range(1, args.runs + 1):
        r = run_once(args, run)
        rows.append(r)
        print(f"# run {run}: pinning {r['pinning']} answers {json.dumps(r['answers'])} health statuses no-flood {r['no_flood']['statuses']} "
              f"{r['no_flood']['errors']} flood {r['flood']['statuses']} {r['flood']['errors']} right password after the flood -> {r['after_flood_right_password']} log {json.dumps({k: v for k, v in r['server_log'].items() if k != 'samples'})}",
              flush=True)
        for line in r["server_log"]["samples"][:3]:
            print(f"#   log: {line}")
    cols = [("no-flood p50", "no_flood.p50_ms", "{:.2f}"), ("p99", "no_flood.p99_ms", "{:.2f}"), ("max", "no_flood.max_ms", "{:.1f}"),
            ("flood p50", "flood.p50_ms", "{:.2f}"), ("p99", "flood.p99_ms", "{:.2f}"), ("max", "flood.max_ms", "{:.1f}"),
            ("handshakes/s", "handshakes_per_s", "{:.0f}"), ("401", "answers.wrong-password.401", "{}"), ("429", "answers.wrong-password.429", "{}"),
            ("503", "answers.wrong-password.503", "{}"), ("404 rnd", "answers.random-id.404", "{}"),
            ("srv cpu%", "server.server_cpu_pct", "{:.0f}"), ("pg cpu%", "server.pg_cpu_pct", "{:.0f}")]

    def get(d, path):
        for part in path.split("."):
            if not isinstance(d, dict) or part not in d:
                return None
            d = d[part]
        return d

    def fmt(f, v):
        return "-" if v is None or (isinstance(v, float) and v != v) else f.format(v)

    header = ["run"] + [c[0] for c in cols]
    lines = [[str(r["run"])] + [fmt(f, get(r, k)) for _, k, f in cols] for r in rows]
    med = {k: bc.median([get(r, k) for r in rows]) for _, k, _ in cols}
    if len(rows) > 1:
        lines.append(["median"] + [fmt(f, med[k]) for _, k, f in cols])
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for l in lines:
        print("  ".join(c.rjust(w) for c, w in zip(l, widths)))
    goal = med["flood.p99_ms"] <= 50
    print(f"goal /health p99 <= 50 ms under flood: {'met' if goal else 'NOT met'} (median p99 {med['flood.p99_ms']:.2f} ms)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "machine": state, "machine_after": bc.machine_state(), "runs": rows, "medians": med, "goal_met": goal}, f, indent=2)


if __name__ == "__main__":
    main()
