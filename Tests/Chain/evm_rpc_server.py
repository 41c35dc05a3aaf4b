#!/usr/bin/env python3
"""A real EVM (py-evm through eth-tester) behind an Ethereum JSON-RPC HTTP endpoint on loopback, for Voltaic's
chain tests.

    python Tests/Chain/evm_rpc_server.py [--port 0]      # prints "listening on http://127.0.0.1:PORT"

eth-tester alone cannot serve these tests: with automine off it validates every queued transaction against the
pre-state (so nonce n+1 cannot wait behind n), and its fee history is misshaped. So this server keeps its own
mempool with geth's rules (nonce too low, replacement needs +10 % on both fee fields, already known, insufficient
funds, nonce gaps wait) and only hands eth-tester the transactions of the block being mined (one per sender).

Standard methods: eth_chainId, net_version, web3_clientVersion, eth_blockNumber, eth_gasPrice,
eth_maxPriorityFeePerGas, eth_feeHistory, eth_getBalance, eth_getCode, eth_getTransactionCount, eth_call,
eth_estimateGas, eth_sendRawTransaction, eth_getTransactionByHash, eth_getTransactionReceipt,
eth_getBlockByNumber (latest, earliest, pending, safe, finalized), eth_getBlockByHash, eth_getLogs.

Test control: evm_mine [n], evm_setAutomine bool, evm_snapshot / evm_revert id, shim_setMinPriorityFee wei (holds
low-tip transactions: a stuck transaction), shim_reorg [depth, reinclude] (replaces the last depth blocks with
depth+1 new ones; their transactions go back to the pool or are lost), shim_outage seconds (the listener goes away
and comes back on the same port), shim_pending (the pool, for assertions).
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import BlockNotFound, TransactionFailed, TransactionNotFound

FINALITY_DEPTH = 2
REPLACEMENT_BUMP_PERCENT = 10


class RPCError(Exception):
    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def q(n):
    return hex(int(n))


def unq(s):
    return int(s, 16) if isinstance(s, str) else int(s)


class Chain:
    """The EVM plus a geth-like mempool. One lock serialises everything."""

    def __init__(self, finality_depth=FINALITY_DEPTH):
        self.lock = threading.RLock()
        self.tester = EthereumTester(PyEVMBackend(), auto_mine_transactions=False)
        self.chain_id = unq(self.tester.backend.chain.chain_id) if hasattr(self.tester.backend.chain, "chain_id") else 131277322940537
        self.pool = {}  # (sender, nonce) -> tx record
        self.automine = True
        self.min_tip = 0
        self.finality_depth = finality_depth
        self.snapshots = {}
        self.mined_raw = {}  # tx hash -> raw bytes, to put orphaned transactions back after a reorg

    # Transactions ---------------------------------------------------------------------------------------------

    def decode(self, raw):
        try:
            tx = PragueTransactionBuilder.decode(raw)
            sender = "0x" + tx.sender.hex()
        except Exception as e:  # noqa: BLE001 - any decoding failure is the client's
            raise RPCError(-32000, f"invalid transaction: {e}")
        legacy = not hasattr(tx, "max_fee_per_gas")
        if legacy:
            chain_id = getattr(tx, "chain_id", None)
            tip = fee = tx.gas_price
        else:
            chain_id = tx.chain_id
            tip, fee = tx.max_priority_fee_per_gas, tx.max_fee_per_gas
        return {"raw": raw, "hash": "0x" + tx.hash.hex(), "sender": sender.lower(), "nonce": tx.nonce, "tip": tip, "fee": fee,
                "gas": tx.gas, "value": tx.value, "chain_id": chain_id, "legacy": legacy, "received": time.time()}

    def send_raw(self, raw_hex):
        raw = bytes.fromhex(raw_hex[2:] if raw_hex.startswith("0x") else raw_hex)
        rec = self.decode(raw)
        with self.lock:
            if rec["chain_id"] != self.chain_id:
                raise RPCError(-32000, f"invalid chain id {rec['chain_id']}; this chain is {self.chain_id}")
            state_nonce = self.tester.get_nonce(rec["sender"])
            if rec["nonce"] < state_nonce:
                raise RPCError(-32000, f"nonce too low: next nonce {state_nonce}, tx nonce {rec['nonce']}")
            key = (rec["sender"], rec["nonce"])
            old = self.pool.get(key)
            if old is not None:
                if old["hash"] == rec["hash"]:
                    raise RPCError(-32000, "already known")
                bump = lambda v: v * (100 + REPLACEMENT_BUMP_PERCENT) // 100  # noqa: E731
                if rec["tip"] < bump(old["tip"]) or rec["fee"] < bump(old["fee"]):
                    raise RPCError(-32000, "replacement transaction underpriced")
            balance = self.tester.get_balance(rec["sender"])
            if balance < rec["gas"] * rec["fee"] + rec["value"]:
                raise RPCError(-32000, "insufficient funds for gas * price + value")
            self.pool[key] = rec
            if self.automine:
                self.mine_eligible()
            return rec["hash"]

    def eligible(self):
        """Pool transactions the next block can take: next nonce of their sender, enough tip and fee."""
        base_fee = self.tester.get_block_by_number("pending")["base_fee_per_gas"]
        out = []
        for sender in sorted({s for s, _ in self.pool}):
            nonce = self.tester.get_nonce(sender)
            while (sender, nonce) in self.pool:
                rec = self.pool[(sender, nonce)]
                effective_tip = min(rec["tip"], rec["fee"] - base_fee) if not rec["legacy"] else rec["fee"] - base_fee
                if rec["fee"] < base_fee or effective_tip < self.min_tip:
                    break
                out.append(rec)
                nonce += 1
        return out

    def mine_block(self):
        """Mines one block with the next eligible transaction of every sender. (py-evm validates each
        transaction of a pending block against the parent state, so a sender gets one per block.)"""
        included = []
        seen = set()
        for rec in self.eligible():
            if rec["sender"] in seen:
                continue
            seen.add(rec["sender"])
            try:
                self.tester.send_raw_transaction("0x" + rec["raw"].hex())
                included.append(rec)
                self.mined_raw[rec["hash"]] = rec["raw"]
            except Exception:  # noqa: BLE001 - a transaction the block cannot take is dropped, as a node would
                pass
            self.pool.pop((rec["sender"], rec["nonce"]), None)
        self.tester.mine_blocks(1)
        return included

    def mine_eligible(self):
        while self.eligible():
            self.mine_block()

    def pending_nonce(self, address):
        address = address.lower()
        nonce = self.tester.get_nonce(address)
        while (address, nonce) in self.pool:
            nonce += 1
        return nonce

    def drop_stale(self):
        for key in [k for k in self.pool if k[1] < self.tester.get_nonce(k[0])]:
            del self.pool[key]

    # Blocks -----------------------------------------------------------------------------------------------------

    def head(self):
        return self.tester.get_block_by_number("latest")["number"]

    def block(self, tag, full=False):
        if tag in ("safe", "finalized"):
            tag = max(0, self.head() - self.finality_depth)
        elif isinstance(tag, str) and tag.startswith("0x"):
            tag = unq(tag)
        try:
            return self.tester.get_block_by_number(tag, full_transactions=full)
        except BlockNotFound:
            return None

    def reorg(self, depth, reinclude):
        """Replaces the last `depth` blocks by depth+1 new ones. Their transactions go back to the pool when
        `reinclude`, and are lost otherwise (a client must rebroadcast)."""
        head = self.head()
        depth = max(1, min(depth, head))
        orphaned = []
        for n in range(head - depth + 1, head + 1):
            for tx in self.tester.get_block_by_number(n, full_transactions=True)["transactions"]:
                orphaned.append(tx["hash"])
        fork_point = self.tester.get_block_by_number(head - depth)["hash"]
        raws = {h: self.mined_raw.get(h.lower()) for h in orphaned} if reinclude else {}
        self.tester.backend.revert_to_snapshot(bytes.fromhex(fork_point[2:]))
        for _ in range(depth + 1):
            self.tester.mine_blocks(1)
        self.drop_stale()
        for raw in raws.values():
            if raw is not None:
                rec = self.decode(raw)
                self.pool[(rec["sender"], rec["nonce"])] = rec
        return {"orphaned": orphaned, "head": self.head()}

    def fee_history(self, count, newest, percentiles):
        newest_block = self.block(newest if newest != "pending" else "latest")
        newest_n = newest_block["number"]
        count = max(1, min(int(count), newest_n + 1, 1024))
        oldest = newest_n - count + 1
        base_fees, ratios, rewards = [], [], []
        for n in range(oldest, newest_n + 1):
            b = self.tester.get_block_by_number(n, full_transactions=True)
            base = b["base_fee_per_gas"]
            base_fees.append(q(base))
            ratios.append(b["gas_used"] / b["gas_limit"] if b["gas_limit"] else 0.0)
            tips = sorted(min(tx.get("max_priority_fee_per_gas", tx["gas_price"]), tx.get("max_fee_per_gas", tx["gas_price"]) - base)
                          for tx in b["transactions"])
            row = []
            for p in percentiles:
                row.append(q(tips[min(len(tips) - 1, int(len(tips) * p / 100))] if tips else 0))
            rewards.append(row)
        base_fees.append(q(self.tester.get_block_by_number("pending")["base_fee_per_gas"] if newest_n == self.head() else
                           self.tester.get_block_by_number(newest_n + 1)["base_fee_per_gas"]))
        out = {"oldestBlock": q(oldest), "baseFeePerGas": base_fees, "gasUsedRatio": ratios}
        if percentiles:
            out["reward"] = rewards
        return out


def fmt_block(b, full):
    if b is None:
        return None
    txs = [fmt_tx(t) if isinstance(t, dict) else t for t in b["transactions"]] if full else [t["hash"] if isinstance(t, dict) else t for t in b["transactions"]]
    out = {"number": q(b["number"]), "hash": b["hash"], "parentHash": b["parent_hash"], "timestamp": q(b["timestamp"]), "gasLimit": q(b["gas_limit"]),
           "gasUsed": q(b["gas_used"]), "miner": b.get("coinbase", "0x" + "00" * 20), "transactions": txs, "logsBloom": "0x" + "00" * 256}
    if b.get("base_fee_per_gas") is not None:
        out["baseFeePerGas"] = q(b["base_fee_per_gas"])
    return out


def fmt_tx(t):
    out = {"hash": t["hash"], "nonce": q(t["nonce"]), "from": t["from"], "to": t["to"] or None, "value": q(t["value"]), "gas": q(t["gas"]),
           "input": t["data"], "blockHash": t.get("block_hash"), "blockNumber": q(t["block_number"]) if t.get("block_number") is not None else None,
           "type": t.get("type", "0x0"), "chainId": q(t["chain_id"]) if t.get("chain_id") is not None else None}
    for k, name in (("gas_price", "gasPrice"), ("max_fee_per_gas", "maxFeePerGas"), ("max_priority_fee_per_gas", "maxPriorityFeePerGas")):
        if t.get(k) is not None:
            out[name] = q(t[k])
    return out


def fmt_log(log, receipt):
    return {"address": log["address"], "topics": log["topics"], "data": log["data"], "blockNumber": q(receipt["block_number"]),
            "blockHash": receipt["block_hash"], "transactionHash": receipt["transaction_hash"],
            "transactionIndex": q(receipt["transaction_index"]), "logIndex": q(log["log_index"]), "removed": False}


def fmt_receipt(r):
    return {"transactionHash": r["transaction_hash"], "transactionIndex": q(r["transaction_index"]), "blockHash": r["block_hash"],
            "blockNumber": q(r["block_number"]), "from": r["from"], "to": r["to"], "contractAddress": r["contract_address"],
            "cumulativeGasUsed": q(r["cumulative_gas_used"]), "gasUsed": q(r["gas_used"]), "effectiveGasPrice": q(r["effective_gas_price"]),
            "status": q(r["status"]), "type": r.get("type", "0x0"), "logs": [fmt_log(l, r) for l in r["logs"]], "logsBloom": "0x" + "00" * 256}


def call_tx(params, default_from):
    c = params[0]
    tx = {k: v for k, v in {"from": c.get("from"), "to": c.get("to"), "data": c.get("data", c.get("input", "0x")),
                            "value": unq(c.get("value", "0x0")), "gas": unq(c["gas"]) if "gas" in c else None}.items() if v is not None}
    if "from" not in tx:
        # Like geth, a call without a sender is not charged: run it from a funded dev account.
        tx["from"] = default_from
    return tx


class Server:
    def __init__(self, chain, port):
        self.chain = chain
        self.port = port
        self.httpd = None
        self.thread = None
        self.offline = False

    def dispatch(self, method, params):
        c = self.chain
        t = c.tester
        with c.lock:
            if method == "eth_chainId":
                return q(c.chain_id)
            if method == "net_version":
                return str(c.chain_id)
            if method == "web3_clientVersion":
                return "voltaic-evm-test-server/py-evm"
            if method == "eth_blockNumber":
                return q(c.head())
            # The suggestions ignore shim_setMinPriorityFee on purpose: that is how a transaction gets stuck.
            if method == "eth_maxPriorityFeePerGas":
                return q(10**9)
            if method == "eth_gasPrice":
                return q(t.get_block_by_number("pending")["base_fee_per_gas"] + 10**9)
            if method == "eth_feeHistory":
                return c.fee_history(unq(params[0]), params[1], params[2] if len(params) > 2 else [])
            if method == "eth_getBalance":
                return q(t.get_balance(params[0]))
            if method == "eth_getCode":
                return t.get_code(params[0])
            if method == "eth_getTransactionCount":
                tag = params[1] if len(params) > 1 else "latest"
                return q(c.pending_nonce(params[0]) if tag == "pending" else t.get_nonce(params[0]))
            if method in ("eth_call", "eth_estimateGas"):
                try:
                    if method == "eth_call":
                        return t.call(call_tx(params, t.get_accounts()[0]), params[1] if len(params) > 1 and params[1] not in ("pending",) else "latest")
                    return q(t.estimate_gas(call_tx(params, t.get_accounts()[0])))
                except TransactionFailed as e:
                    reason = str(e.args[0]) if e.args else "execution reverted"
                    raise RPCError(3, "execution reverted" + (": " + reason if reason and "revert" not in reason.lower() else ""), "0x")
            if method == "eth_sendRawTransaction":
                return c.send_raw(params[0])
            if method == "eth_getTransactionReceipt":
                try:
                    return fmt_receipt(t.get_transaction_receipt(params[0]))
                except TransactionNotFound:
                    return None
            if method == "eth_getTransactionByHash":
                try:
                    return fmt_tx(t.get_transaction_by_hash(params[0]))
                except TransactionNotFound:
                    for rec in c.pool.values():
                        if rec["hash"] == params[0].lower():
                            return {"hash": rec["hash"], "nonce": q(rec["nonce"]), "from": rec["sender"], "blockHash": None, "blockNumber": None}
                    return None
            if method == "eth_getBlockByNumber":
                return fmt_block(c.block(params[0], bool(params[1]) if len(params) > 1 else False), bool(params[1]) if len(params) > 1 else False)
            if method == "eth_getBlockByHash":
                try:
                    return fmt_block(t.get_block_by_hash(params[0], full_transactions=bool(params[1])), bool(params[1]))
                except BlockNotFound:
                    return None
            if method == "eth_getLogs":
                return self.get_logs(params[0])
            # Test control
            if method in ("evm_mine", "anvil_mine", "hardhat_mine"):
                for _ in range(unq(params[0]) if params else 1):
                    c.mine_block()
                return "0x0"
            if method == "evm_setAutomine":
                c.automine = bool(params[0])
                if c.automine:
                    c.mine_eligible()
                return True
            if method == "evm_snapshot":
                sid = q(len(c.snapshots) + 1)
                c.snapshots[sid] = (t.take_snapshot(), dict(c.pool))
                return sid
            if method == "evm_revert":
                snap = c.snapshots.get(params[0])
                if snap is None:
                    return False
                t.revert_to_snapshot(snap[0])
                c.pool = dict(snap[1])
                return True
            if method == "shim_setMinPriorityFee":
                c.min_tip = unq(params[0])
                if c.automine:
                    c.mine_eligible()
                return True
            if method == "shim_reorg":
                depth = unq(params[0]) if params else 1
                reinclude = bool(params[1]) if len(params) > 1 else False
                out = c.reorg(depth, reinclude)
                if c.automine and reinclude:
                    c.mine_eligible()
                return out
            if method == "shim_outage":
                threading.Thread(target=self.outage, args=(float(params[0]),), daemon=True).start()
                return True
            if method == "shim_pending":
                return [{"hash": r["hash"], "sender": r["sender"], "nonce": r["nonce"], "tip": q(r["tip"]), "fee": q(r["fee"])} for r in c.pool.values()]
        raise RPCError(-32601, f"the method {method} does not exist/is not available")

    def get_logs(self, f):
        c = self.chain
        head = c.head()

        def block_of(tag, default):
            if tag is None:
                return default
            if tag in ("latest", "pending"):
                return head
            if tag in ("safe", "finalized"):
                return max(0, head - c.finality_depth)
            if tag == "earliest":
                return 0
            return unq(tag)

        if f.get("blockHash"):
            numbers = [c.tester.get_block_by_hash(f["blockHash"])["number"]]
        else:
            numbers = range(block_of(f.get("fromBlock"), head), block_of(f.get("toBlock"), head) + 1)
        addresses = f.get("address")
        if isinstance(addresses, str):
            addresses = [addresses]
        addresses = {a.lower() for a in addresses} if addresses else None
        topics = f.get("topics") or []
        out = []
        for n in numbers:
            for tx_hash in c.tester.get_block_by_number(n)["transactions"]:
                r = c.tester.get_transaction_receipt(tx_hash)
                for log in r["logs"]:
                    if addresses and log["address"].lower() not in addresses:
                        continue
                    ok = True
                    for i, want in enumerate(topics):
                        if want is None:
                            continue
                        wants = want if isinstance(want, list) else [want]
                        if i >= len(log["topics"]) or log["topics"][i].lower() not in [w.lower() for w in wants]:
                            ok = False
                            break
                    if ok:
                        out.append(fmt_log(log, r))
        return out

    def handle(self, request):
        if not isinstance(request, dict) or "method" not in request:
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
        try:
            result = self.dispatch(request["method"], request.get("params") or [])
            return {"jsonrpc": "2.0", "id": request.get("id"), "result": result}
        except RPCError as e:
            err = {"code": e.code, "message": e.message}
            if e.data is not None:
                err["data"] = e.data
            return {"jsonrpc": "2.0", "id": request.get("id"), "error": err}
        except Exception as e:  # noqa: BLE001 - report, never crash the server
            return {"jsonrpc": "2.0", "id": request.get("id"), "error": {"code": -32603, "message": f"internal error: {type(e).__name__}: {e}"}}

    def make_handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                if server.offline:
                    # The node is down: drop the connection without an answer.
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    request = json.loads(self.rfile.read(length))
                except ValueError:
                    response = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
                else:
                    response = [server.handle(r) for r in request] if isinstance(request, list) else server.handle(request)
                body = json.dumps(response).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def listen(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self.make_handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def outage(self, seconds):
        time.sleep(0.05)  # let the answer to shim_outage go out first
        self.offline = True  # kept-alive connections are dropped too
        self.httpd.shutdown()
        self.httpd.server_close()
        time.sleep(seconds)
        self.offline = False
        for _ in range(100):
            try:
                self.listen()
                return
            except OSError:
                time.sleep(0.05)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--finality-depth", type=int, default=FINALITY_DEPTH)
    args = p.parse_args()
    server = Server(Chain(args.finality_depth), args.port)
    server.listen()
    print(f"listening on http://127.0.0.1:{server.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
