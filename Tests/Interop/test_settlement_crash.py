"""kill -9 at every step of capture, batching and anchoring (must-show 4 of the settlement issue).

The server runs with VOLTAIC_CRASH_AT=<point>: it SIGKILLs itself the first time it reaches that step (inside the
capture's transaction, right after its commit, after a batch, after an anchor job is queued, after the signed
transaction is saved but before it is broadcast, after the broadcast, after the inclusion is saved). A 1.6 session
of a ledger driver is charged; the server must die at the point; it is started again on the same database and
chain. Then: the session is captured once (one capture entry, one receipt, the driver's money exact), its batch
is anchored once (one Anchored log of its root on chain, one anchor job), and the driver's proof verifies offline
and on chain."""
import datetime
import json
import subprocess
import time
from decimal import Decimal

import pytest
from charge_points import run
from test_settlement import (BINARY, charge16, deploy, host_site, new_driver, public_get, rpc_call, start_evm, utcnow, wait_receipt,
                             write_key)
from voltaic_server import VoltaicServer

OWNER = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"  # the address of key 0x00…01, the anchoring key here

POINTS = ["capture.priced", "capture.posted", "capture.receipt", "capture.committed", "batch.committed",
          "anchor.enqueued", "anchor.signed", "anchor.broadcast", "anchor.included"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    work = tmp_path_factory.mktemp("crash-chain")
    evm, rpc = start_evm(work / "evm.log")
    try:
        key = work / "chain.key"
        write_key(key)
        yield rpc, key, deploy(rpc, key)
    finally:
        evm.terminate()
        try:
            evm.wait(timeout=10)
        except subprocess.TimeoutExpired:
            evm.kill()
            evm.wait()


def wait_proof(server, view, timeout=90, mine=None):
    link = view["driverLink"]
    path = link[link.index("/receipts/"):]
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, body = public_get(server, path.replace("?", "/proof?", 1))
        if status == 200:
            return json.loads(body)
        assert status == 409, (status, body)
        if mine:
            mine()
        time.sleep(0.3)
    raise AssertionError(f"no final proof within {timeout} s: {server.tail(3000)}")


@pytest.mark.parametrize("point", POINTS)
def test_killed_at(chain, point, tmp_path):
    rpc, key, contract = chain
    # An inclusion is saved as such only when it is not final at once: there, 3 confirmations, and blocks mined by the
    # test while it waits (the test chain mines only when a transaction comes).
    included = point == "anchor.included"
    server = VoltaicServer(env={"VOLTAIC_CRASH_AT": point}, extra_args=[
        "--chain-rpc", rpc, "--chain-key-file", str(key), "--chain-contract", contract, "--chain-confirmations", "3" if included else "1",
        "--chain-poll-interval", "0.2", "--batch-size", "50", "--batch-interval", "0.5", "--hold-minutes", "60",
    ]).start()
    try:
        s = host_site(server)
        driver, token = new_driver(server, topup="20.00")
        t0 = utcnow() - datetime.timedelta(minutes=40)
        nonce_before = int(rpc_call(rpc, "eth_getTransactionCount", OWNER, "latest"), 16)
        tx, _ = run(charge16(server, s.a, token, t0, 1000, 8500))
        # The step is reached, and the process dies there.
        try:
            code = server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the server never reached {point}: {server.tail(3000)}")
        assert code == -9, code
        assert f"crash point {point}: SIGKILL" in server.tail(4000)

        server.env = {}
        server.start()
        view = wait_receipt(server, tx, timeout=60)
        bundle = wait_proof(server, view, mine=(lambda: rpc_call(rpc, "evm_mine")) if included else None)

        # Captured once: one capture entry, one receipt, and the driver's money as a single capture leaves it.
        hold = server.sql(f"SELECT id, state, captured::text FROM holds WHERE transaction_id = {tx}")
        assert len(hold) == 1 and hold[0][1:] == ["captured", "3.63"], hold
        assert server.sql(f"SELECT count(*) FROM journal_entries WHERE kind = 'capture' AND hold_id = {hold[0][0]}") == [["1"]]
        assert server.sql(f"SELECT count(*) FROM receipts WHERE transaction_id = {tx}") == [["1"]]
        assert server.sql(f"SELECT count(*) FROM settlement_queue") == [["0"]]
        status, body = server.api("GET", f"/drivers/{driver}")
        assert status == 200 and [(b["available"], b["held"]) for b in body["balances"]] == [("16.37", "0.00")], body
        assert server.sql("SELECT sum(p.amount)::text FROM postings p") == [["0.00"]]

        # Anchored once: one job for the batch, one Anchored log of its root on chain.
        root = bundle["merkle"]["root"].lower().removeprefix("0x")
        batch = server.sql(f"SELECT encode(b.root, 'hex'), b.anchor_job_id FROM receipt_batches b JOIN receipts r ON r.batch_id = b.id WHERE r.transaction_id = {tx}")
        assert len(batch) == 1 and batch[0][0] == root, (batch, root)
        same_root = server.sql(f"SELECT count(*) FROM anchor_jobs WHERE body->'root' = (SELECT body->'root' FROM anchor_jobs WHERE id = '{batch[0][1]}')")
        assert same_root == [["1"]], same_root
        topic = "0x" + root
        logs = rpc_call(rpc, "eth_getLogs", {"address": contract, "fromBlock": "0x0", "toBlock": "latest", "topics": [None, topic]})
        assert len(logs) == 1, logs
        # One transaction from the anchoring key: a second send (which the contract would revert as a duplicate root)
        # would still have used a nonce.
        assert int(rpc_call(rpc, "eth_getTransactionCount", OWNER, "latest"), 16) == nonce_before + 1

        # The driver's proof verifies, offline and on chain.
        path = tmp_path / "bundle.json"
        path.write_text(json.dumps(bundle))
        for extra in ([], ["--rpc", rpc]):
            r = subprocess.run([BINARY, "receipt", "verify", str(path), *extra], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0 and "VALID" in r.stdout, r.stdout + r.stderr
    finally:
        server.destroy()
