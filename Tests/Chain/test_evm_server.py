"""The test EVM server's own rules, which the Swift chain tests rely on: geth's mempool behaviour, fee history shape,
finality tag, reorgs."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from eth_account import Account  # noqa: E402
from evm_rpc_server import Chain, RPCError, Server  # noqa: E402

KEY = Account.from_key("0x" + "00" * 31 + "01")


@pytest.fixture
def node():
    return Server(Chain(), 0)


def raw(chain, nonce, tip=10**9, fee=5 * 10**9, to="0x" + "35" * 20):
    tx = {"type": 2, "chainId": chain.chain_id, "nonce": nonce, "maxPriorityFeePerGas": tip, "maxFeePerGas": fee, "gas": 21000, "to": to, "value": 1,
          "data": "0x", "accessList": []}
    return "0x" + Account.sign_transaction(tx, KEY.key).raw_transaction.hex()


def call(node, method, *params):
    return node.dispatch(method, list(params))


def test_mempool_follows_geths_rules(node):
    c = node.chain
    call(node, "evm_setAutomine", False)
    h0 = call(node, "eth_sendRawTransaction", raw(c, 0))
    # Nonce 2 waits behind the gap; nonce 1 fills it and both can go into one block.
    call(node, "eth_sendRawTransaction", raw(c, 2))
    call(node, "eth_sendRawTransaction", raw(c, 1))
    assert call(node, "eth_getTransactionCount", KEY.address, "pending") == "0x3"
    assert call(node, "eth_getTransactionCount", KEY.address, "latest") == "0x0"
    with pytest.raises(RPCError, match="already known"):
        call(node, "eth_sendRawTransaction", raw(c, 0))
    with pytest.raises(RPCError, match="underpriced"):
        call(node, "eth_sendRawTransaction", raw(c, 0, tip=int(1.05 * 10**9), fee=int(5.25 * 10**9)))
    replacement = call(node, "eth_sendRawTransaction", raw(c, 0, tip=2 * 10**9, fee=10 * 10**9))
    assert call(node, "eth_getTransactionReceipt", h0) is None
    call(node, "evm_mine")
    block = call(node, "eth_getBlockByNumber", "latest", False)
    assert block["transactions"] == [replacement]
    call(node, "evm_mine", "0x2")
    assert call(node, "eth_getTransactionCount", KEY.address, "latest") == "0x3"
    assert call(node, "eth_getTransactionReceipt", h0) is None
    with pytest.raises(RPCError, match="nonce too low"):
        call(node, "eth_sendRawTransaction", raw(c, 1, tip=3 * 10**9, fee=20 * 10**9))


def test_fee_history_is_oldest_first_with_one_more_base_fee(node):
    for _ in range(3):
        call(node, "evm_mine")
    h = call(node, "eth_feeHistory", "0x3", "latest", [50])
    assert h["oldestBlock"] == "0x1" and len(h["baseFeePerGas"]) == 4 and len(h["reward"]) == 3


def test_low_tips_wait_until_the_minimum_drops(node):
    c = node.chain
    call(node, "shim_setMinPriorityFee", hex(2 * 10**9))
    h = call(node, "eth_sendRawTransaction", raw(c, 0))
    call(node, "evm_mine")
    assert call(node, "eth_getTransactionReceipt", h) is None
    call(node, "shim_setMinPriorityFee", "0x0")
    assert call(node, "eth_getTransactionReceipt", h)["status"] == "0x1"


def test_reorg_replaces_blocks_and_can_lose_or_reinclude(node):
    c = node.chain
    h = call(node, "eth_sendRawTransaction", raw(c, 0))
    mined = call(node, "eth_getTransactionReceipt", h)
    out = call(node, "shim_reorg", 1, False)
    assert out["orphaned"] == [h] and call(node, "eth_getTransactionReceipt", h) is None
    assert call(node, "eth_getBlockByNumber", mined["blockNumber"], False)["hash"] != mined["blockHash"]
    # The same bytes are accepted again and mined into a new block.
    call(node, "eth_sendRawTransaction", raw(c, 0))
    again = call(node, "eth_getTransactionReceipt", h)
    assert again["blockHash"] != mined["blockHash"]
    call(node, "shim_reorg", 1, True)
    assert call(node, "eth_getTransactionReceipt", h)["status"] == "0x1"


def test_finalized_trails_the_head(node):
    for _ in range(5):
        call(node, "evm_mine")
    assert int(call(node, "eth_getBlockByNumber", "finalized", False)["number"], 16) == 5 - c_depth(node)


def c_depth(node):
    return node.chain.finality_depth
