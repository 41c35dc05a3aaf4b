"""`voltaic receipt verify` on bundles built independently in Python: an RFC 6962 tree written here from the RFC,
an anchor made with eth-account against the test EVM. A byte changed anywhere is caught."""
import base64
import hashlib
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from eth_account import Account  # noqa: E402
from eth_utils import keccak  # noqa: E402
from evm_rpc_server import Chain, Server  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("VOLTAIC_BIN", os.path.join(ROOT, ".build", "debug", "voltaic"))
OWNER = Account.from_key("0x" + "00" * 31 + "01")


def leaf(d):
    return hashlib.sha256(b"\x00" + d).digest()


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def mth(ds):
    if len(ds) == 1:
        return leaf(ds[0])
    k = 1
    while k * 2 < len(ds):
        k *= 2
    return node(mth(ds[:k]), mth(ds[k:]))


def path(m, ds):
    """RFC 6962 PATH(m, D[n])."""
    if len(ds) == 1:
        return []
    k = 1
    while k * 2 < len(ds):
        k *= 2
    if m < k:
        return path(m, ds[:k]) + [mth(ds[k:])]
    return path(m - k, ds[k:]) + [mth(ds[:k])]


def bundle(receipts, i, anchor):
    return {"version": 1, "receipt": base64.b64encode(receipts[i]).decode(),
            "merkle": {"alg": "RFC9162-SHA256", "leafIndex": i, "treeSize": len(receipts), "path": ["0x" + p.hex() for p in path(i, receipts)],
                       "root": "0x" + mth(receipts).hex()},
            "anchor": anchor}


def verify(tmp_path, b, *args):
    f = tmp_path / "bundle.json"
    f.write_text(json.dumps(b))
    return subprocess.run([BINARY, "receipt", "verify", str(f), *args], capture_output=True, text=True, timeout=60)


RECEIPTS = [json.dumps({"session": f"S{i}", "energyWh": 1000 + i, "salt": os.urandom(8).hex()}, sort_keys=True).encode() for i in range(11)]
NO_ANCHOR = {"chainId": "eip155:1", "contract": "0x" + "00" * 20, "txHash": "0x" + "00" * 32, "blockNumber": 0, "blockHash": "0x" + "00" * 32, "logIndex": 0}


@pytest.mark.parametrize("index", [0, 5, 10])
def test_offline_valid_and_tampering_fails(tmp_path, index):
    good = bundle(RECEIPTS, index, NO_ANCHOR)
    r = verify(tmp_path, good)
    assert r.returncode == 0 and "VALID" in r.stdout, r.stdout + r.stderr
    tampered = json.loads(json.dumps(good))
    raw = bytearray(RECEIPTS[index])
    raw[3] ^= 1
    tampered["receipt"] = base64.b64encode(bytes(raw)).decode()
    r = verify(tmp_path, tampered)
    assert r.returncode == 1 and "INVALID" in r.stdout
    tampered = json.loads(json.dumps(good))
    p = bytearray.fromhex(tampered["merkle"]["path"][0][2:])
    p[31] ^= 0x80
    tampered["merkle"]["path"][0] = "0x" + p.hex()
    assert verify(tmp_path, tampered).returncode == 1


def test_anchor_checked_on_chain(tmp_path):
    server = Server(Chain(), 0)
    server.listen()
    try:
        chain = server.chain
        artifact = json.load(open(os.path.join(ROOT, "Sources", "Chain", "Contract", "Anchor.json")))

        def send(nonce, to, data):
            tx = {"type": 2, "chainId": chain.chain_id, "nonce": nonce, "maxPriorityFeePerGas": 10**9, "maxFeePerGas": 5 * 10**9, "gas": 600000,
                  "data": data, "value": 0, "accessList": []}
            if to:
                tx["to"] = to
            h = server.dispatch("eth_sendRawTransaction", ["0x" + Account.sign_transaction(tx, OWNER.key).raw_transaction.hex()])
            return server.dispatch("eth_getTransactionReceipt", [h])

        contract = send(0, None, artifact["bytecode"])["contractAddress"]
        root = mth(RECEIPTS)
        uri = b"https://voltaic.example/b/1"
        data = ("0x5e1374e4" + root.hex() + f"{len(RECEIPTS):064x}" + f"{0x60:064x}" + f"{len(uri):064x}" + uri.hex().ljust(64, "0"))
        receipt = send(1, contract, data)
        assert receipt["status"] == "0x1" and receipt["logs"][0]["topics"][0] == "0x" + keccak(text="Anchored(bytes32,uint256,string)").hex()
        server.dispatch("evm_mine", ["0x2"])
        anchor = {"chainId": f"eip155:{chain.chain_id}", "contract": contract, "txHash": receipt["transactionHash"],
                  "blockNumber": int(receipt["blockNumber"], 16), "blockHash": receipt["blockHash"], "logIndex": int(receipt["logs"][0]["logIndex"], 16)}
        url = f"http://127.0.0.1:{server.port}"
        r = verify(tmp_path, bundle(RECEIPTS, 7, anchor), "--rpc", url, "--confirmations", "3")
        assert r.returncode == 0 and "3 confirmations" in r.stdout, r.stdout + r.stderr
        # A root that was never anchored, or the wrong block, is refused.
        forged = bundle(RECEIPTS[:10], 7, anchor)
        assert verify(tmp_path, forged, "--rpc", url).returncode != 0
        moved = dict(anchor, blockHash="0x" + "11" * 32)
        assert verify(tmp_path, bundle(RECEIPTS, 7, moved), "--rpc", url).returncode != 0
    finally:
        server.httpd.shutdown()
