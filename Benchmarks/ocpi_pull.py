#!/usr/bin/env python3
"""A full OCPI 2.2.1 pull of the locations module, as an eMSP does it: every page, following `Link`, from a
server holding N locations with E EVSEs each (one connector each, with a reported status).

The catalog is seeded with SQL (the benchmark measures reads; CatalogTests and test_ocpi.py cover the write
path). The eMSP is the independent one of Tests/Interop/emsp. Figures: the whole pull's time and the p50, p99 and
max of one page, median of `--runs` pulls, server and PostgreSQL pinned to one cpu, the client to another."""
import argparse
import base64
import http.client
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Interop"))
from bench_common import Server, latency_summary_ms, median, pin_self  # noqa: E402
from emsp.party import EMSP  # noqa: E402

SEED = """
INSERT INTO stations (id, security_profile, online) SELECT 'S' || lpad(i::text, 6, '0'), 0, true FROM generate_series(1, {n}) i;
INSERT INTO locations (id, country_code, party_id, publish, time_zone, body, last_updated)
SELECT 'LOC' || lpad(i::text, 6, '0'), 'NL', 'VOL', true, 'Europe/Amsterdam',
       jsonb_build_object('country_code', 'NL', 'party_id', 'VOL', 'id', 'LOC' || lpad(i::text, 6, '0'), 'publish', true,
                          'name', 'Site ' || i, 'address', 'Street ' || i, 'city', 'Amsterdam', 'postal_code', '1012AB', 'country', 'NLD',
                          'coordinates', jsonb_build_object('latitude', '52.37302', 'longitude', '4.89281'), 'time_zone', 'Europe/Amsterdam',
                          'owner', jsonb_build_object('name', 'Host ' || i), 'facilities', jsonb_build_array('CAFE')),
       timestamptz '2026-01-01' + i * interval '1 second'
FROM generate_series(1, {n}) i;
INSERT INTO evses (uid, location_id, station_id, evse_id, body, last_updated)
SELECT 'S' || lpad(i::text, 6, '0') || '-' || k, 'LOC' || lpad(i::text, 6, '0'), 'S' || lpad(i::text, 6, '0'), k,
       jsonb_build_object('evse_id', 'NL*VOL*E' || i || '*' || k, 'capabilities', jsonb_build_array('RFID_READER')),
       timestamptz '2026-01-01' + i * interval '1 second'
FROM generate_series(1, {n}) i, generate_series(1, {e}) k;
INSERT INTO evse_connectors (evse_uid, connector_id, body, tariff_ids, last_updated)
SELECT uid, 1, '{{"standard":"IEC_62196_T2","format":"SOCKET","power_type":"AC_3_PHASE","max_voltage":230,"max_amperage":32}}'::jsonb, '{{}}', last_updated FROM evses;
INSERT INTO connectors (station_id, evse_id, connector_id, status, status_at)
SELECT station_id, evse_id, 1, CASE WHEN evse_id % 3 = 0 THEN 'Charging' ELSE 'Available' END, now() FROM evses;
ANALYZE;
"""


def pull(url, token):
    """One full pull: (seconds, [page seconds], objects, evses)."""
    pages, objects, evses = [], 0, 0
    start = time.perf_counter()
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    auth = "Token " + base64.b64encode(token.encode()).decode()
    next_url = url
    while next_url:
        p = urllib.parse.urlsplit(next_url)
        t0 = time.perf_counter()
        conn.request("GET", p.path + ("?" + p.query if p.query else ""), headers={"Authorization": auth})
        r = conn.getresponse()
        body = json.loads(r.read())
        pages.append(time.perf_counter() - t0)
        assert r.status == 200 and body["status_code"] == 1000, body
        objects += len(body["data"])
        evses += sum(len(x["evses"]) for x in body["data"])
        link = r.getheader("Link")
        next_url = link[1:link.index(">")] if link else None
    conn.close()
    return time.perf_counter() - start, pages, objects, evses


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--locations", type=int, default=10_000)
    ap.add_argument("--evses", type=int, default=5, help="EVSEs per location")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    args = ap.parse_args()
    if args.client_cpu:
        pin_self(args.client_cpu)
    server = Server("voltaic", cpu=args.server_cpu).start()
    emsp = EMSP()
    try:
        server.sql(SEED.format(n=args.locations, e=args.evses))
        status, partner = server.request("POST", "/api/v1/ocpi/partners", {"name": "bench eMSP"})
        assert status == 201, partner
        token_a, versions = partner["tokenA"], partner["ourVersionsUrl"]
        _, _, details = emsp.call("GET", versions.replace("/versions", "/2.2.1"), token_a)
        cred = [e["url"] for e in details["data"]["endpoints"] if e["identifier"] == "credentials"][0]
        locations = [e["url"] for e in details["data"]["endpoints"] if e["identifier"] == "locations"][0]
        _, _, answer = emsp.call("POST", cred, token_a, emsp.credentials())
        token = answer["data"]["token"]
        print(f"# ocpi pull: {args.locations} locations x {args.evses} EVSEs, server cpu {args.server_cpu}, client cpu {args.client_cpu}")
        print(" run  total s  pages  objects   evses  page p50 ms  page p99 ms  page max ms")
        totals, p50s, p99s, maxes = [], [], [], []
        for run in range(1, args.runs + 1):
            seconds, pages, objects, evses = pull(locations, token)
            assert objects == args.locations and evses == args.locations * args.evses, (objects, evses)
            s = latency_summary_ms(pages)
            totals.append(seconds); p50s.append(s["p50_ms"]); p99s.append(s["p99_ms"]); maxes.append(s["max_ms"])
            print(f"{run:4d} {seconds:8.2f} {len(pages):6d} {objects:8d} {evses:7d} {s['p50_ms']:12.1f} {s['p99_ms']:12.1f} {s['max_ms']:12.1f}")
        print(f" med {median(totals):8.2f} {'':6} {'':8} {'':7} {median(p50s):12.1f} {median(p99s):12.1f} {median(maxes):12.1f}")
    finally:
        emsp.close()
        server.destroy()


if __name__ == "__main__":
    main()
