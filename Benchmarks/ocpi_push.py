#!/usr/bin/env python3
"""OCPI pushes end to end: N location changes committed at once (outbox events written with SQL, as the catalog
service writes them), relayed into the push queue, claimed and PUT to the independent eMSP of Tests/Interop/emsp,
until it has received all N. The same N Location bodies PUT straight to the same eMSP by a bare client with the same
concurrency (32, the push worker's batch) are the baseline: the ratio says what the queue, its PostgreSQL round
trips and the current-state reads cost on top of the HTTP itself. Server and PostgreSQL pinned to one cpu, the
eMSP and the bare client to the other; median of `--runs`."""
import argparse
import base64
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Interop"))
from bench_common import Server, median, pin_self  # noqa: E402
from emsp.party import EMSP  # noqa: E402
from ocpi_pull import SEED  # noqa: E402

CONCURRENCY = 32


def accepted(emsp, since):
    # Counted under the eMSP's lock without copying the pushes (a deep copy of thousands every poll would starve it).
    with emsp.lock:
        return sum(1 for p in emsp.pushes[since:] if p["accepted"])


def bare(emsp, bodies):
    """PUTs every body to the eMSP with CONCURRENCY connections; seconds."""
    url = urllib.parse.urlsplit(emsp.base)
    auth = "Token " + base64.b64encode(emsp.token_b.encode()).decode()
    local = threading.local()

    def put(body):
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        raw = json.dumps(body).encode()
        local.conn.request("PUT", f"/ocpi/emsp/2.2.1/locations/NL/VOL/{body['id']}", body=raw,
                           headers={"Authorization": auth, "Content-Type": "application/json", "X-Request-ID": "bare"})
        r = local.conn.getresponse()
        r.read()
        assert r.status == 200, r.status

    start = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(put, bodies))
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--locations", type=int, default=2_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    ap.add_argument("--binary", help="the voltaic binary (default: the release build)")
    args = ap.parse_args()
    if args.client_cpu:
        pin_self(args.client_cpu)
    server = Server("voltaic", cpu=args.server_cpu, binary=args.binary).start()
    emsp = EMSP()
    try:
        server.sql(SEED.format(n=args.locations, e=1))
        status, partner = server.request("POST", "/api/v1/ocpi/partners", {"name": "bench eMSP"})
        assert status == 201, partner
        token_a, versions = partner["tokenA"], partner["ourVersionsUrl"]
        _, _, details = emsp.call("GET", versions.replace("/versions", "/2.2.1"), token_a)
        cred = [e["url"] for e in details["data"]["endpoints"] if e["identifier"] == "credentials"][0]
        locations_url = [e["url"] for e in details["data"]["endpoints"] if e["identifier"] == "locations"][0]
        _, _, answer = emsp.call("POST", cred, token_a, emsp.credentials())
        token = answer["data"]["token"]
        bodies, _, _ = emsp.pull_all(locations_url, token, 100)
        assert len(bodies) == args.locations
        print(f"# ocpi push: {args.locations} location PUTs, server cpu {args.server_cpu}, eMSP and bare client cpu {args.client_cpu}")
        print(" run  voltaic s  pushes/s   bare s   bare/s  ratio")
        rates, bare_rates = [], []
        for run in range(1, args.runs + 1):
            with emsp.lock:
                since = len(emsp.pushes)
            start = time.perf_counter()
            server.sql("INSERT INTO outbox (topic, payload) SELECT 'location.updated', jsonb_build_object('location_id', id) FROM locations ORDER BY id")
            while accepted(emsp, since) < args.locations:
                time.sleep(0.05)
                assert time.perf_counter() - start < 600, f"only {accepted(emsp, since)} of {args.locations} delivered"
            seconds = time.perf_counter() - start
            bare_seconds = bare(emsp, bodies)
            rate, bare_rate = args.locations / seconds, args.locations / bare_seconds
            rates.append(rate)
            bare_rates.append(bare_rate)
            print(f"{run:4d} {seconds:10.2f} {rate:9.0f} {bare_seconds:8.2f} {bare_rate:8.0f} {rate / bare_rate:6.2f}")
        print(f" med {'':10} {median(rates):9.0f} {'':8} {median(bare_rates):8.0f} {median(rates) / median(bare_rates):6.2f}")
    finally:
        emsp.close()
        server.destroy()


if __name__ == "__main__":
    main()
