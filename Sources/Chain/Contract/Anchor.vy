# pragma version ~=0.4.3
"""
@title Voltaic receipt anchor
@notice Records the Merkle root of a batch of charging-session receipts. Only the owner (the CSMS's
        anchoring key) may anchor, and a root can be anchored once: a rebroadcast of the same anchor
        reverts instead of writing twice.
"""

event Anchored:
    root: indexed(bytes32)
    count: uint256
    uri: String[256]

owner: public(address)
# The block a root was anchored in; 0 when it never was.
anchoredAt: public(HashMap[bytes32, uint256])


@deploy
def __init__():
    self.owner = msg.sender


@external
def anchor(root: bytes32, count: uint256, uri: String[256]):
    assert msg.sender == self.owner, "not owner"
    assert self.anchoredAt[root] == 0, "duplicate root"
    self.anchoredAt[root] = block.number
    log Anchored(root=root, count=count, uri=uri)
