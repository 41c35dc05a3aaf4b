#!/usr/bin/env python3
"""Writes Tests/ChainTests/Vectors/eth_account.json: Keccak-256, EIP-55, EIP-155 and EIP-1559 vectors produced by
eth-account (the reference the Swift Chain target must match byte for byte). Rerun after changing it:

    .venv-evm/bin/python Tests/Chain/make_vectors.py
"""
import json
import os

from eth_account import Account
from eth_utils import keccak, to_checksum_address

OUT = os.path.join(os.path.dirname(__file__), "..", "ChainTests", "Vectors", "eth_account.json")


def hx(b):
    return "0x" + bytes(b).hex()


def main():
    keccak_inputs = ["", "abc", "a" * 135, "a" * 136, "a" * 137, "a" * 300, "anchor(bytes32,uint256,string)", "Anchored(bytes32,uint256,string)"]
    keys = ["0x" + "00" * 31 + "01", "0x" + "46" * 32, "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"]
    anchor_data = "0x5e1374e4" + "ab" * 32 + "00" * 31 + "05" + "00" * 31 + "60" + "00" * 31 + "0b" + b"ipfs://root".hex() + "00" * 21
    legacy = [
        # The example of EIP-155 itself.
        {"key": "0x" + "46" * 32, "tx": {"nonce": 9, "gasPrice": 20 * 10**9, "gas": 21000, "to": "0x" + "35" * 20, "value": 10**18, "data": "0x", "chainId": 1}},
        {"key": keys[2], "tx": {"nonce": 0, "gasPrice": 1, "gas": 100000, "to": "0x" + "00" * 19 + "01", "value": 0, "data": anchor_data, "chainId": 131277322940537}},
        {"key": keys[0], "tx": {"nonce": 1234567, "gasPrice": 3 * 10**12, "gas": 5_000_000, "to": None, "value": 0, "data": "0x6080604052", "chainId": 246}},
    ]
    dynamic = [
        {"key": keys[2], "tx": {"type": 2, "chainId": 131277322940537, "nonce": 7, "maxPriorityFeePerGas": 10**9, "maxFeePerGas": 3 * 10**9, "gas": 80000,
                                 "to": "0x" + "12" * 20, "value": 0, "data": anchor_data, "accessList": []}},
        {"key": keys[1], "tx": {"type": 2, "chainId": 1, "nonce": 0, "maxPriorityFeePerGas": 0, "maxFeePerGas": 0, "gas": 21000,
                                 "to": "0x" + "35" * 20, "value": 123456789 * 10**18, "data": "0x", "accessList": []}},
        {"key": keys[0], "tx": {"type": 2, "chainId": 3338, "nonce": 300, "maxPriorityFeePerGas": 2 * 10**9 + 1, "maxFeePerGas": 10**11, "gas": 300000,
                                 "to": None, "value": 0, "data": "0x" + "60" * 100, "accessList": []}},
    ]
    out = {
        "keccak": [{"input": s, "hash": hx(keccak(text=s))} for s in keccak_inputs],
        "addresses": [{"key": k, "address": Account.from_key(k).address} for k in keys],
        "eip55": [to_checksum_address(a) for a in ["0x" + "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359",
                                                   "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb", "0xd1220a0cf47c7b9be7a2e6ba89f429762e7b9adb"]],
        "legacy": [],
        "dynamic": [],
    }
    for kind, cases in (("legacy", legacy), ("dynamic", dynamic)):
        for case in cases:
            tx = dict(case["tx"])
            if tx["to"] is None:
                tx.pop("to")
            signed = Account.sign_transaction(tx, case["key"])
            out[kind].append({"key": case["key"], "tx": {k: (hex(v) if isinstance(v, int) and k != "type" else v) for k, v in case["tx"].items()},
                              "raw": hx(signed.raw_transaction), "hash": hx(signed.hash), "sender": Account.from_key(case["key"]).address})
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote", os.path.relpath(OUT))


if __name__ == "__main__":
    main()
