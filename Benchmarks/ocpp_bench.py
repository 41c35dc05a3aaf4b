#!/usr/bin/env python3
"""OCPP-J load generator: many stations over loopback against `voltaic serve` or the bare echo.

Usage (from the checkout root, after building both release binaries, see Benchmarks/README.md):

    .venv/bin/python Benchmarks/ocpp_bench.py --target voltaic --scenario heartbeat
    .venv/bin/python Benchmarks/ocpp_bench.py --compare echo,voltaic --scenario heartbeat --runs 3 \\
        --server-cpu 0 --client-cpu 1 --stations 200 --duration 20 --json heartbeat.json
    .venv/bin/python Benchmarks/ocpp_bench.py --compare echo,voltaic --scenario metervalues --runs 3 --server-cpu 0 --client-cpu 1
    .venv/bin/python Benchmarks/ocpp_bench.py --target voltaic --scenario heartbeat --mode open --rate 2000
    .venv/bin/python Benchmarks/ocpp_bench.py --target voltaic --scenario boot-storm --stations 5000
    .venv/bin/python Benchmarks/ocpp_bench.py --target echo --scenario hold --stations 30000 --workers 2 --source-addrs 4

Targets (each run starts its own server, in a fresh data directory, and stops it after):
  voltaic   the release `voltaic serve` (.build/release/voltaic, or --voltaic-bin) with its embedded
            PostgreSQL; the stations are registered first through POST /api/v1/stations (--provision api),
            or the server is started with --unknown-stations accept --max-unknown-stations N (--provision accept).
  echo      Benchmarks/Echo's `voltaic-echo` (or --echo-bin): the same HTTP/WebSocket stack, no database.

Scenarios (every station connects with subprotocol ocpp1.6, or --ocpp 2.0.1, and sends a BootNotification
first, outside the measured window):
  heartbeat    Heartbeat CALLs.
  metervalues  OCPP 1.6: StartTransaction once per station, then MeterValues (two sampled values, a new
               timestamp and a rising register each time) in that open transaction.
  boot-storm   all stations connect and send BootNotification at the same instant; reports the time until
               every one was Accepted, per-station p50/p99, and the failures by kind.
  hold         opens the connections (with their BootNotification), holds them --duration seconds, reports
               the server's (and PostgreSQL's) memory growth per connection and how many were dropped.

Load: --workers processes (multiprocessing), the stations split between them, each an asyncio (uvloop)
loop with picows connections. --mode closed (default): each station sends its next CALL as soon as the
previous answer arrives. --mode open --rate R: R CALLs/s in all, spread evenly over the stations; a station
never has two CALLs outstanding (OCPP-J), a CALL due while one is outstanding waits, and latency counts
from when it was due (no coordinated omission). --source-addrs N spreads the connections over 127.0.0.1 …
127.0.0.N, for more than ~28k connections (one ephemeral port range per source address); the open-files
limit (ulimit -Hn) still caps one process, the server included.

Measured window: --warmup seconds after all stations are ready, then --duration seconds; a CALL counts when
its answer arrives in the window. Reported per run: CALLs/s, latency p50/p99/max, errors (CALLERRORs,
unexpected closes, failed connects), the server's CPU time (as % of one core) and RSS, PostgreSQL's CPU
time and RSS/PSS (postmaster and all its children, from /proc), the generator's own CPU use (near 100 %
means the figures are the client's limit, not the server's), and CPU microseconds per CALL.

Pinning: --server-cpu 0 runs the server under `taskset -c 0` (its PostgreSQL inherits it; the pinning read
back from /proc is printed); --client-cpu 1 pins this script and its workers. --runs N runs each target N
times and reports the median; --compare echo,voltaic alternates the targets run by run and prints
voltaic/echo ratios of the medians. --json FILE writes every figure.

Independent of the server's code: it speaks OCPP-J over WebSocket and reads /proc, nothing else.
"""
import argparse
import array
import asyncio
import json
import multiprocessing as mp
import os
import sys
import time
from collections import deque

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402

TOKEN = "BENCHTAG"


# Worker: one process, many stations ---------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.latencies = array.array("d")
        self.ok = 0
        self.call_errors = 0
        self.error_samples = []
        self.connect_failures = {}
        self.unexpected_closes = 0
        self.sent = 0
        self.mismatched = 0

    def error(self, text):
        if len(self.error_samples) < 5:
            self.error_samples.append(text[:300])


def make_worker_globals():
    import picows

    class Station(picows.WSListener):
        __slots__ = ("w", "sid", "g", "transport", "seq", "expect", "sched", "waiter", "tx", "meter", "backlog", "closing", "connected")

        def __init__(self, w, sid, g):
            self.w, self.sid, self.g = w, sid, g
            self.transport = None
            self.seq = 0
            self.expect = None
            self.sched = 0.0
            self.waiter = None
            self.tx = 0
            self.meter = 0
            self.backlog = deque()
            self.closing = False
            self.connected = False

        def on_ws_connected(self, transport):
            self.transport = transport
            self.connected = True

        def on_ws_disconnected(self, transport):
            self.connected = False
            if not self.closing:
                self.w.stats.unexpected_closes += 1
            if self.waiter and not self.waiter.done():
                self.waiter.set_exception(ConnectionError("closed"))

        def on_ws_frame(self, transport, frame):
            mt = frame.msg_type
            if mt == picows.WSMsgType.TEXT:
                self.w.on_text(self, frame.get_payload_as_bytes())
            elif mt == picows.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

        # A CALL; `sched` is when it was due (latency counts from then).
        def call(self, action, payload, sched=None):
            self.seq += 1
            mid = b"%d" % self.seq
            self.expect = b'[3,"' + mid + b'"'
            self.sched = sched if sched is not None else time.perf_counter()
            self.transport.send(picows.WSMsgType.TEXT, b'[2,"' + mid + b'","' + action + b'",' + payload + b"]")
            self.w.stats.sent += 1

        async def call_and_wait(self, action, payload, timeout):
            self.waiter = asyncio.get_running_loop().create_future()
            self.call(action, payload)
            try:
                return await asyncio.wait_for(self.waiter, timeout)
            finally:
                self.waiter = None

    return picows, Station


class Worker:
    def __init__(self, wid, cfg, stations, conn):
        self.wid, self.cfg, self.stations_spec, self.conn = wid, cfg, stations, conn
        self.stats = Stats()
        self.window = (float("inf"), float("inf"))  # perf_counter bounds of the measured window
        self.running = False
        self.loop = None

    # The hot path: an answer arrived.
    def on_text(self, st, data):
        if st.expect is None or not data.startswith(st.expect):
            if data.startswith(b"[2,"):  # a CALL from the server: answer it, it is not ours to count
                try:
                    mid = json.loads(data)[1]
                    # {"status": "Accepted"} is a valid answer to the commands an operator sends (ChangeAvailability,
                    # Reset, TriggerMessage, ...).
                    st.transport.send(self.picows.WSMsgType.TEXT, json.dumps([3, mid, {"status": "Accepted"}]).encode())
                except (ValueError, IndexError):
                    pass
                return
            if st.expect is not None and data.startswith(b"[4,"):
                now = time.perf_counter()
                if self.window[0] <= now <= self.window[1] or st.waiter is not None:
                    self.stats.call_errors += 1
                    self.stats.error(data.decode(errors="replace"))
            else:
                self.stats.mismatched += 1
                self.stats.error("unexpected: " + data.decode(errors="replace"))
            st.expect = None
            if st.waiter and not st.waiter.done():
                st.waiter.set_exception(RuntimeError(data.decode(errors="replace")[:300]))
            elif self.running:
                self.next_call(st)
            return
        now = time.perf_counter()
        st.expect = None
        if st.waiter is not None:
            if not st.waiter.done():
                st.waiter.set_result(data)
            return
        if self.window[0] <= now <= self.window[1]:
            self.stats.latencies.append(now - st.sched)
            self.stats.ok += 1
        if self.running:
            self.next_call(st)

    def next_call(self, st, sched=None):
        if self.cfg["mode"] == "open":
            if not st.backlog:
                return
            sched = st.backlog.popleft()
        if not st.connected:
            return
        if self.cfg["scenario"] == "metervalues":
            st.meter += 1
            ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_767_225_600 + st.meter))
            payload = (
                b'{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":"%s","sampledValue":['
                b'{"value":"%d","measurand":"Energy.Active.Import.Register","unit":"Wh"},'
                b'{"value":"7.4","measurand":"Power.Active.Import","unit":"kW"}]}]}' % (st.tx, ts.encode(), st.meter * 10)
            )
            st.call(b"MeterValues", payload, sched)
        else:
            st.call(b"Heartbeat", b"{}", sched)

    def tick(self, st, due, interval):
        """Open loop: a CALL is due for this station now."""
        if not self.running:
            return
        if st.expect is None and not st.backlog:
            st.backlog.append(due)
            self.next_call(st)
        else:
            st.backlog.append(due)
        nxt = due + interval
        self.loop.call_later(max(0.0, nxt - time.perf_counter()), self.tick, st, nxt, interval)

    async def connect(self, spec, timeout):
        sid, g = spec
        cfg = self.cfg
        addrs = cfg["source_addrs"]
        kwargs = {}
        if addrs:
            kwargs["local_addr"] = (addrs[g % len(addrs)], 0)
        st = None

        def factory():
            nonlocal st
            st = self.Station(self, sid, g)
            return st

        await self.picows.ws_connect(
            factory, f"{cfg['ws_url']}/{sid}", extra_headers={"Sec-WebSocket-Protocol": cfg["subprotocol"]},
            websocket_handshake_timeout=timeout, max_redirects=0, **kwargs,
        )
        return st

    async def open_station(self, spec, timeout, sem=None):
        """Connect and boot one station; returns it, or None (counted by kind) on failure."""
        try:
            if sem:
                async with sem:
                    st = await self.connect(spec, timeout)
            else:
                st = await self.connect(spec, timeout)
        except Exception as e:  # noqa: BLE001 - every way a connect fails is counted by kind
            kind = type(e).__name__
            text = str(e)
            for code in ("401", "403", "404", "429", "500", "503"):
                if code in text:
                    kind += f" {code}"
                    break
            self.stats.connect_failures[kind] = self.stats.connect_failures.get(kind, 0) + 1
            self.stats.error(f"connect {spec[0]}: {kind}: {text}")
            return None
        try:
            reply = await st.call_and_wait(b"BootNotification", self.cfg["boot_payload"], timeout)
            if b'"Accepted"' not in reply:
                self.stats.connect_failures["boot not Accepted"] = self.stats.connect_failures.get("boot not Accepted", 0) + 1
                self.stats.error("boot: " + reply.decode(errors="replace"))
                return None
            if self.cfg["scenario"] == "metervalues":
                payload = b'{"connectorId":1,"idTag":"%s","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}' % TOKEN.encode()
                reply = json.loads(await st.call_and_wait(b"StartTransaction", payload, timeout))
                st.tx = int(reply[2]["transactionId"])
        except Exception as e:  # noqa: BLE001
            kind = "boot " + type(e).__name__
            self.stats.connect_failures[kind] = self.stats.connect_failures.get(kind, 0) + 1
            self.stats.error(f"boot {spec[0]}: {e}")
            st.closing = True
            st.transport.disconnect()
            return None
        return st

    async def recv(self):
        return await self.loop.run_in_executor(None, self.conn.recv)

    async def main(self):
        self.loop = asyncio.get_running_loop()
        self.picows, self.Station = make_worker_globals()
        cfg = self.cfg
        scenario = cfg["scenario"]
        cpu0 = time.process_time()
        if scenario == "boot-storm":
            self.conn.send(("ready", len(self.stations_spec), {}))
            start_at = await self.recv()  # a time.monotonic() instant, shared by every worker
            await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            cpu0 = time.process_time()
            times = array.array("d")

            async def storm(spec):
                st = await self.open_station(spec, cfg["storm_timeout"])
                if st is not None:
                    times.append(time.monotonic() - start_at)
                return st

            opened = await asyncio.gather(*(storm(s) for s in self.stations_spec))
            cpu = time.process_time() - cpu0
            result = self.result(cpu)
            result["accept_times"] = times.tobytes()
            await self.close_all([s for s in opened if s is not None])
            self.conn.send(("done", result))
            return

        sem = asyncio.Semaphore(cfg["connect_concurrency"])
        opened = await asyncio.gather(*(self.open_station(s, cfg["connect_timeout"], sem) for s in self.stations_spec))
        stations = [s for s in opened if s is not None]
        self.conn.send(("ready", len(stations), dict(self.stats.connect_failures)))
        start_at = await self.recv()
        if scenario == "hold":
            # Hold until told to stop; the server's pings are answered by picows.
            await self.recv()
            still = sum(1 for s in stations if s.connected)
            result = self.result(time.process_time() - cpu0)
            result["held"] = still
            await self.close_all(stations)
            self.conn.send(("done", result))
            return

        # heartbeat / metervalues
        now_pc, now_mono = time.perf_counter(), time.monotonic()
        w0 = now_pc + (start_at - now_mono) + cfg["warmup"]
        w1 = w0 + cfg["duration"]
        self.window = (w0, w1)
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        self.running = True
        if cfg["mode"] == "open":
            interval = cfg["total_stations"] / cfg["rate"]
            base = time.perf_counter()
            for st in stations:
                due = base + interval * (st.g / cfg["total_stations"])
                self.loop.call_later(max(0.0, due - time.perf_counter()), self.tick, st, due, interval)
        else:
            for st in stations:
                self.next_call(st)
        await asyncio.sleep(max(0.0, w0 - time.perf_counter()))
        cpu0 = time.process_time()
        await asyncio.sleep(max(0.0, w1 - time.perf_counter()))
        cpu = time.process_time() - cpu0
        self.running = False
        in_flight = sum(1 for s in stations if s.expect is not None)
        backlog = sum(len(s.backlog) for s in stations)
        result = self.result(cpu)
        result["in_flight_at_end"] = in_flight
        result["backlog_at_end"] = backlog
        await asyncio.sleep(0.2)
        await self.close_all(stations)
        self.conn.send(("done", result))

    async def close_all(self, stations):
        for s in stations:
            s.closing = True
            if s.connected:
                try:
                    s.transport.send_close(self.picows.WSCloseCode.OK)
                    s.transport.disconnect()
                except Exception:  # noqa: BLE001
                    pass
        await asyncio.sleep(0.1)

    def result(self, cpu):
        s = self.stats
        return {
            "latencies": s.latencies.tobytes(), "ok": s.ok, "call_errors": s.call_errors, "sent": s.sent, "mismatched": s.mismatched,
            "connect_failures": s.connect_failures, "unexpected_closes": s.unexpected_closes, "error_samples": s.error_samples,
            "client_cpu_s": cpu,
        }


def worker_entry(wid, cfg, stations, conn):
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    w = Worker(wid, cfg, stations, conn)
    try:
        asyncio.run(w.main())
    except Exception as e:  # noqa: BLE001
        conn.send(("failed", repr(e)))
        raise


# Orchestrator -------------------------------------------------------------------------------------------


def boot_payload(ocpp):
    if ocpp == "1.6":
        return b'{"chargePointVendor":"Bench","chargePointModel":"Load"}'
    return b'{"reason":"PowerUp","chargingStation":{"model":"Load","vendorName":"Bench"}}'


def run_once(target, args, run_index):
    n = args.stations
    ids = [f"B{i:06d}" for i in range(n)]
    extra = []
    if target == "voltaic" and args.provision == "accept":
        extra = ["--unknown-stations", "accept", "--max-unknown-stations", str(n)]
    if target == "voltaic" and n > 15_000:
        # The server's default cap is 15,000 stations; up to the open-file limit less 512 may be asked for.
        extra += ["--max-connections", str(min(n + 100, bc.raise_nofile() - 512))]
    binary = args.voltaic_bin if target == "voltaic" else args.echo_bin
    server = bc.Server(target, cpu=args.server_cpu, binary=binary, extra_args=extra, log_level=args.server_log_level)
    server.start()
    try:
        pinning = server.pinning()
        t = time.monotonic()
        if args.provision == "api":
            server.add_stations(ids)
        if args.scenario == "metervalues":
            server.add_token(TOKEN)
        provision_s = time.monotonic() - t
        cfg = {
            "scenario": args.scenario, "mode": args.mode, "rate": args.rate, "ws_url": server.ws_url, "total_stations": n,
            "subprotocol": "ocpp1.6" if args.scenario == "metervalues" else f"ocpp{args.ocpp}",
            "boot_payload": boot_payload("1.6" if args.scenario == "metervalues" else args.ocpp),
            "source_addrs": [f"127.0.0.{i + 1}" for i in range(args.source_addrs)] if args.source_addrs > 1 else [],
            "connect_concurrency": args.connect_concurrency, "connect_timeout": args.connect_timeout, "storm_timeout": args.storm_timeout,
            "warmup": args.warmup, "duration": args.duration,
        }
        ctx = mp.get_context("fork")
        workers = min(args.workers, n)
        pipes, procs = [], []
        before_connect = bc.snapshot(server)
        for wid in range(workers):
            mine = [(ids[g], g) for g in range(wid, n, workers)]
            parent, child = ctx.Pipe()
            p = ctx.Process(target=worker_entry, args=(wid, cfg, mine, child), daemon=True)
            p.start()
            pipes.append(parent)
            procs.append(p)
        ready, early_failures = gather_ready(pipes)
        connect_s = time.monotonic() - t - provision_s
        result = {"target": target, "run": run_index, "scenario": args.scenario, "stations": n, "ready": ready, "pinning": pinning,
                  "provision_s": provision_s, "connect_s": connect_s}
        start_at = time.monotonic() + 0.5
        if args.scenario == "boot-storm":
            s0 = bc.snapshot(server)
            for pipe in pipes:
                pipe.send(start_at)
            results = [collect(pipe) for pipe in pipes]
            s1 = bc.snapshot(server)
            result["server"] = bc.window(s0, s1)
            times = sorted(x for r in results for x in array.array("d", r["accept_times"]))
            accepted = len(times)
            result.update({
                "accepted": accepted, "failures": n - accepted,
                "all_accepted_s": times[-1] if accepted == n and n else None,
                "last_accepted_s": times[-1] if times else None,
                "accept_p50_ms": bc.percentile(times, 0.5) * 1000, "accept_p99_ms": bc.percentile(times, 0.99) * 1000,
            })
            merge_counts(result, results)
        elif args.scenario == "hold":
            for pipe in pipes:
                pipe.send(start_at)
            time.sleep(args.hold_settle)
            s_held = bc.snapshot(server)
            time.sleep(max(0.0, args.duration - args.hold_settle))
            s_end = bc.snapshot(server)
            for pipe in pipes:
                pipe.send("stop")
            results = [collect(pipe) for pipe in pipes]
            held = sum(r["held"] for r in results)
            per = max(1, ready)
            result.update({
                "connected": ready, "held_at_end": held,
                "server_rss_idle_mib": before_connect["server_rss_kib"] / 1024, "server_rss_held_mib": s_held["server_rss_kib"] / 1024,
                "server_kib_per_conn": (s_held["server_rss_kib"] - before_connect["server_rss_kib"]) / per,
                "pg_rss_idle_mib": before_connect["pg_rss_kib"] / 1024, "pg_rss_held_mib": s_held["pg_rss_kib"] / 1024,
                "pg_pss_kib_per_conn": (s_held["pg_pss_kib"] - before_connect["pg_pss_kib"]) / per,
                "server": bc.window(s_held, s_end),
            })
            merge_counts(result, results)
        else:
            for pipe in pipes:
                pipe.send(start_at)
            w0 = start_at + args.warmup
            time.sleep(max(0.0, w0 - time.monotonic()))
            s0 = bc.snapshot(server)
            time.sleep(max(0.0, w0 + args.duration - time.monotonic()))
            s1 = bc.snapshot(server)
            results = [collect(pipe) for pipe in pipes]
            lat = [x for r in results for x in array.array("d", r["latencies"])]
            ok = sum(r["ok"] for r in results)
            win = bc.window(s0, s1)
            result["server"] = win
            result.update(bc.latency_summary_ms(lat))
            result["calls_per_s"] = ok / args.duration
            result["in_flight_at_end"] = sum(r["in_flight_at_end"] for r in results)
            result["backlog_at_end"] = sum(r["backlog_at_end"] for r in results)
            result["cpu_us_per_call"] = (win["server_cpu_s"] + win["pg_cpu_s"]) / ok * 1e6 if ok else None
            result["client_cpu_pct"] = 100 * sum(r["client_cpu_s"] for r in results) / args.duration
            merge_counts(result, results)
        for p in procs:
            p.join(timeout=10)
        if target == "voltaic" and args.scenario == "metervalues":
            # What was stored, to compare with what was acknowledged (a check for the reader, not an assertion).
            rows = server.sql("SELECT (SELECT count(*) FROM meter_values), (SELECT count(*) FROM transactions)")
            result["db_meter_values"], result["db_transactions"] = int(rows[0][0]), int(rows[0][1])
            result["meter_values_sent"] = sum(r["sent"] for r in results) - 2 * ready
        return result
    finally:
        server.destroy(keep_log_to=args.keep_logs and f"{args.keep_logs}-{target}-{run_index}.log")


def gather_ready(pipes):
    """Waits for every worker's "ready": (stations connected and booted, failures by kind)."""
    ready, failures = 0, {}
    for pipe in pipes:
        msg = pipe.recv()
        if msg[0] == "failed":
            raise RuntimeError("worker failed: " + msg[1])
        ready += msg[1]
        for k, v in msg[2].items():
            failures[k] = failures.get(k, 0) + v
    return ready, failures


def collect(pipe):
    msg = pipe.recv()
    if msg[0] == "failed":
        raise RuntimeError("worker failed: " + msg[1])
    return msg[1]


def merge_counts(result, results):
    failures = {}
    for r in results:
        for k, v in r["connect_failures"].items():
            failures[k] = failures.get(k, 0) + v
    result["connect_failures"] = failures
    result["call_errors"] = sum(r["call_errors"] for r in results)
    result["unexpected_closes"] = sum(r["unexpected_closes"] for r in results)
    result["mismatched"] = sum(r["mismatched"] for r in results)
    result["errors"] = result["call_errors"] + result["unexpected_closes"] + result["mismatched"] + sum(failures.values())
    result["error_samples"] = [s for r in results for s in r["error_samples"]][:5]
    result["client_cpu_s"] = sum(r["client_cpu_s"] for r in results)


# Reporting ----------------------------------------------------------------------------------------------

LOAD_COLS = [("calls/s", "calls_per_s", "{:.0f}"), ("p50 ms", "p50_ms", "{:.2f}"), ("p99 ms", "p99_ms", "{:.2f}"), ("max ms", "max_ms", "{:.1f}"),
             ("errors", "errors", "{}"), ("srv cpu%", "server.server_cpu_pct", "{:.0f}"), ("srv MiB", "server.server_rss_mib", "{:.0f}"),
             ("pg cpu%", "server.pg_cpu_pct", "{:.0f}"), ("pg PSS MiB", "server.pg_pss_mib", "{:.0f}"), ("us/call", "cpu_us_per_call", "{:.0f}"),
             ("gen cpu%", "client_cpu_pct", "{:.0f}")]
STORM_COLS = [("accepted", "accepted", "{}"), ("failures", "failures", "{}"), ("all in s", "all_accepted_s", "{:.2f}"),
              ("last s", "last_accepted_s", "{:.2f}"), ("p50 ms", "accept_p50_ms", "{:.0f}"), ("p99 ms", "accept_p99_ms", "{:.0f}"),
              ("srv cpu s", "server.server_cpu_s", "{:.2f}"), ("pg cpu s", "server.pg_cpu_s", "{:.2f}"), ("srv MiB", "server.server_rss_mib", "{:.0f}")]
HOLD_COLS = [("connected", "connected", "{}"), ("held", "held_at_end", "{}"), ("srv idle MiB", "server_rss_idle_mib", "{:.1f}"),
             ("srv held MiB", "server_rss_held_mib", "{:.1f}"), ("srv KiB/conn", "server_kib_per_conn", "{:.1f}"),
             ("pg PSS KiB/conn", "pg_pss_kib_per_conn", "{:.2f}"), ("srv cpu% held", "server.server_cpu_pct", "{:.1f}"), ("errors", "errors", "{}")]


def columns(scenario):
    return {"boot-storm": STORM_COLS, "hold": HOLD_COLS}.get(scenario, LOAD_COLS)


def get(d, path):
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def fmt(fmtstr, v):
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return fmtstr.format(v)


def medians(rows, scenario):
    out = {}
    for _, key, _ in columns(scenario):
        out[key] = bc.median([get(r, key) for r in rows])
    return out


def print_table(all_rows, scenario, targets):
    cols = columns(scenario)
    header = ["target", "run"] + [c[0] for c in cols]
    lines = []
    summary = {}
    for target in targets:
        rows = [r for r in all_rows if r["target"] == target]
        for r in rows:
            lines.append([target, str(r["run"])] + [fmt(f, get(r, k)) for _, k, f in cols])
        med = medians(rows, scenario)
        summary[target] = med
        if len(rows) > 1:
            lines.append([target, "median"] + [fmt(f, med[k]) for _, k, f in cols])
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for l in lines:
        print("  ".join(c.rjust(w) for c, w in zip(l, widths)))
    ratios = {}
    if "echo" in summary and "voltaic" in summary:
        for label, key, _ in cols:
            a, b = summary["voltaic"].get(key), summary["echo"].get(key)
            if a is not None and b and a == a and b == b:
                ratios[key] = a / b
        keys = [k for k in ("calls_per_s", "p50_ms", "p99_ms", "max_ms", "cpu_us_per_call", "all_accepted_s", "accept_p99_ms", "server_kib_per_conn") if k in ratios]
        print("voltaic/echo (medians): " + ", ".join(f"{k} {ratios[k]:.3f}" for k in keys))
    return summary, ratios


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", choices=["voltaic", "echo"], default="voltaic")
    p.add_argument("--compare", help="comma-separated targets, run alternately, e.g. echo,voltaic")
    p.add_argument("--scenario", choices=["heartbeat", "metervalues", "boot-storm", "hold"], default="heartbeat")
    p.add_argument("--mode", choices=["closed", "open"], default="closed")
    p.add_argument("--rate", type=float, default=1000.0, help="open loop: CALLs per second in all")
    p.add_argument("--stations", type=int, default=200)
    p.add_argument("--workers", type=int, default=2, help="generator processes")
    p.add_argument("--source-addrs", type=int, default=1, help="spread connections over 127.0.0.1..N")
    p.add_argument("--ocpp", choices=["1.6", "2.0.1"], default="1.6", help="heartbeat, boot-storm, hold (metervalues is 1.6)")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds (hold: seconds held)")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--server-cpu", default=None, help="taskset CPU list for the server (and its PostgreSQL)")
    p.add_argument("--client-cpu", default=None, help="CPU list for this generator")
    p.add_argument("--provision", choices=["api", "accept"], default="api")
    p.add_argument("--connect-concurrency", type=int, default=200)
    p.add_argument("--connect-timeout", type=float, default=30.0)
    p.add_argument("--storm-timeout", type=float, default=120.0)
    p.add_argument("--hold-settle", type=float, default=5.0, help="hold: seconds after the last connect before memory is read")
    p.add_argument("--server-log-level", default="info", help="voltaic --log-level (default: the server's default, info)")
    p.add_argument("--voltaic-bin", default=bc.VOLTAIC_BIN)
    p.add_argument("--echo-bin", default=bc.ECHO_BIN)
    p.add_argument("--keep-logs", default=None, help="copy each server log to PREFIX-target-run.log")
    p.add_argument("--json", default=None)
    args = p.parse_args()

    targets = args.compare.split(",") if args.compare else [args.target]
    bc.pin_self(args.client_cpu)
    nofile = bc.raise_nofile()
    if args.stations // max(1, args.workers) > nofile - 100:
        sys.exit(f"{args.stations} stations over {args.workers} workers exceeds the open-files limit {nofile} per process")
    state = bc.machine_state()
    print(f"# scenario={args.scenario} mode={args.mode}{' rate=' + str(args.rate) if args.mode == 'open' else ''} stations={args.stations} "
          f"workers={args.workers} duration={args.duration}s warmup={args.warmup}s runs={args.runs} server-cpu={args.server_cpu} "
          f"client-cpu={args.client_cpu} loadavg={state['loadavg']} fuzzers={state['fuzzer_pids'] or 'none'}", flush=True)
    rows = []
    for run in range(1, args.runs + 1):
        for target in targets:
            r = run_once(target, args, run)
            rows.append(r)
            brief = {k: r.get(k) for k in ("calls_per_s", "p99_ms", "errors", "accepted", "all_accepted_s", "server_kib_per_conn", "db_meter_values",
                                           "meter_values_sent", "db_transactions") if r.get(k) is not None}
            print(f"# run {run} {target}: pinning {r['pinning']} ready {r['ready']}/{r['stations']} {json.dumps(brief)}"
                  + (f" errors e.g. {r['error_samples'][:2]}" if r.get("errors") else ""), flush=True)
    summary, ratios = print_table(rows, args.scenario, targets)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "machine": state, "machine_after": bc.machine_state(), "runs": rows, "medians": summary,
                       "ratios_voltaic_over_echo": ratios}, f, indent=2, default=str)


if __name__ == "__main__":
    main()
