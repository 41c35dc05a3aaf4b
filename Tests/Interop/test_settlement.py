"""Settlement end to end against a real `voltaic serve`, its embedded PostgreSQL, the test EVM (Tests/Chain) and
charge points of the third-party `ocpp` package (1.6 and 2.0.1).

A driver is topped up through the admin API; an Authorize (or a start without one) holds the price of an hour at
the EVSE's power under its tariff; the end of the session captures the price (never more than the hold), gives
the rest back, splits the capture between host, platform and referrer, and makes a signed receipt that is batched
into a Merkle tree and anchored on chain. The driver checks the receipt with the published key and the proof with
`voltaic receipt verify`, offline and against the chain. Whatever the session did, the ledger sums to zero.

The file starts its own server (fast batches, one confirmation, hour-long holds), shared by its tests."""
import asyncio
import base64
import contextlib
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from types import SimpleNamespace

import pytest
from charge_points import api, connected, run
from conftest import new_token
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from test_cli import voltaic
from test_ocpi import admin_ok, connector, site, tariff_body
from test_ocpi_sessions import boot16, boot201, iso, meter16, meter201
from voltaic_server import BINARY, ROOT, VoltaicServer

EVM_SERVER = os.path.join(ROOT, "Tests", "Chain", "evm_rpc_server.py")
OWNER_KEY = "00" * 31 + "01"  # the test EVM's funded owner
CURRENCY = "EUR"
PRICE, VAT = Decimal("0.40"), Decimal("0.21")  # per kWh excl. VAT; tariff_body's VAT is 21 %
POWER_W = 11000
HOLD_MINUTES = 60
CENT = Decimal("0.01")


def money(value):
    return Decimal(value).quantize(CENT)


# 60 min at 11 kW = 11 kWh × 0.40 = 4.40, and with 21 % VAT 5.324: the engine's price to the cent, 5.32, is held (a
# session of that energy is charged exactly that).
HOLD = (Decimal(POWER_W) / 1000 * HOLD_MINUTES / 60 * PRICE * (1 + VAT)).quantize(CENT, rounding=ROUND_HALF_UP)
assert HOLD == Decimal("5.32")


def price_incl(wh):
    """The tariff's price of `wh` with VAT, to the cent (half up)."""
    return (Decimal(wh) / 1000 * PRICE * (1 + VAT)).quantize(CENT, rounding=ROUND_HALF_UP)


def shares(amount):
    """80 / 15 / 5 %, each rounded down to the cent; what rounding leaves goes to the host."""
    s = {p: (amount * bp / 10000).quantize(CENT, rounding=ROUND_DOWN) for p, bp in (("host", 8000), ("platform", 1500), ("referrer", 500))}
    s["host"] += amount - sum(s.values())
    return s


assert shares(Decimal("3.63")) == {"host": Decimal("2.91"), "platform": Decimal("0.54"), "referrer": Decimal("0.18")}


# The module's world: the EVM, the contract, the server --------------------------------------------------------


def start_evm(log_path):
    with open(log_path, "ab") as log:
        p = subprocess.Popen([sys.executable, EVM_SERVER, "--port", "0"], stdout=subprocess.PIPE, stderr=log, text=True)
    line = p.stdout.readline()
    m = re.match(r"listening on (http://127\.0\.0\.1:\d+)", line)
    if not m:
        p.kill()
        p.wait()
        raise RuntimeError(f"the test EVM did not start: {line!r}")
    return p, m.group(1)


def write_key(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(OWNER_KEY + "\n")
    os.chmod(path, 0o600)


def deploy(rpc, key_file):
    r = subprocess.run([BINARY, "chain", "deploy", "--rpc", rpc, "--key-file", str(key_file)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    address = r.stdout.strip()
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", address), r.stdout
    return address


def rpc_call(url, method, *params):
    req = urllib.request.Request(url, data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        answer = json.loads(r.read())
    assert "error" not in answer, answer
    return answer["result"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    work = tmp_path_factory.mktemp("settlement")
    evm, rpc = start_evm(work / "evm.log")
    server = None
    try:
        key = work / "chain.key"
        write_key(key)
        contract = deploy(rpc, key)
        server = VoltaicServer(extra_args=[
            "--chain-rpc", rpc, "--chain-key-file", str(key), "--chain-contract", contract, "--chain-confirmations", "1",
            "--chain-poll-interval", "0.2", "--batch-size", "50", "--batch-interval", "1", "--hold-minutes", str(HOLD_MINUTES),
        ])
        server.start()  # a server that fails to start is still destroyed below, with its data directory
        yield SimpleNamespace(server=server, rpc=rpc, contract=contract, work=work)
    finally:
        if server:
            server.destroy()
        evm.terminate()
        try:
            evm.wait(timeout=10)
        except subprocess.TimeoutExpired:
            evm.kill()
            evm.wait()


@contextlib.contextmanager
def diagnostics(server):
    try:
        yield
    except BaseException:
        print(f"---- voltaic serve log tail ({server.log_path}) ----")
        print(server.tail(12000))
        raise


# Admin and public API helpers ----------------------------------------------------------------------------------


def ok(server, method, path, body=None, expect=200):
    status, answer = server.api(method, path, body)
    assert status == expect, (method, path, body, status, answer)
    return answer


def public_get(server, path):
    """A GET without any Authorization header: (status, raw bytes)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(server.base_url + path), timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def host_site(server):
    """A tariff (0.40/kWh + 21 % VAT), a location open 24/7 hosted by alice-<tag> with an 80/15/5 split (carol-<tag> refers),
    station A (for 1.6) and station B (for 2.0.1), each with one 11 kW EVSE on the tariff."""
    tag = uuid.uuid4().hex[:6].upper()
    s = SimpleNamespace(tag=tag, tariff=f"T-{tag}", loc=f"LOC-{tag}", host=f"alice-{tag}", referrer=f"carol-{tag}", a=f"SETL-{tag}-A", b=f"SETL-{tag}-B")
    admin_ok(server, "PUT", f"/tariffs/{s.tariff}", tariff_body(s.tariff, price=str(PRICE)))
    # Open round the clock: the story does not depend on the hour it runs at.
    admin_ok(server, "PUT", f"/locations/{s.loc}", site(s.loc, opening_times={"twentyfourseven": True}))
    assert ok(server, "PUT", f"/locations/{s.loc}/host", {"host": s.host}) is not None
    ok(server, "POST", "/split-rules", {"scope": f"location:{s.loc}", "hostBp": 8000, "platformBp": 1500, "referrerBp": 500, "referrer": s.referrer,
                                       "remainder": "host", "validFrom": "2020-01-01T00:00:00Z"}, expect=201)
    for sid, n in ((s.a, "A"), (s.b, "B")):
        admin_ok(server, "POST", "/stations", {"id": sid, "securityProfile": 0})
        admin_ok(server, "PUT", f"/stations/{sid}/evses/1", {
            "location_id": s.loc, "evse_id": f"NL*VOL*E{tag}{n}*1", "connectors": [dict(connector(s.tariff), max_electric_power=POWER_W)],
        })
    return s


def new_driver(server, topup=None):
    """A ledger driver with one token (also an OCPP token, so that it is Accepted at all), topped up once."""
    driver, token = "drv-" + uuid.uuid4().hex[:10], new_token(server)
    body = ok(server, "PUT", f"/drivers/{driver}", {"tokens": [token], "postpaid": False})
    assert body["id"] == driver and body["postpaid"] is False and body["tokens"] == [token], body
    if topup is not None:
        body = ok(server, "POST", f"/drivers/{driver}/topups", {"currency": CURRENCY, "amount": topup, "reference": f"pay-{driver}"}, expect=201)
        assert body["currency"] == CURRENCY and body["available"] == topup, body
    return driver, token


def balance(server, driver):
    """(available, held) in EUR, as the API says them."""
    body = ok(server, "GET", f"/drivers/{driver}")
    mine = [b for b in body["balances"] if b["currency"] == CURRENCY]
    assert len(mine) == 1, body
    return mine[0]["available"], mine[0]["held"]


def holds(server, driver):
    return ok(server, "GET", f"/holds?driverId={driver}")["items"]


def wait_receipt(server, tx, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, body = server.api("GET", f"/transactions/{tx}/receipt")
        if status == 200:
            return body
        assert status == 404, (status, body)
        time.sleep(0.2)
    raise AssertionError(f"no receipt for transaction {tx} within {timeout} s: {server.api('GET', f'/holds?transactionId={tx}')}")


def receipt_bytes(view):
    raw = base64.b64decode(view["receipt"], validate=True)
    # The exact RFC 8785 bytes: sorted keys, no whitespace; every number in a receipt is an integer.
    body = json.loads(raw)
    assert json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == raw, raw[:300]
    return raw, body


def check_signature(server, view, raw):
    status, key = public_get(server, "/.well-known/voltaic/receipt-key")
    assert status == 200, key
    key = json.loads(key)
    assert key["algorithm"] == "Ed25519" and key["keyId"] == view["keyId"] and view["algorithm"] == "Ed25519", (key, view)
    public = base64.b64decode(key["publicKey"], validate=True)
    assert len(public) == 32, key
    signature = base64.b64decode(view["signature"], validate=True)
    Ed25519PublicKey.from_public_bytes(public).verify(signature, raw)  # raises when it does not verify
    changed = bytearray(raw)
    changed[len(changed) // 2] ^= 1
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(public).verify(signature, bytes(changed))


def check_receipt(server, view, tx, station, token, energy_wh, held, captured, price=None):
    """The receipt of `tx`: its signature and pseudonym, the funds, the split of the capture and the tariff."""
    price = price if price is not None else captured
    assert view["transactionId"] == tx, view
    raw, r = receipt_bytes(view)
    check_signature(server, view, raw)
    s = r["session"]
    assert (s["transactionId"], s["stationId"], s["evseId"], s["energyWh"]) == (tx, station, 1, energy_wh), s
    assert s["token"]["pseudonym"] == hashlib.sha256((view["tokenSalt"] + token).encode()).hexdigest(), (s["token"], view["tokenSalt"])
    assert token.encode() not in raw, "the token itself is in the receipt"
    p = r["price"]
    assert p["currency"] == CURRENCY, p
    assert money(p["total"]["inclVat"]) == price and money(p["charged"]) == price, p
    assert money(p["total"]["exclVat"]) == (Decimal(energy_wh) / 1000 * PRICE).quantize(CENT, rounding=ROUND_HALF_UP), p
    f = r["funds"]
    assert (money(f["held"]), money(f["captured"]), money(f["released"])) == (held, captured, held - captured), f
    want = shares(captured)
    got = {party: (r["split"][party]["account"], money(r["split"][party]["amount"])) for party in ("host", "platform", "referrer")}
    assert sum(a for _, a in got.values()) == captured, got
    assert hashlib.sha256(r["tariff"]["json"].encode()).hexdigest() == r["tariff"]["sha256"], r["tariff"]
    tariff = json.loads(r["tariff"]["json"])
    assert tariff["elements"][0]["price_components"][0]["price"] == float(PRICE), tariff
    # The ledger entries it names are this hold's capture, and its release when something came back.
    entries = r["ledgerEntries"]
    assert entries and all(isinstance(e, int) for e in entries), entries
    kinds = server.sql(f"SELECT kind, hold_id FROM journal_entries WHERE id IN ({','.join(map(str, entries))}) ORDER BY id")
    assert len(kinds) == len(entries) and {h for _, h in kinds} == {str(f["holdId"])}, kinds
    assert {k for k, _ in kinds} == ({"capture", "release"} if held > captured else {"capture"}), kinds
    return r, got, want


def check_split(got, want, site):
    assert got == {"host": (site.host, want["host"]), "platform": ("platform", want["platform"]), "referrer": (site.referrer, want["referrer"])}, got


def ledger_is_whole(server):
    rows = server.sql("SELECT a.currency, sum(p.amount)::text FROM postings p JOIN accounts a ON a.id = p.account_id GROUP BY a.currency")
    assert rows, "no postings at all"
    for currency, total in rows:
        assert Decimal(total) == 0, (currency, total)


def driver_conserved(server, driver, topped_up):
    """available + held + everything captured = what was paid in."""
    available, held = balance(server, driver)
    items = holds(server, driver)
    captured = sum((Decimal(h["captured"]) for h in items if h["state"] == "captured"), Decimal(0))
    assert Decimal(available) + Decimal(held) + captured == Decimal(topped_up), (available, held, items)


def statement(server, start, end):
    body = ok(server, "GET", f"/settlement/statement?from={iso(start)}&to={iso(end)}")
    return {(line["kind"], line["account"], line["currency"]): (money(line["total"]), line["sessions"]) for line in body["lines"]}


STATEMENT_LINE = re.compile(r"^\s+(\w+)\s+(\S+)\s+([A-Z]{3}) (-?\d+\.\d\d) \((\d+) sessions?\)\s*$")


def cli_statement(server, start, end):
    out = voltaic(server, "settlement", "statement", "--data-dir", server.data_dir, "--from", iso(start), "--to", iso(end)).stdout
    lines = [STATEMENT_LINE.match(line) for line in out.splitlines()[1:]]
    assert lines and all(lines), out
    return {(m[1], m[2], m[3]): (money(m[4]), int(m[5])) for m in lines}


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


# Stations ------------------------------------------------------------------------------------------------------


async def start16(cp, token, at, meter_start):
    r = await cp.call(call16.StartTransaction(connector_id=1, id_tag=token, meter_start=meter_start, timestamp=iso(at)))
    return r


def stop16(tx, token, at, meter_stop, reason="EVDisconnected"):
    return call16.StopTransaction(meter_stop=meter_stop, timestamp=iso(at), transaction_id=tx, id_tag=token, reason=reason)


def tx_event(uid, kind, seq, at, trigger, **extra):
    info = {"transaction_id": uid, **extra.pop("info", {})}
    return call201.TransactionEvent(event_type=kind, timestamp=iso(at), trigger_reason=trigger, seq_no=seq, transaction_info=info, **extra)


def transaction_of(server, station, uid):
    body = ok(server, "GET", f"/transactions?stationId={station}")
    found = [t for t in body["items"] if t["uid"] == uid]
    assert len(found) == 1, body
    return found[0]["id"]


async def wait_for_call(cp, action, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = [kw for a, kw in cp.received if a == action]
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"the station got no {action} within {timeout} s; it got {cp.received}")


async def charge16(server, station, token, t0, start_wh, stop_wh):
    """A whole 1.6 session: Authorize, start at t0, one reading half way, stop 30 minutes later. Returns (tx, stop call)."""
    async with connected(server, station) as cp:
        await boot16(cp)
        assert (await cp.call(call16.Authorize(id_tag=token))).id_tag_info["status"] == "Accepted"
        r = await start16(cp, token, t0, start_wh)
        assert r.id_tag_info["status"] == "Accepted", r
        mid = t0 + datetime.timedelta(minutes=15)
        await cp.call(call16.MeterValues(connector_id=1, transaction_id=r.transaction_id, meter_value=[meter16(mid, (start_wh + stop_wh) // 2)]))
        stop = stop16(r.transaction_id, token, t0 + datetime.timedelta(minutes=30), stop_wh)
        await cp.call(stop)
        return r.transaction_id, stop


# The tests -----------------------------------------------------------------------------------------------------


def test_story_16_and_201(env, tmp_path):
    server = env.server
    with diagnostics(server):
        s = host_site(server)
        # The API's refusals on the way.
        assert server.api("PUT", f"/locations/NO-SUCH-{s.tag}/host", {"host": s.host})[0] == 404
        status, body = server.api("POST", "/split-rules", {"scope": f"location:{s.loc}", "hostBp": 8000, "platformBp": 1500, "referrerBp": 400,
                                                           "referrer": s.referrer, "remainder": "host", "validFrom": "2021-01-01T00:00:00Z"})
        assert status == 422, (status, body)
        assert server.api("GET", f"/drivers/nobody-{s.tag}")[0] == 404

        driver, token = new_driver(server)
        assert ok(server, "GET", f"/drivers/{driver}")["tokens"] == [token]
        first = ok(server, "POST", f"/drivers/{driver}/topups", {"currency": CURRENCY, "amount": "20.00", "reference": "pay-1"}, expect=201)
        assert first["currency"] == CURRENCY and first["available"] == "20.00" and isinstance(first["entryId"], int), first
        again = ok(server, "POST", f"/drivers/{driver}/topups", {"currency": CURRENCY, "amount": "20.00", "reference": "pay-1"}, expect=201)
        assert again["entryId"] == first["entryId"] and again["available"] == "20.00", again
        status, body = server.api("POST", f"/drivers/{driver}/topups", {"currency": CURRENCY, "amount": 5.0, "reference": "pay-2"})
        assert status == 422, (status, body)
        assert balance(server, driver) == ("20.00", "0.00")

        t0 = utcnow() - datetime.timedelta(minutes=40)
        minutes = lambda n: t0 + datetime.timedelta(minutes=n)  # noqa: E731

        # Station A, OCPP 1.6: Authorize holds 5.32; 7.5 kWh cost 3.63; 1.69 comes back.
        async def on_a():
            async with connected(server, s.a) as cp:
                await boot16(cp)
                assert (await cp.call(call16.Authorize(id_tag=token))).id_tag_info["status"] == "Accepted"
                _, items = await api(server, "GET", f"/holds?driverId={driver}")
                assert len(items["items"]) == 1, items
                hold = items["items"][0]
                assert (hold["driverId"], hold["currency"], hold["amount"], hold["state"], hold["idToken"], hold["stationId"], hold["transactionId"]) == \
                    (driver, CURRENCY, str(HOLD), "held", token, s.a, None), hold
                assert hold["captured"] is None and hold["expiresAt"], hold
                assert await asyncio.to_thread(balance, server, driver) == ("14.68", "5.32")
                r = await start16(cp, token, t0, 1000)
                assert r.id_tag_info["status"] == "Accepted", r
                tx = r.transaction_id
                _, items = await api(server, "GET", f"/holds?driverId={driver}")
                assert [(h["id"], h["transactionId"], h["state"]) for h in items["items"]] == [(hold["id"], tx, "held")], items
                assert (await api(server, "GET", f"/transactions/{tx}/receipt"))[0] == 404
                await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=[meter16(minutes(15), 4000)]))
                await cp.call(stop16(tx, token, minutes(30), 8500))
                return tx, hold["id"]

        period_start = utcnow() - datetime.timedelta(seconds=2)
        tx_a, hold_a = run(on_a())
        view_a = wait_receipt(server, tx_a)
        receipt_a, got, want = check_receipt(server, view_a, tx_a, s.a, token, 7500, HOLD, Decimal("3.63"))
        check_split(got, want, s)
        assert receipt_a["funds"]["holdId"] == hold_a, receipt_a["funds"]
        assert balance(server, driver) == ("16.37", "0.00")
        captured = [h for h in holds(server, driver) if h["id"] == hold_a]
        assert len(captured) == 1 and (captured[0]["state"], captured[0]["captured"], captured[0]["amount"]) == ("captured", "3.63", "5.32"), captured
        lines = statement(server, period_start, utcnow() + datetime.timedelta(seconds=5))
        assert lines == {("driver", driver, CURRENCY): (Decimal("3.63"), 1), ("host", s.host, CURRENCY): (Decimal("2.91"), 1),
                         ("platform", "platform", CURRENCY): (Decimal("0.54"), 1), ("referrer", s.referrer, CURRENCY): (Decimal("0.18"), 1)}, lines

        # Station B, OCPP 2.0.1: the same driver, 7.5 kWh again.
        uid = str(uuid.uuid4())

        async def on_b():
            async with connected(server, s.b, "2.0.1") as cp:
                await boot201(cp)
                id_token = {"id_token": token, "type": "ISO14443"}
                assert (await cp.call(call201.Authorize(id_token=id_token))).id_token_info["status"] == "Accepted"
                assert await asyncio.to_thread(balance, server, driver) == ("11.05", "5.32")
                r = await cp.call(tx_event(uid, "Started", 0, t0, "Authorized", id_token=id_token, evse={"id": 1, "connector_id": 1},
                                           meter_value=[meter201(t0, 20000, "Transaction.Begin")], info={"charging_state": "Charging"}))
                assert r.id_token_info["status"] == "Accepted", r
                await cp.call(tx_event(uid, "Updated", 1, minutes(15), "MeterValuePeriodic", meter_value=[meter201(minutes(15), 24000)]))
                await cp.call(tx_event(uid, "Ended", 2, minutes(30), "EVDeparted", meter_value=[meter201(minutes(30), 27500, "Transaction.End")],
                                       info={"stopped_reason": "EVDisconnected"}))
                return await asyncio.to_thread(transaction_of, server, s.b, uid)

        tx_b = run(on_b())
        view_b = wait_receipt(server, tx_b)
        receipt_b, got, want = check_receipt(server, view_b, tx_b, s.b, token, 7500, HOLD, Decimal("3.63"))
        check_split(got, want, s)
        assert view_b["id"] != view_a["id"] and view_b["tokenSalt"] != view_a["tokenSalt"]
        assert balance(server, driver) == ("12.74", "0.00")
        # Newest first.
        assert [(h["stationId"], h["transactionId"], h["state"], h["captured"]) for h in holds(server, driver)] == \
            [(s.b, tx_b, "captured", "3.63"), (s.a, tx_a, "captured", "3.63")]
        period_end = utcnow() + datetime.timedelta(seconds=5)
        both = {("driver", driver, CURRENCY): (Decimal("7.26"), 2), ("host", s.host, CURRENCY): (Decimal("5.82"), 2),
                ("platform", "platform", CURRENCY): (Decimal("1.08"), 2), ("referrer", s.referrer, CURRENCY): (Decimal("0.36"), 2)}
        assert statement(server, period_start, period_end) == both
        assert cli_statement(server, period_start, period_end) == both

        # The driver's link: the receipt and its proof without any API key; a wrong secret finds nothing.
        link = urllib.parse.urlsplit(view_b["driverLink"])
        secret = urllib.parse.parse_qs(link.query)["secret"][0]
        assert link.path == f"/receipts/{view_b['id']}" and re.fullmatch(r"[0-9a-f]{16,}", secret), view_b["driverLink"]
        status, raw = public_get(server, f"{link.path}?{link.query}")
        assert status == 200, raw
        public = json.loads(raw)
        assert public["receipt"] == view_b["receipt"] and public["signature"] == view_b["signature"] and "driverLink" not in public, public
        for bad in (f"/receipts/{view_b['id']}", f"/receipts/{view_b['id']}?secret={'0' * len(secret)}", f"/receipts/{view_a['id']}?secret={secret}",
                    f"/receipts/{view_b['id']}/proof?secret={'0' * len(secret)}"):
            assert public_get(server, bad)[0] == 404, bad

        bundle = json.loads(wait_proof(server, f"/receipts/{view_b['id']}/proof?secret={secret}"))
        # Batched by now: the view names the batch and the leaf.
        view_b = ok(server, "GET", f"/transactions/{tx_b}/receipt")
        status, admin_bundle = server.api("GET", f"/receipts/{view_b['id']}/proof")
        assert status == 200 and admin_bundle == bundle, (status, admin_bundle)
        check_bundle(env, bundle, view_b, tmp_path)

        # A changed receipt inside the bundle is INVALID.
        changed = bytearray(base64.b64decode(bundle["receipt"]))
        changed[len(changed) // 3] ^= 1
        tampered = dict(bundle, receipt=base64.b64encode(bytes(changed)).decode())
        for extra in ([], ["--rpc", env.rpc]):
            r = verify(tmp_path, tampered, *extra)
            assert r.returncode == 1 and r.stdout.strip().splitlines()[-1].startswith("INVALID"), r.stdout + r.stderr

        ledger_is_whole(server)
        driver_conserved(server, driver, "20.00")


def wait_proof(server, path, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, raw = public_get(server, path)
        if status == 200:
            return raw
        assert status == 409, (status, raw)  # not anchored or not final yet
        time.sleep(0.5)
    raise AssertionError(f"no proof at {path} within {timeout} s: {status} {raw[:500]}")


def verify(tmp_path, bundle, *args):
    f = tmp_path / f"bundle-{uuid.uuid4().hex[:6]}.json"
    f.write_text(json.dumps(bundle))
    return subprocess.run([BINARY, "receipt", "verify", str(f), *args], capture_output=True, text=True, timeout=120)


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_path(data, index, size, path):
    """RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or None when the path does not fit the tree."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf_hash(data)
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def check_bundle(env, bundle, view, tmp_path):
    """The bundle carries the receipt's exact bytes, a Merkle path to its root (checked here per RFC 9162), and an
    anchor whose log on the chain names that root; `voltaic receipt verify` agrees offline and on chain."""
    raw = base64.b64decode(view["receipt"])
    assert base64.b64decode(bundle["receipt"]) == raw
    m, a = bundle["merkle"], bundle["anchor"]
    assert m["leafIndex"] == view["leafIndex"] and view["batchId"] is not None, (m, view)
    root = root_from_path(raw, m["leafIndex"], m["treeSize"], [bytes.fromhex(p.removeprefix("0x")) for p in m["path"]])
    assert root is not None and "0x" + root.hex() == m["root"].lower(), (m, root)
    assert a["contract"].lower() == env.contract.lower() and a["chainId"] == f"eip155:{int(rpc_call(env.rpc, 'eth_chainId'), 16)}", a
    tx_receipt = rpc_call(env.rpc, "eth_getTransactionReceipt", a["txHash"])
    assert tx_receipt and tx_receipt["status"] == "0x1" and int(tx_receipt["blockNumber"], 16) == a["blockNumber"], tx_receipt
    assert tx_receipt["blockHash"].lower() == a["blockHash"].lower(), (tx_receipt, a)
    logs = [log for log in tx_receipt["logs"] if int(log["logIndex"], 16) == a["logIndex"]]
    assert len(logs) == 1 and logs[0]["address"].lower() == env.contract.lower() and logs[0]["topics"][1].lower() == m["root"].lower(), (logs, m)
    for extra in ([], ["--rpc", env.rpc]):
        r = verify(tmp_path, bundle, *extra)
        assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "VALID", r.stdout + r.stderr


def test_too_little_money_is_refused_before_charging(env):
    server = env.server
    with diagnostics(server):
        s = host_site(server)
        driver, token = new_driver(server, "1.00")
        t0 = utcnow() - datetime.timedelta(minutes=5)

        async def scenario():
            async with connected(server, s.a) as cp:
                await boot16(cp)
                assert (await cp.call(call16.Authorize(id_tag=token))).id_tag_info["status"] == "Invalid"
            async with connected(server, s.b, "2.0.1") as cp:
                await boot201(cp)
                assert (await cp.call(call201.Authorize(id_token={"id_token": token, "type": "ISO14443"}))).id_token_info["status"] == "NoCredit"
            assert (await api(server, "GET", f"/holds?driverId={driver}"))[1]["items"] == []
            # A start without an Authorize is refused as well, and the station ends what it began.
            async with connected(server, s.a) as cp:
                await boot16(cp)
                r = await start16(cp, token, t0, 1000)
                assert r.id_tag_info["status"] == "Invalid", r
                await cp.call(stop16(r.transaction_id, token, t0 + datetime.timedelta(seconds=30), 1000, reason="DeAuthorized"))
                return r.transaction_id

        tx = run(scenario())
        assert holds(server, driver) == []
        assert balance(server, driver) == ("1.00", "0.00")
        time.sleep(2)
        assert server.api("GET", f"/transactions/{tx}/receipt")[0] == 404
        assert server.sql(f"SELECT count(*) FROM holds WHERE driver_id = '{driver}'") == [["0"]]
        ledger_is_whole(server)
        driver_conserved(server, driver, "1.00")


def test_hold_reached_mid_session_stops_and_charges_exactly_the_hold(env):
    server = env.server
    with diagnostics(server):
        s = host_site(server)
        t0 = utcnow() - datetime.timedelta(minutes=90)
        at = lambda n: t0 + datetime.timedelta(minutes=n)  # noqa: E731
        # 15 kWh would cost 7.26: more than the 5.32 held.
        assert price_incl(15000) == Decimal("7.26")

        driver16, token16 = new_driver(server, str(HOLD))

        async def on_16():
            async with connected(server, s.a) as cp:
                await boot16(cp)
                assert (await cp.call(call16.Authorize(id_tag=token16))).id_tag_info["status"] == "Accepted"
                r = await start16(cp, token16, t0, 1000)
                assert r.id_tag_info["status"] == "Accepted", r
                tx = r.transaction_id
                # 5 kWh (2.42) is below the hold: charging goes on.
                await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=[meter16(at(30), 6000)]))
                await asyncio.sleep(4.5)
                assert [a for a, _ in cp.received if a == "RemoteStopTransaction"] == [], cp.received
                await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=[meter16(at(85), 16000)]))
                stops = await wait_for_call(cp, "RemoteStopTransaction")
                assert stops == [{"transaction_id": tx}], stops
                await cp.call(stop16(tx, token16, at(86), 16000, reason="Remote"))
                return tx

        tx = run(on_16())
        view = wait_receipt(server, tx)
        _, got, want = check_receipt(server, view, tx, s.a, token16, 15000, HOLD, HOLD, price=Decimal("7.26"))
        # 5.32: 4.256 → 4.25, 0.798 → 0.79, 0.266 → 0.26, and the 0.02 left to the host.
        assert want == {"host": Decimal("4.27"), "platform": Decimal("0.79"), "referrer": Decimal("0.26")}
        check_split(got, want, s)
        assert balance(server, driver16) == ("0.00", "0.00")
        items = holds(server, driver16)
        assert [(h["state"], h["amount"], h["captured"]) for h in items] == [("captured", "5.32", "5.32")], items
        driver_conserved(server, driver16, str(HOLD))

        # The same on OCPP 2.0.1: RequestStopTransaction names the transaction by its id.
        driver201, token201 = new_driver(server, str(HOLD))
        uid = str(uuid.uuid4())

        async def on_201():
            async with connected(server, s.b, "2.0.1") as cp:
                await boot201(cp)
                id_token = {"id_token": token201, "type": "ISO14443"}
                assert (await cp.call(call201.Authorize(id_token=id_token))).id_token_info["status"] == "Accepted"
                r = await cp.call(tx_event(uid, "Started", 0, t0, "Authorized", id_token=id_token, evse={"id": 1, "connector_id": 1},
                                           meter_value=[meter201(t0, 20000, "Transaction.Begin")], info={"charging_state": "Charging"}))
                assert r.id_token_info["status"] == "Accepted", r
                await cp.call(tx_event(uid, "Updated", 1, at(30), "MeterValuePeriodic", meter_value=[meter201(at(30), 25000)]))
                await asyncio.sleep(4.5)
                assert [a for a, _ in cp.received if a == "RequestStopTransaction"] == [], cp.received
                await cp.call(tx_event(uid, "Updated", 2, at(85), "MeterValuePeriodic", meter_value=[meter201(at(85), 35000)]))
                stops = await wait_for_call(cp, "RequestStopTransaction")
                assert stops == [{"transaction_id": uid}], stops
                await cp.call(tx_event(uid, "Ended", 3, at(86), "RemoteStop", meter_value=[meter201(at(86), 35000, "Transaction.End")],
                                       info={"stopped_reason": "Remote"}))
                return await asyncio.to_thread(transaction_of, server, s.b, uid)

        tx = run(on_201())
        view = wait_receipt(server, tx)
        _, got, want = check_receipt(server, view, tx, s.b, token201, 15000, HOLD, HOLD, price=Decimal("7.26"))
        check_split(got, want, s)
        assert balance(server, driver201) == ("0.00", "0.00")
        driver_conserved(server, driver201, str(HOLD))
        ledger_is_whole(server)


def test_replayed_stop_never_captures_twice(env):
    server = env.server
    with diagnostics(server):
        s = host_site(server)
        driver, token = new_driver(server, "20.00")
        t0 = utcnow() - datetime.timedelta(minutes=40)
        tx, stop = run(charge16(server, s.a, token, t0, 1000, 8500))
        view = wait_receipt(server, tx)
        receipt, got, want = check_receipt(server, view, tx, s.a, token, 7500, HOLD, Decimal("3.63"))
        check_split(got, want, s)
        hold_id = receipt["funds"]["holdId"]
        before = balance(server, driver)
        assert before == ("16.37", "0.00")

        # The station did not get the answer and sends the very same Stop again, after a reconnect.
        async def replay():
            async with connected(server, s.a) as cp:
                await boot16(cp)
                await cp.call(stop)

        run(replay())
        time.sleep(3)
        assert server.sql(f"SELECT count(*) FROM receipts WHERE transaction_id = {tx}") == [["1"]]
        assert server.sql(f"SELECT count(*) FROM journal_entries WHERE kind = 'capture' AND hold_id = {hold_id}") == [["1"]]
        assert server.sql(f"SELECT count(*) FROM journal_entries WHERE kind = 'release' AND hold_id = {hold_id}") == [["1"]]
        assert ok(server, "GET", f"/transactions/{tx}/receipt")["id"] == view["id"]
        assert balance(server, driver) == before
        items = holds(server, driver)
        assert [(h["id"], h["state"], h["captured"]) for h in items] == [(hold_id, "captured", "3.63")], items
        driver_conserved(server, driver, "20.00")
        ledger_is_whole(server)


def booking_site(server):
    """A host's private location, public every day but for one closed hour tomorrow; its tariff prices a reservation
    (1.00 flat, 2.00 when it expires unused) besides energy (0.40/kWh), all with 21 % VAT. Station A (1.6), 11 kW."""
    tag = uuid.uuid4().hex[:6].upper()
    s = SimpleNamespace(tag=tag, tariff=f"TB-{tag}", loc=f"LOCB-{tag}", host=f"alice-{tag}", a=f"BOOK-{tag}-A")
    body = tariff_body(s.tariff, price=str(PRICE))
    body["elements"] = [
        {"price_components": [{"type": "FLAT", "price": 2.00, "vat": 21.0, "step_size": 1}], "restrictions": {"reservation": "RESERVATION_EXPIRES"}},
        {"price_components": [{"type": "FLAT", "price": 1.00, "vat": 21.0, "step_size": 1}], "restrictions": {"reservation": "RESERVATION"}},
    ] + body["elements"]
    admin_ok(server, "PUT", f"/tariffs/{s.tariff}", body)
    tomorrow = (utcnow() + datetime.timedelta(days=1)).replace(hour=10, minute=0, second=0)
    s.closed = (tomorrow, tomorrow + datetime.timedelta(hours=1))
    hours = {"twentyfourseven": False, "regular_hours": [{"weekday": d, "period_begin": "00:00", "period_end": "23:59"} for d in range(1, 8)],
             "exceptional_closings": [{"period_begin": iso(s.closed[0]), "period_end": iso(s.closed[1])}]}
    admin_ok(server, "PUT", f"/locations/{s.loc}", site(s.loc, opening_times=hours))
    ok(server, "PUT", f"/locations/{s.loc}/host", {"host": s.host})
    admin_ok(server, "POST", "/stations", {"id": s.a, "securityProfile": 0})
    admin_ok(server, "PUT", f"/stations/{s.a}/evses/1", {
        "location_id": s.loc, "evse_id": f"NL*VOL*E{tag}B*1", "connectors": [dict(connector(s.tariff), max_electric_power=POWER_W)],
    })
    return s


def test_booking_story(env):
    """Bob books a 30-minute slot of Alice's charger: the slot's price and its reservation are held, the charger is told
    whom to expect, another car is refused in the slot, Bob's car charges 7.5 kWh and pays energy and reservation,
    exactly. An overlapping booking is refused by PostgreSQL, one in the closed hour by the sharing windows; a
    cancelled booking pays its reservation and gets the rest back."""
    server = env.server
    with diagnostics(server):
        s = booking_site(server)
        bob, bob_token = new_driver(server, topup="20.00")
        eve, eve_token = new_driver(server, topup="20.00")
        start = utcnow() - datetime.timedelta(minutes=1)

        async def story():
            async with connected(server, s.a) as cp:
                await boot16(cp)
                status, b = await api(server, "POST", "/bookings", {"stationId": s.a, "evseId": 1, "driverId": bob, "idToken": bob_token,
                                                                    "start": iso(start), "minutes": 30})
                assert status == 201, b
                # 30 min at 11 kW: 5.5 kWh × 0.40 = 2.20, 2.66 with VAT; the reservation at most 2.00 + VAT = 2.42.
                assert (b["state"], b["held"], b["expected"]) == ("booked", "5.08", {"type": "token", "value": bob_token}), b
                assert await asyncio.to_thread(balance, server, bob) == ("14.92", "5.08")
                # Overlaps are refused by the database's exclusion constraint; the closed hour by the windows.
                status, refused = await api(server, "POST", "/bookings", {"stationId": s.a, "evseId": 1, "driverId": eve, "idToken": eve_token,
                                                                          "start": iso(start + datetime.timedelta(minutes=20)), "minutes": 30})
                assert status == 409, refused
                status, refused = await api(server, "POST", "/bookings", {"stationId": s.a, "evseId": 1, "driverId": eve, "idToken": eve_token,
                                                                          "start": iso(s.closed[0] + datetime.timedelta(minutes=10)), "minutes": 20})
                assert status == 422 and "sharing windows" in refused["detail"], refused
                # The slot has begun: the charger is told to reserve the EVSE for Bob's token.
                reserve = (await wait_for_call(cp, "ReserveNow"))[0]
                assert (reserve["id_tag"], reserve["connector_id"]) == (bob_token, 1), reserve
                # Eve's car in Bob's slot: refused.
                r = await start16(cp, eve_token, utcnow(), 0)
                assert r.id_tag_info["status"] == "Invalid", r
                await cp.call(stop16(r.transaction_id, eve_token, utcnow(), 0))
                # Bob's car: accepted, charges 7.5 kWh.
                assert (await cp.call(call16.Authorize(id_tag=bob_token))).id_tag_info["status"] == "Accepted"
                t0 = utcnow()
                r = await cp.call(call16.StartTransaction(connector_id=1, id_tag=bob_token, meter_start=1000, timestamp=iso(t0),
                                                          reservation_id=reserve["reservation_id"]))
                assert r.id_tag_info["status"] == "Accepted", r
                await cp.call(call16.MeterValues(connector_id=1, transaction_id=r.transaction_id, meter_value=[meter16(t0 + datetime.timedelta(seconds=1), 4000)]))
                await cp.call(stop16(r.transaction_id, bob_token, t0 + datetime.timedelta(seconds=2), 8500))
                return b["id"], r.transaction_id

        booking_id, tx = run(story())
        view = wait_receipt(server, tx)
        _, receipt = receipt_bytes(view)
        p = receipt["price"]
        # Energy 3.00 + 0.63 VAT and the reservation 1.00 + 0.21: 4.84, of 5.08 held.
        assert (money(p["charged"]), money(p["reservation"]["inclVat"]), money(p["energy"]["inclVat"])) == (Decimal("4.84"), Decimal("1.21"), Decimal("3.63")), p
        f = receipt["funds"]
        assert (money(f["held"]), money(f["captured"]), money(f["released"])) == (Decimal("5.08"), Decimal("4.84"), Decimal("0.24")), f
        assert balance(server, bob) == ("15.16", "0.00")
        b = ok(server, "GET", f"/bookings/{booking_id}")
        assert (b["state"], b["transactionId"], b["captured"]) == ("used", tx, "4.84"), b
        # Eve's refused attempt cost her nothing.
        assert balance(server, eve) == ("20.00", "0.00")

        # A booking tomorrow, cancelled today: the reservation is paid (priced as one not used), the rest returned.
        status, later = server.api("POST", "/bookings", {"stationId": s.a, "evseId": 1, "driverId": eve, "idToken": eve_token,
                                                         "start": iso(s.closed[1] + datetime.timedelta(hours=2)), "minutes": 30})
        assert status == 201, later
        cancelled = ok(server, "DELETE", f"/bookings/{later['id']}")
        assert (cancelled["state"], cancelled["captured"]) == ("cancelled", "2.42"), cancelled
        assert balance(server, eve) == ("17.58", "0.00")
        assert server.api("DELETE", f"/bookings/{later['id']}")[0] == 409
        # Too little money for a slot: 402, nothing held.
        poor, poor_token = new_driver(server, topup="1.00")
        status, refused = server.api("POST", "/bookings", {"stationId": s.a, "evseId": 1, "driverId": poor, "idToken": poor_token,
                                                           "start": iso(s.closed[1] + datetime.timedelta(hours=5)), "minutes": 30})
        assert status == 402 and "insufficient funds" in refused["detail"], refused
        assert holds(server, poor) == []
        ledger_is_whole(server)
