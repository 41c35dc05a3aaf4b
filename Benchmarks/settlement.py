#!/usr/bin/env python3
"""Settlement end to end: N ended, held sessions captured, receipted, batched and anchored on chain.

Each run starts a fresh `voltaic serve` (release, embedded PostgreSQL, both pinned to --server-cpu) with anchoring on
the test EVM of Tests/Chain (py-evm behind JSON-RPC, pinned with this script to --client-cpu; the anchor contract is
deployed by `voltaic chain deploy`), 1 confirmation, batches of at most 10,000 receipts or 1 s. A tariff (0.40 EUR/kWh
+ 21 % VAT), a location with a host and an 80/15/5 split, stations, a driver with a token and a large top-up are made
through the admin API; then, with SQL in bulk, the rows an OCPP 1.6 session leaves behind when it ends: N Ended
transactions of 7.5 kWh (with their Energy.Active.Import.Register reading), N holds of 10.00 EUR with the tariff
snapshot, their hold journal entries and postings. None of it is visible to the settlement workers until the last
statement, which puts all N in `settlement_queue` at once: t0 is the database clock just before its COMMIT, the
moment every session "ended".

Figures, per run: receipts/s = N / (last receipt's created_at - t0), with 4 capture loops (one transaction each per
session: price, capture and release entries, split, hold update, signed receipt, queue delete); session end to
finality = the last anchor job's final save - t0 (every batch anchored and final, every receipt in a batch); the
batches and their sizes; batch created -> anchor final, p50 and max; server and PostgreSQL CPU seconds.

The baseline, measured in the same run on the same PostgreSQL: pgbench (4 clients, like the 4 capture loops,
pinned to --server-cpu like the server) doing, per transaction, the writes one capture makes and nothing else:
claim the lowest queue entry (FOR UPDATE SKIP LOCKED, on its primary key), the capture entry and its 4 postings,
the release entry and its 2 postings, the hold's UPDATE, the receipt INSERT (a bytea of the run's mean receipt
size, a 64-byte signature), the queue DELETE; against copies of the tables (same columns, indexes, checks, foreign
keys and the postings balance trigger) in a scratch schema, prepared statements. The ratio is Voltaic's receipts/s
over pgbench's tps: what the reads, pricing, signing and round trips cost on top of the bare writes. The same
floor is run again with `-M extended` (each statement parsed and planned on every execution, as the server's unnamed
statements are), for what planning alone costs; it is shown, not used in the ratio. Median of `--runs`.
"""
import argparse
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_common as bc  # noqa: E402

EVM_SERVER = os.path.join(bc.ROOT, "Tests", "Chain", "evm_rpc_server.py")
OWNER_KEY = "00" * 31 + "01"  # the test EVM's funded owner
TAG = "BENCH"
TARIFF, LOCATION, DRIVER, TOKEN = f"T-{TAG}", f"LOC-{TAG}", f"drv-{TAG.lower()}", f"{TAG}TOKEN01"
HOST, REFERRER = f"host-{TAG.lower()}", f"ref-{TAG.lower()}"
HOLD, ENERGY_WH = "10.00", 7500
# 7.5 kWh x 0.40 x 1.21 = 3.63 captured, 6.37 released; 80/15/5 of 3.63, rounded down, the rest to the host.
CAPTURE, RELEASE, SHARES = "3.63", "6.37", {"host": "2.91", "platform": "0.54", "referrer": "0.18"}
CLIENTS = 4  # the server's capture loops

SEED = """
\\set ON_ERROR_STOP on
BEGIN;
INSERT INTO accounts (kind, owner, currency) VALUES ('driver_hold', '{driver}', 'EUR') ON CONFLICT DO NOTHING;
CREATE TEMP TABLE seed ON COMMIT DROP AS
    SELECT nextval('transactions_id_seq') AS id, g AS n, '{prefix}' || lpad((1 + g % {stations})::text, 3, '0') AS station
    FROM generate_series(1, {n}) g;
-- 1.6 transactions: uid is the id; one start per station and second (the start identity is unique).
INSERT INTO transactions (id, uid, station_id, evse_id, connector_id, id_token, state, started_at, stopped_at, meter_start_wh,
                          meter_stop_wh, energy_wh, stop_reason, ocpp_version, created_at, updated_at)
SELECT id, id::text, station, 1, 1, '{token}', 'Ended', ts - interval '45 minutes', ts, 0, {wh}, {wh}, 'Local', 'ocpp1.6',
       ts - interval '45 minutes', ts
FROM seed, LATERAL (SELECT date_trunc('second', now()) - interval '10 minutes' - (n / {stations}) * interval '1 second' AS ts) x;
INSERT INTO meter_values (station_id, evse_id, transaction_id, sampled_at, measurand, phase, location, context, value, unit, raw_value)
SELECT station_id, 1, id, stopped_at, 'Energy.Active.Import.Register', '', 'Outlet', 'Transaction.End', {wh}, 'Wh', '{wh}'
FROM transactions WHERE id_token = '{token}';
-- The holds as holdBasis sizes them: the tariff's body, the location's clock; attached to the transaction.
INSERT INTO holds (driver_id, currency, amount, state, id_token, station_id, transaction_id, tariff, time_zone, location_id, created_at)
SELECT '{driver}', 'EUR', {hold}, 'held', t.id_token, t.station_id, t.id, tf.body, l.time_zone, l.id, t.started_at
FROM transactions t, tariffs tf, locations l WHERE t.id_token = '{token}' AND tf.id = '{tariff}' AND l.id = '{location}';
INSERT INTO journal_entries (kind, hold_id, idempotency_key, memo, created_at)
SELECT 'hold', id, 'hold:' || id, 'funds hold', created_at FROM holds WHERE driver_id = '{driver}';
-- Every entry's two postings in one statement: the balance trigger checks each statement.
INSERT INTO postings (entry_id, account_id, amount)
SELECT e.id, a.id, CASE a.kind WHEN 'driver' THEN -h.amount ELSE h.amount END
FROM journal_entries e JOIN holds h ON h.id = e.hold_id
JOIN accounts a ON a.owner = h.driver_id AND a.currency = h.currency AND a.kind IN ('driver', 'driver_hold')
WHERE e.kind = 'hold';
COMMIT;
ANALYZE transactions, meter_values, holds, journal_entries, postings, accounts;
"""

# The only statement the settlement workers can see: every session ended at once.
RELEASE_QUEUE = """
\\set ON_ERROR_STOP on
BEGIN;
INSERT INTO settlement_queue (transaction_id) SELECT id FROM transactions WHERE id_token = '{token}' AND state = 'Ended' ORDER BY id;
SELECT extract(epoch FROM clock_timestamp());
COMMIT;
"""

PROGRESS = """
SELECT (SELECT count(*) FROM settlement_queue), (SELECT count(*) FROM settlement_queue WHERE attempts > 0),
       (SELECT count(*) FROM receipt_batches), (SELECT coalesce(sum(size), 0) FROM receipt_batches),
       (SELECT count(*) FROM receipt_batches b JOIN anchor_jobs j ON j.id = b.anchor_job_id WHERE j.body->'state' ? 'final'),
       (SELECT count(*) FROM anchor_jobs WHERE body->'state' ? 'failed')
"""

# The floor's tables: copies of the real ones (columns, defaults, checks, indexes), their foreign keys, and the
# postings balance trigger (its function names `postings` unqualified: with search_path floor,public it checks these),
# holding what the real ones held at t0.
FLOOR_SETUP = """
\\set ON_ERROR_STOP on
DROP SCHEMA IF EXISTS floor CASCADE;
CREATE SCHEMA floor;
CREATE TABLE floor.holds (LIKE public.holds INCLUDING ALL);
CREATE TABLE floor.journal_entries (LIKE public.journal_entries INCLUDING ALL);
CREATE TABLE floor.postings (LIKE public.postings INCLUDING ALL);
CREATE TABLE floor.receipts (LIKE public.receipts INCLUDING ALL);
CREATE TABLE floor.settlement_queue (LIKE public.settlement_queue INCLUDING ALL);
INSERT INTO floor.holds (id, driver_id, currency, amount, state, id_token, station_id, transaction_id, tariff, time_zone, location_id, created_at)
SELECT id, driver_id, currency, amount, 'held', id_token, station_id, transaction_id, tariff, time_zone, location_id, created_at FROM public.holds ORDER BY id;
INSERT INTO floor.settlement_queue (transaction_id) SELECT transaction_id FROM floor.holds ORDER BY id LIMIT {total};
-- The ledger as Voltaic's run found it at t0: the top-up and every hold's entry, with their postings.
INSERT INTO floor.journal_entries SELECT * FROM public.journal_entries WHERE kind IN ('topup', 'hold') ORDER BY id;
INSERT INTO floor.postings SELECT p.* FROM public.postings p JOIN floor.journal_entries e ON e.id = p.entry_id ORDER BY p.id;
ALTER TABLE floor.holds ADD FOREIGN KEY (driver_id) REFERENCES public.drivers (id), ADD FOREIGN KEY (transaction_id) REFERENCES public.transactions (id);
ALTER TABLE floor.journal_entries ADD FOREIGN KEY (hold_id) REFERENCES floor.holds (id);
ALTER TABLE floor.postings ADD FOREIGN KEY (entry_id) REFERENCES floor.journal_entries (id), ADD FOREIGN KEY (account_id) REFERENCES public.accounts (id);
ALTER TABLE floor.receipts ADD FOREIGN KEY (transaction_id) REFERENCES public.transactions (id), ADD FOREIGN KEY (hold_id) REFERENCES floor.holds (id);
ALTER TABLE floor.settlement_queue ADD FOREIGN KEY (transaction_id) REFERENCES public.transactions (id);
CREATE TRIGGER postings_balanced AFTER INSERT ON floor.postings REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION public.ledger_entries_balanced();
-- Analyzed as the seed analyzed the real ones (the queue and the receipts were not).
VACUUM ANALYZE floor.holds, floor.journal_entries, floor.postings;
"""

# One capture's writes. Names unqualified: PGOPTIONS puts the floor schema first.
FLOOR_SCRIPT = """BEGIN;
SELECT transaction_id AS tid FROM settlement_queue WHERE not_before <= now() ORDER BY transaction_id LIMIT 1 FOR UPDATE SKIP LOCKED \\gset
UPDATE holds SET state = 'captured', captured = {capture}, settled_at = now() WHERE transaction_id = :tid::int8 AND state = 'held' RETURNING id AS hid \\gset
INSERT INTO journal_entries (kind, hold_id, idempotency_key, memo) VALUES ('capture', :hid::int8, 'capture:' || :hid::text, 'session charge') RETURNING id AS ce \\gset
INSERT INTO postings (entry_id, account_id, amount) VALUES (:ce::int8, {hold_acct}, -{capture}), (:ce::int8, {host_acct}, {host}), (:ce::int8, {platform_acct}, {platform}), (:ce::int8, {referrer_acct}, {referrer});
INSERT INTO journal_entries (kind, hold_id, idempotency_key, memo) VALUES ('release', :hid::int8, 'release:' || :hid::text, 'unused hold') RETURNING id AS re \\gset
INSERT INTO postings (entry_id, account_id, amount) VALUES (:re::int8, {hold_acct}, -{release}), (:re::int8, {driver_acct}, {release});
INSERT INTO receipts (id, transaction_id, hold_id, body, signature, key_id, secret, token_salt)
SELECT gen_random_uuid(), :tid::int8, :hid::int8, substring(decode(string_agg(md5(:tid::text || '-' || g), '' ORDER BY g), 'hex') FROM 1 FOR {body_bytes}),
       decode(md5(:tid::text || 's1') || md5(:tid::text || 's2') || md5(:tid::text || 's3') || md5(:tid::text || 's4'), 'hex'), '{key_id}',
       md5(random()::text) || substr(md5(random()::text), 1, 16), md5(random()::text)
FROM generate_series(1, {md5s}) g;
DELETE FROM settlement_queue WHERE transaction_id = :tid::int8;
END;
"""


# Plumbing ---------------------------------------------------------------------------------------------------------


def psql(server, script, options=None):
    """A script through psql on the embedded cluster (stdin, stops at the first error); its output rows."""
    env = dict(os.environ)
    if options:
        env["PGOPTIONS"] = options
    cmd = ["psql", "-h", os.path.join(server.data_dir, "postgres", "run"), "-U", "voltaic", "-d", "voltaic", "-X", "-q", "-At", "-F", "\t",
           "-v", "ON_ERROR_STOP=1", "-f", "-"]
    r = subprocess.run(cmd, input=script, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed ({r.returncode}): {r.stderr.strip()[:2000]}")
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def one(server, query):
    rows = psql(server, query + ";\n")
    return rows[0] if rows else []


def start_evm(log_path):
    log = open(log_path, "ab")
    p = subprocess.Popen([sys.executable, EVM_SERVER, "--port", "0"], stdout=subprocess.PIPE, stderr=log, text=True)
    log.close()
    line = p.stdout.readline()
    m = re.match(r"listening on (http://127\.0\.0\.1:\d+)", line)
    if not m:
        p.kill()
        p.wait()
        raise RuntimeError(f"the test EVM did not start (is this the venv's python, with eth-tester?): {line!r}")
    return p, m.group(1)


def stop_evm(p):
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def write_key(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(OWNER_KEY + "\n")
    os.chmod(path, 0o600)


def deploy(binary, rpc, key_file):
    r = subprocess.run([binary, "chain", "deploy", "--rpc", rpc, "--key-file", key_file], capture_output=True, text=True, timeout=180)
    address = r.stdout.strip()
    if r.returncode != 0 or not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
        raise RuntimeError(f"voltaic chain deploy failed: {r.stdout}{r.stderr}")
    return address


def api(server, method, path, body=None, expect=(200, 201)):
    status, answer = server.request(method, "/api/v1" + path, body)
    if status not in expect:
        raise RuntimeError(f"{method} {path}: {status} {answer}")
    return answer


def provision(server, stations):
    """Tariff, location with host and split, stations with EVSE 1 there, a token, a driver topped up: the admin API."""
    api(server, "PUT", f"/tariffs/{TARIFF}", {
        "country_code": "NL", "party_id": "VOL", "currency": "EUR", "type": "REGULAR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.40, "vat": 21.0, "step_size": 1}]}],
    })
    api(server, "PUT", f"/locations/{LOCATION}", {
        "country_code": "NL", "party_id": "VOL", "publish": True, "name": "Bench site", "address": "Stationsplein 1", "city": "Amsterdam",
        "postal_code": "1012AB", "country": "NLD", "coordinates": {"latitude": "52.37902", "longitude": "4.90001"},
        "time_zone": "Europe/Amsterdam", "owner": {"name": "Alice"}, "opening_times": {"twentyfourseven": True},
    })
    api(server, "PUT", f"/locations/{LOCATION}/host", {"host": HOST})
    api(server, "POST", "/split-rules", {"scope": f"location:{LOCATION}", "hostBp": 8000, "platformBp": 1500, "referrerBp": 500,
                                        "referrer": REFERRER, "remainder": "host", "validFrom": "2020-01-01T00:00:00Z"})
    for i in range(1, stations + 1):
        sid = f"SETL-{TAG}-{i:03d}"
        api(server, "POST", "/stations", {"id": sid, "securityProfile": 0})
        api(server, "PUT", f"/stations/{sid}/evses/1", {
            "location_id": LOCATION, "evse_id": f"NL*VOL*E{TAG}{i:03d}*1",
            "connectors": [{"id": 1, "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 230,
                            "max_amperage": 16, "max_electric_power": 11000, "tariff_ids": [TARIFF]}],
        })
    api(server, "POST", "/tokens", {"value": TOKEN}, expect=(201, 409))
    api(server, "PUT", f"/drivers/{DRIVER}", {"tokens": [TOKEN], "postpaid": False})
    api(server, "POST", f"/drivers/{DRIVER}/topups", {"currency": "EUR", "amount": "100000000.00", "reference": "bench"})


def log_problems(path):
    """Warnings and worse in the server's log (text lines `ts level label: metadata [source] message`, or JSON):
    (count, {level: message -> (count, first line)})."""
    seen, total = {}, 0
    try:
        with open(path, errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                    level, message = rec.get("level"), rec.get("message", "")
                except ValueError:
                    m = re.match(r"^\S+ (\w+) [^:]*: (.*)$", line.strip())
                    if not m:
                        continue
                    level, rest = m.groups()
                    # The message follows the last [Source] tag; the metadata before it varies line by line.
                    tag = list(re.finditer(r"\[[A-Za-z]+\] ", rest))
                    message = rest[tag[-1].end():] if tag else rest
                    # Numbers (ids, transaction numbers) vary too: one key per kind of message.
                    message = re.sub(r"\d+", "N", message)[:160]
                if level in ("warning", "error", "critical"):
                    total += 1
                    key = f"{level}: {message}"
                    n, first = seen.get(key, (0, line.strip()))
                    seen[key] = (n + 1, first)
    except OSError:
        pass
    return total, seen


# One run ----------------------------------------------------------------------------------------------------------


def floor_run(server, args, body_bytes, key_id, mode="prepared"):
    """pgbench, 4 clients, the capture's writes, on fresh copies of the tables: tps, its CPU seconds and PostgreSQL's."""
    pgbench = bc.pg_bin("pgbench")
    if not os.access(pgbench, os.X_OK):
        return {"skipped": f"pgbench not found ({pgbench})"}
    per_client = args.sessions // CLIENTS
    total = per_client * CLIENTS
    psql(server, FLOOR_SETUP.format(total=total))
    accounts = {f"{k}_acct": v for k, v in (
        (row[0], int(row[1])) for row in psql(server, f"""SELECT CASE kind WHEN 'driver_hold' THEN 'hold' ELSE kind END, id FROM accounts
            WHERE (kind, owner) IN (('driver', '{DRIVER}'), ('driver_hold', '{DRIVER}'), ('host', '{HOST}'), ('platform', 'platform'), ('referrer', '{REFERRER}'))
              AND currency = 'EUR';"""))}
    missing = {"hold_acct", "driver_acct", "host_acct", "platform_acct", "referrer_acct"} - set(accounts)
    if missing:
        raise RuntimeError(f"accounts not found after the Voltaic run: {missing}")
    script_path = os.path.join(server.data_dir, "floor.pgbench")
    with open(script_path, "w") as f:
        f.write(FLOOR_SCRIPT.format(capture=CAPTURE, release=RELEASE, body_bytes=body_bytes, md5s=math.ceil(body_bytes / 16), key_id=key_id,
                                    **SHARES, **accounts))
    cmd = [pgbench, "-n", "-M", mode, "-c", str(CLIENTS), "-j", "1", "-t", str(per_client), "-f", script_path,
           "-h", os.path.join(server.data_dir, "postgres", "run"), "-U", "voltaic", "voltaic"]
    if args.server_cpu:
        cmd = ["taskset", "-c", str(args.server_cpu)] + cmd
    env = dict(os.environ, PGOPTIONS="-c search_path=floor,public")
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = bc.snapshot(server)
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    s1 = bc.snapshot(server)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(f"pgbench failed ({r.returncode}): {r.stdout[-2000:]}{r.stderr[-2000:]}")
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", r.stdout)
    done = one(server, "SELECT (SELECT count(*) FROM floor.receipts), (SELECT count(*) FROM floor.settlement_queue), (SELECT sum(amount) FROM floor.postings)")
    if int(done[0]) != total or int(done[1]) != 0 or float(done[2]) != 0:
        raise RuntimeError(f"pgbench left floor receipts {done[0]} of {total}, queue {done[1]}, postings sum {done[2]}")
    w = bc.window(s0, s1)
    return {"tps": float(m.group(1)) if m else total / seconds, "seconds": seconds, "transactions": total,
            "pgbench_cpu_s": (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime), "pg_cpu_s": w["pg_cpu_s"]}


def one_run(run, args):
    n = args.sessions
    work = tempfile.mkdtemp(prefix="voltaic-bench-settlement-", dir="/tmp")
    evm, server, kept = None, None, False
    try:
        evm, rpc = start_evm(os.path.join(work, "evm.log"))
        key_file = os.path.join(work, "chain.key")
        write_key(key_file)
        contract = deploy(args.binary or bc.VOLTAIC_BIN, rpc, key_file)
        server = bc.Server("voltaic", cpu=args.server_cpu, binary=args.binary, extra_args=[
            "--chain-rpc", rpc, "--chain-key-file", key_file, "--chain-contract", contract, "--chain-confirmations", "1",
            "--chain-poll-interval", "0.2", "--batch-size", str(args.batch_size), "--batch-interval", str(args.batch_interval),
        ]).start()
        provision(server, args.stations)
        seed_start = time.perf_counter()
        psql(server, SEED.format(n=n, stations=args.stations, prefix=f"SETL-{TAG}-", token=TOKEN, driver=DRIVER, tariff=TARIFF,
                                 location=LOCATION, hold=HOLD, wh=ENERGY_WH))
        seed_seconds = time.perf_counter() - seed_start
        print(f"# run {run}: {n} sessions seeded in {seed_seconds:.1f} s; server pid {server.pid} pinned {server.pinning()}, "
              f"EVM pid {evm.pid} at {rpc}, contract {contract}", file=sys.stderr, flush=True)

        s0 = bc.snapshot(server)
        t0 = float(psql(server, RELEASE_QUEUE.format(token=TOKEN))[0][0])
        last_print, deadline = 0.0, time.time() + args.timeout
        while True:
            time.sleep(0.5)
            q, failing, batches, batched, final, failed = (int(x) for x in one(server, PROGRESS))
            done = q == 0 and batched == n and batches > 0 and final == batches
            now = time.time()
            if done or now - last_print >= 10:
                last_print = now
                print(f"#   t0+{now - t0:6.1f} s: queue {q} ({failing} failing), {batches} batches holding {batched} receipts, {final} final"
                      + (f", {failed} FAILED anchor jobs" if failed else ""), file=sys.stderr, flush=True)
            if done:
                break
            if now > deadline:
                raise RuntimeError(f"not done after {args.timeout} s: queue {q} ({failing} failing), {batches} batches with {batched} receipts, "
                                   f"{final} final, {failed} failed; server log {server.log_path}")
        s1 = bc.snapshot(server)
        cpu = bc.window(s0, s1)

        receipts, last_receipt, mean_body = one(server, "SELECT count(*), extract(epoch FROM max(created_at)), avg(length(body)) FROM receipts")
        # The rate while the queue was full against the rate as it emptied: the first and the last tenth of the receipts.
        made = [float(r[0]) for r in psql(server, "SELECT extract(epoch FROM created_at) FROM receipts ORDER BY created_at;")]
        tenth = max(1, len(made) // 10)
        first_rate = tenth / max(1e-9, made[tenth - 1] - t0)
        last_rate = tenth / max(1e-9, made[-1] - made[-tenth - 1]) if len(made) > tenth else float("nan")
        sizes = [int(r[0]) for r in psql(server, "SELECT size FROM receipt_batches ORDER BY id;")]
        lags = sorted(float(r[0]) for r in psql(server, """SELECT extract(epoch FROM j.updated_at - b.created_at) FROM receipt_batches b
            JOIN anchor_jobs j ON j.id = b.anchor_job_id WHERE j.body->'state' ? 'final';"""))
        last_final = float(one(server, """SELECT extract(epoch FROM max(j.updated_at)) FROM receipt_batches b
            JOIN anchor_jobs j ON j.id = b.anchor_job_id WHERE j.body->'state' ? 'final'""")[0])
        state = one(server, "SELECT body->'state' FROM anchor_jobs ORDER BY updated_at DESC LIMIT 1")[0]
        # The money: every hold captured at the tariff's price, and the ledger sums to zero.
        check = one(server, f"""SELECT count(*) FILTER (WHERE state = 'captured'), count(*) FILTER (WHERE state = 'captured' AND captured = {CAPTURE}),
            (SELECT sum(amount) FROM postings), (SELECT count(*) FROM journal_entries WHERE kind IN ('capture', 'release'))
            FROM holds WHERE driver_id = '{DRIVER}'""")
        key_id = one(server, "SELECT key_id FROM receipts LIMIT 1")[0]
        problems = []
        if int(receipts) != n:
            problems.append(f"{receipts} receipts for {n} sessions")
        if int(check[0]) != n or int(check[1]) != n:
            problems.append(f"holds captured {check[0]}, at {CAPTURE}: {check[1]} (of {n})")
        if float(check[2]) != 0:
            problems.append(f"the ledger sums to {check[2]}")
        if int(check[3]) != 2 * n:
            problems.append(f"{check[3]} capture/release entries for {n} sessions")
        if not state.startswith('{"final": {"_0": {'):
            problems.append(f"unexpected anchor state JSON: {state[:200]}")

        body_bytes = int(round(float(mean_body)))
        floor = floor_run(server, args, body_bytes, key_id)
        # The same writes parsed and planned on every execution, as unnamed statements are: what planning costs.
        if "tps" in floor:
            floor["extended"] = floor_run(server, args, body_bytes, key_id, mode="extended")
        warn_total, warn = log_problems(server.log_path)
        t_receipts, t_final = float(last_receipt) - t0, last_final - t0
        result = {
            "run": run, "sessions": n, "receipts_per_s": n / t_receipts, "first_tenth_per_s": first_rate, "last_tenth_per_s": last_rate, "t_receipts_s": t_receipts, "t_final_s": t_final,
            "batches": len(sizes), "batch_sizes": sizes, "batch_final_p50_s": bc.percentile(lags, 0.5), "batch_final_max_s": lags[-1] if lags else float("nan"),
            "server_cpu_s": cpu["server_cpu_s"], "pg_cpu_s": cpu["pg_cpu_s"], "wall_s": cpu["wall_s"], "receipt_bytes": body_bytes,
            "floor": floor, "problems": problems, "log_warnings": warn_total, "log_messages": {k: v[0] for k, v in warn.items()},
            "log_examples": {k: v[1][:600] for k, v in warn.items()}, "anchor_state_example": state[:300], "seed_s": seed_seconds,
        }
        if args.keep:
            kept = True
            shutil.copy(server.log_path, os.path.join(work, "serve.log"))
            result["kept"] = {"work": work, "data_dir": server.data_dir}
        return result
    finally:
        if server:
            if args.keep:
                server.stop()
            else:
                server.destroy()
        stop_evm(evm)
        if not kept:
            shutil.rmtree(work, ignore_errors=True)


# Report -----------------------------------------------------------------------------------------------------------


def sizes_text(sizes):
    if not sizes:
        return "-"
    return f"{min(sizes)}/{int(statistics.median(sizes))}/{max(sizes)}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1", help="this script, the test EVM and the deploy CLI")
    ap.add_argument("--stations", type=int, default=10, help="stations the sessions are spread over")
    ap.add_argument("--batch-size", type=int, default=10_000)
    ap.add_argument("--batch-interval", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds one run may take from t0 to finality")
    ap.add_argument("--keep", action="store_true", help="keep each run's data dir, EVM log and server log")
    ap.add_argument("--binary", help="the voltaic binary (default: the release build)")
    ap.add_argument("--json", help="also write every figure here")
    args = ap.parse_args()
    if args.sessions < CLIENTS:
        ap.error(f"--sessions must be at least {CLIENTS}")
    if args.client_cpu:
        bc.pin_self(args.client_cpu)
    machine = bc.machine_state()
    print(f"# settlement: {args.sessions} ended held sessions -> receipts -> batches (<= {args.batch_size} or {args.batch_interval} s) -> anchored, "
          f"final at 1 confirmation; server + PostgreSQL cpu {args.server_cpu}, EVM + client cpu {args.client_cpu}; "
          f"load {machine['loadavg']}" + (f", fuzzer pids {machine['fuzzer_pids']}" if machine["fuzzer_pids"] else ""), flush=True)
    rows = []
    for run in range(1, args.runs + 1):
        rows.append(one_run(run, args))

    print()
    print(" run  receipts/s  first/last 10 %  to receipts s  to final s  batches  size min/med/max  batch->final p50/max s  server cpu s  pg cpu s  floor tps  ratio")
    for r in rows:
        f = r["floor"]
        tps = f.get("tps")
        print(f"{r['run']:4d} {r['receipts_per_s']:11.0f} {r['first_tenth_per_s']:8.0f} / {r['last_tenth_per_s']:4.0f} {r['t_receipts_s']:14.2f} {r['t_final_s']:11.2f} {r['batches']:8d} {sizes_text(r['batch_sizes']):>16}"
              f" {r['batch_final_p50_s']:11.2f} / {r['batch_final_max_s']:5.2f} {r['server_cpu_s']:13.1f} {r['pg_cpu_s']:9.1f}"
              + (f" {tps:10.0f} {r['receipts_per_s'] / tps:6.3f}" if tps else "          -      -"))
    med = {k: bc.median([r[k] for r in rows]) for k in ("receipts_per_s", "first_tenth_per_s", "last_tenth_per_s", "t_receipts_s", "t_final_s", "batch_final_p50_s", "batch_final_max_s", "server_cpu_s", "pg_cpu_s")}
    floor_tps = [r["floor"]["tps"] for r in rows if "tps" in r["floor"]]
    med_tps = bc.median(floor_tps) if floor_tps else None
    med_ratio = bc.median([r["receipts_per_s"] / r["floor"]["tps"] for r in rows if "tps" in r["floor"]]) if floor_tps else None
    print(f" med {med['receipts_per_s']:11.0f} {med['first_tenth_per_s']:8.0f} / {med['last_tenth_per_s']:4.0f} {med['t_receipts_s']:14.2f} {med['t_final_s']:11.2f} {'':8} {'':>16}"
          f" {med['batch_final_p50_s']:11.2f} / {med['batch_final_max_s']:5.2f} {med['server_cpu_s']:13.1f} {med['pg_cpu_s']:9.1f}"
          + (f" {med_tps:10.0f} {med_ratio:6.3f}" if floor_tps else "          -      -"))
    print()
    r0 = rows[0]
    print(f"# per receipt (median): server {1e6 * med['server_cpu_s'] / args.sessions:.0f} us cpu, PostgreSQL {1e6 * med['pg_cpu_s'] / args.sessions:.0f} us cpu; "
          f"mean receipt {r0['receipt_bytes']} bytes")
    if floor_tps:
        f = r0["floor"]
        print(f"# floor (pgbench, {CLIENTS} clients, {f['transactions']} transactions, prepared): run 1 pgbench {f['pgbench_cpu_s']:.1f} s cpu, "
              f"PostgreSQL {f['pg_cpu_s']:.1f} s cpu ({1e6 * f['pg_cpu_s'] / f['transactions']:.0f} us a transaction); "
              f"ratio = Voltaic receipts/s / pgbench tps, median of the runs' ratios")
        ext = [r["floor"]["extended"] for r in rows if "extended" in r["floor"]]
        if ext:
            e = ext[0]
            print(f"# the same floor with -M extended (every statement parsed and planned each time): median {bc.median([x['tps'] for x in ext]):.0f} tps; "
                  f"run 1 PostgreSQL {1e6 * e['pg_cpu_s'] / e['transactions']:.0f} us a transaction")
    else:
        print(f"# floor: {r0['floor'].get('skipped')}: no ratio")
    print(f"# anchor job state as stored (last job of run 1): {r0['anchor_state_example']}")
    for r in rows:
        for p in r["problems"]:
            print(f"# run {r['run']} PROBLEM: {p}")
        if r["log_warnings"]:
            print(f"# run {r['run']}: {r['log_warnings']} warnings or errors in the server log:")
            for k, v in sorted(r["log_messages"].items(), key=lambda kv: -kv[1]):
                print(f"#   {v:6d} x {k}\n#            e.g. {r['log_examples'][k]}")
        else:
            print(f"# run {r['run']}: no warnings or errors in the server log")
        if "kept" in r:
            print(f"# run {r['run']} kept: {r['kept']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "machine": machine, "runs": rows, "medians": dict(med, floor_tps=med_tps, ratio=med_ratio)}, f, indent=2)


if __name__ == "__main__":
    main()
