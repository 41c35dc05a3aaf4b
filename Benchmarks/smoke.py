#!/usr/bin/env python3
"""The 200-station smoke: every station connects, boots, and sends 5 Heartbeats, all at once, on loopback.

    .venv/bin/python Benchmarks/smoke.py [--stations 200] [--heartbeats 5] [--binary .build/release/voltaic] [--runs 3]

Prints, per run and as the median of the runs, the CALLs answered, the calls/s over the whole smoke, and
latency p50/p99/max per CALL. Every CALL must be answered with a CALLRESULT; any other answer is counted
as a failure. A figure, not a test: nothing here asserts a time.
"""
import argparse
import asyncio
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "Interop"))
from voltaic_server import VoltaicServer  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402


async def station(server, sid, heartbeats, latencies, failures):
    async with connect(f"{server.ws_url}/{sid}", subprotocols=["ocpp1.6"], open_timeout=60) as ws:
        calls = [("BootNotification", {"chargePointVendor": "Smoke", "chargePointModel": "S"})] + [("Heartbeat", {})] * heartbeats
        for n, (action, payload) in enumerate(calls):
            t = time.perf_counter()
            await ws.send(json.dumps([2, str(n), action, payload]))
            reply = json.loads(await ws.recv())
            latencies.append((time.perf_counter() - t, action))
            if reply[0] != 3:
                failures.append(reply)


async def one_run(args):
    server = VoltaicServer().start()
    try:
        for i in range(args.stations):
            status, body = server.api("POST", "/stations", {"id": f"SMOKE-{i}", "securityProfile": 0})
            assert status == 201, body
        latencies, failures = [], []
        t = time.perf_counter()
        await asyncio.gather(*(station(server, f"SMOKE-{i}", args.heartbeats, latencies, failures) for i in range(args.stations)))
        elapsed = time.perf_counter() - t
    finally:
        server.destroy()
    def q(values, p):
        return values[min(len(values) - 1, int(p * len(values)))] * 1000
    every = sorted(t for t, _ in latencies)
    boots = sorted(t for t, a in latencies if a == "BootNotification")
    beats = sorted(t for t, a in latencies if a == "Heartbeat")
    return {"calls": len(every), "failures": len(failures), "calls_per_s": len(every) / elapsed,
            "p50_ms": q(every, 0.50), "p99_ms": q(every, 0.99), "max_ms": every[-1] * 1000,
            "boot_p99_ms": q(boots, 0.99), "heartbeat_p99_ms": q(beats, 0.99)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stations", type=int, default=200)
    p.add_argument("--heartbeats", type=int, default=5)
    p.add_argument("--binary", default=".build/release/voltaic")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    os.environ["VOLTAIC_BIN"] = os.path.abspath(args.binary)
    results = []
    for r in range(args.runs):
        res = asyncio.run(one_run(args))
        results.append(res)
        print(f"run {r + 1}: " + " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()))
    med = {k: statistics.median(x[k] for x in results) for k in results[0]}
    print("median: " + " ".join(f"{k}={v:.1f}" for k, v in med.items()))


if __name__ == "__main__":
    main()
