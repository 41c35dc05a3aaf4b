#!/usr/bin/env python3
"""P1, the box-wide figure: N `voltaic serve` nodes (release build) sharing one PostgreSQL, each holding up to
`--per-node` stations (a process may hold up to its open-file limit, 20,000 here), together `--stations` connected and
booted at once by the load generator of `ocpp_bench.py` (its worker processes, spread over source addresses; the
stations are written into PostgreSQL first, in one statement). Then any
node commands any station: `--commands` ChangeAvailability CALLs, each sent through a random node's admin API to a
random station (most go to another node, by LISTEN/NOTIFY). Reports the time until all were connected and booted, the
failures by kind, the servers' RSS per held connection (all nodes together, against their RSS before the stations came),
PostgreSQL's, and the commands answered.

    .venv/bin/python Benchmarks/p1_box.py --nodes 6 --stations 100000 --source-addrs 8

Figures, not a test: nothing here asserts. Unpinned (6 nodes and PostgreSQL share the 2 cores with the generator)."""
import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import bench_common as bc  # noqa: E402
import ocpp_bench as ob  # noqa: E402


def command(node, station):
    req = urllib.request.Request(f"http://127.0.0.1:{node.port}/api/v1/stations/{station}/commands/ChangeAvailability",
                                 data=json.dumps({"connectorId": 0, "type": "Operative"}).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Bearer " + bc.ADMIN_TOKEN)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except OSError as e:
        return 0, str(e)


def run(args):
    limit = bc.raise_nofile()
    per_node = min(args.per_node, limit - 512)
    n, k = args.stations, args.nodes
    common = ["--max-connections", str(per_node)]
    nodes = [bc.Server("voltaic", binary=args.voltaic_bin, extra_args=common + ["--node-id", "p1n0"])]
    nodes[0].start()
    # The stations exist (registered by the operator, profile 0), written in one statement: the figure is connecting them.
    nodes[0].sql(f"INSERT INTO stations (id) SELECT 'P1' || lpad(g::text, 7, '0') FROM generate_series(0, {n - 1}) g")
    url = f"postgres://voltaic@/voltaic?host={nodes[0].data_dir}/postgres/run"
    try:
        for i in range(1, k):
            node = bc.Server("voltaic", binary=args.voltaic_bin, extra_args=common + ["--node-id", f"p1n{i}", "--database-url", url])
            node.start()
            nodes.append(node)
        before = [bc.snapshot(node) for node in nodes]
        ids = [f"P1{i:07d}" for i in range(n)]
        ctx = mp.get_context("fork")
        pipes, procs = [], []
        t0 = time.monotonic()
        for i, node in enumerate(nodes):
            mine = [(ids[g], g) for g in range(i, n, k)]
            cfg = {
                "scenario": "hold", "mode": "closed", "rate": 0, "ws_url": node.ws_url, "total_stations": len(mine), "subprotocol": "ocpp1.6",
                "boot_payload": ob.boot_payload("1.6"), "source_addrs": [f"127.0.0.{a + 1}" for a in range(args.source_addrs)],
                "connect_concurrency": args.connect_concurrency, "connect_timeout": args.connect_timeout, "storm_timeout": args.connect_timeout,
                "warmup": 0, "duration": 0,
            }
            for w in range(args.workers_per_node):
                share = mine[w::args.workers_per_node]
                parent, child = ctx.Pipe()
                p = ctx.Process(target=ob.worker_entry, args=(len(procs), cfg, share, child), daemon=True)
                p.start()
                pipes.append(parent)
                procs.append(p)
        ready, failures = ob.gather_ready(pipes)
        connect_s = time.monotonic() - t0
        for pipe in pipes:
            pipe.send(time.monotonic())
        time.sleep(args.settle)
        held = [bc.snapshot(node) for node in nodes]
        # Any node commands any station.
        rng = random.Random(7)
        answered, other_node, outcomes = 0, 0, {}
        for _ in range(args.commands):
            g = rng.randrange(n)
            via = rng.randrange(k)
            other_node += via != g % k
            status, body = command(nodes[via], ids[g])
            ok = status == 200 and "Accepted" in json.dumps(body)
            answered += ok
            key = "Accepted" if ok else f"HTTP {status}"
            outcomes[key] = outcomes.get(key, 0) + 1
        for pipe in pipes:
            pipe.send("stop")
        results = [ob.collect(pipe) for pipe in pipes]
        for p in procs:
            p.join(timeout=30)
        server_delta = sum(h["server_rss_kib"] - b["server_rss_kib"] for h, b in zip(held, before))
        pg_delta = held[0]["pg_pss_kib"] - before[0]["pg_pss_kib"]
        per = max(1, ready)
        return {
            "nodes": k, "stations": n, "per_node_cap": per_node, "connected": ready, "failures": failures,
            "held_at_end": sum(r["held"] for r in results), "connect_all_s": round(connect_s, 1),
            "server_rss_held_mib": round(sum(h["server_rss_kib"] for h in held) / 1024), "server_kib_per_conn": round(server_delta / per, 1),
            "pg_pss_kib_per_conn": round(pg_delta / per, 2), "commands": args.commands, "commands_answered": answered,
            "commands_through_another_node": other_node, "command_outcomes": outcomes,
        }
    finally:
        for node in reversed(nodes):
            node.destroy()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=6)
    p.add_argument("--stations", type=int, default=100_000)
    p.add_argument("--per-node", type=int, default=19_000)
    p.add_argument("--workers-per-node", type=int, default=2)
    p.add_argument("--source-addrs", type=int, default=8)
    p.add_argument("--connect-concurrency", type=int, default=100, help="handshakes in flight per generator process")
    p.add_argument("--connect-timeout", type=float, default=120.0)
    p.add_argument("--settle", type=float, default=10.0)
    p.add_argument("--commands", type=int, default=60)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--voltaic-bin", default=bc.VOLTAIC_BIN)
    p.add_argument("--json")
    args = p.parse_args()
    results = []
    for r in range(args.runs):
        result = run(args)
        result["run"] = r + 1
        print(json.dumps(result), flush=True)
        results.append(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
