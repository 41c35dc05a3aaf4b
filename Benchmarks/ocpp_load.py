#!/usr/bin/env python3
"""OCPP load benchmark: N stations over loopback, each running transactions (StartTransaction, MeterValues,
StopTransaction) as fast as Voltaic acknowledges them. Every acknowledgement means a PostgreSQL commit.

    .venv/bin/python Benchmarks/ocpp_load.py [--stations 200] [--transactions 5] [--samples 4] [--binary .build/release/voltaic]

Prints messages per second, latency percentiles per CALL, and the server's resident memory. The client is
one Python process on the same two cores, so the figures are a floor on what the server can do.
"""
import argparse
import asyncio
import datetime
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "Interop"))
from voltaic_server import VoltaicServer  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def station(server, sid, tag, args, latencies, stop_at):
    async with connect(f"{server.ws_url}/{sid}", subprotocols=["ocpp1.6"]) as ws:
        n = 0

        async def call(action, payload):
            nonlocal n
            n += 1
            t = time.perf_counter()
            await ws.send(json.dumps([2, str(n), action, payload]))
            reply = json.loads(await ws.recv())
            latencies.append(time.perf_counter() - t)
            assert reply[0] == 3, reply
            return reply[2]

        await call("BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "Load"})
        base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
        for k in range(args.transactions):
            t0 = base + datetime.timedelta(hours=k)
            r = await call("StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": k * 1000, "timestamp": t0.isoformat().replace("+00:00", "Z")})
            tx = r["transactionId"]
            for j in range(1, args.samples + 1):
                ts = (t0 + datetime.timedelta(minutes=j)).isoformat().replace("+00:00", "Z")
                await call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": ts, "sampledValue": [
                    {"value": str(k * 1000 + j * 100), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"}]}]})
            await call("StopTransaction", {"transactionId": tx, "meterStop": k * 1000 + 500, "timestamp": (t0 + datetime.timedelta(minutes=30)).isoformat().replace("+00:00", "Z")})


async def main(args):
    if args.binary:
        os.environ["VOLTAIC_BIN"] = os.path.abspath(args.binary)
    server = VoltaicServer().start()
    try:
        for i in range(args.stations):
            server.api("POST", "/stations", {"id": f"LOAD-{i}", "securityProfile": 0})
        server.api("POST", "/tokens", {"value": "BENCH"})
        idle = rss_kib(server.process.pid)
        latencies = []
        t = time.perf_counter()
        await asyncio.gather(*(station(server, f"LOAD-{i}", "BENCH", args, latencies, None) for i in range(args.stations)))
        elapsed = time.perf_counter() - t
        busy = rss_kib(server.process.pid)
        latencies.sort()
        q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000  # noqa: E731
        print(f"stations={args.stations} calls={len(latencies)} elapsed={elapsed:.2f}s rate={len(latencies) / elapsed:.0f} calls/s")
        print(f"latency ms: p50={q(0.50):.1f} p95={q(0.95):.1f} p99={q(0.99):.1f} max={latencies[-1] * 1000:.1f} mean={statistics.mean(latencies) * 1000:.1f}")
        print(f"server RSS: idle={idle / 1024:.1f} MiB, after load with {args.stations} sockets={busy / 1024:.1f} MiB")
        rows = server.sql("SELECT count(*), sum(energy_wh) FROM transactions")
        print(f"transactions stored={rows[0][0]} energy_wh_total={rows[0][1]}")
    finally:
        server.destroy()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--stations", type=int, default=200)
    p.add_argument("--transactions", type=int, default=5)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--binary", default=None)
    asyncio.run(main(p.parse_args()))
