"""The committed contract artifacts are what Anchor.vy compiles to, and the deployed code is the artifact's runtime."""
import json
import os
import subprocess
import sys

from eth_account import Account
from eth_tester import EthereumTester, PyEVMBackend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACT = os.path.join(ROOT, "Sources", "Chain", "Contract", "Anchor.json")


def test_committed_bytecode_matches_the_source():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "Scripts", "build-contract.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_deployed_code_is_the_committed_runtime():
    artifact = json.load(open(ARTIFACT))
    t = EthereumTester(PyEVMBackend())
    owner = Account.from_key("0x" + "00" * 31 + "01")
    tx = {"type": 2, "chainId": 131277322940537, "nonce": 0, "maxPriorityFeePerGas": 10**9, "maxFeePerGas": 4 * 10**9, "gas": 500000,
          "data": artifact["bytecode"], "value": 0, "accessList": []}
    h = t.send_raw_transaction("0x" + Account.sign_transaction(tx, owner.key).raw_transaction.hex())
    address = t.get_transaction_receipt(h)["contract_address"]
    assert t.get_code(address) == artifact["runtimeBytecode"] or t.get_code(address) == "0x" + artifact["runtimeBytecode"].removeprefix("0x")
    assert set(artifact["methodIdentifiers"]) >= {"anchor(bytes32,uint256,string)", "anchoredAt(bytes32)", "owner()"}
    assert artifact["methodIdentifiers"]["anchor(bytes32,uint256,string)"] == "0x5e1374e4"
