import Chain
import Testing

@Suite struct KeccakTests {
    @Test(arguments: [
        ("", "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
        ("abc", "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
        ("The quick brown fox jumps over the lazy dog", "0x4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15"),
        ("anchor(bytes32,uint256,string)", "0x5e1374e4"),
    ])
    func knownAnswers(_ input: String, _ expected: String) {
        let hash = Hex.encode(Keccak256.hash(Array(input.utf8)))
        #expect(hash.hasPrefix(expected))
    }
}

@Suite struct RLPTests {
    @Test(arguments: [
        (RLP.bytes([]), "0x80"),
        (RLP.bytes(Array("dog".utf8)), "0x83646f67"),
        (RLP.list([.bytes(Array("cat".utf8)), .bytes(Array("dog".utf8))]), "0xc88363617483646f67"),
        (RLP.list([]), "0xc0"),
        (RLP.uint(UInt64(0)), "0x80"),
        (RLP.uint(UInt64(15)), "0x0f"),
        (RLP.uint(UInt64(1024)), "0x820400"),
        (RLP.list([.list([]), .list([.list([])]), .list([.list([]), .list([.list([])])])]), "0xc7c0c1c0c3c0c1c0"),
        (RLP.bytes(Array("Lorem ipsum dolor sit amet, consectetur adipisicing elit".utf8)),
         "0xb8384c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e7365637465747572206164697069736963696e6720656c6974"),
    ])
    func encodesTheSpecVectors(_ item: RLP, _ hex: String) throws {
        #expect(Hex.encode(item.encoded) == hex)
        #expect(try RLP.decode(Hex.decode(hex)!) == item)
    }

    @Test(arguments: ["0x", "0x8100", "0xb800", "0xc2c1", "0x83646f", "0x8080", "0xb90000"])
    func rejectsMalformedInput(_ hex: String) {
        #expect(throws: RLPError.self) { try RLP.decode(Hex.decode(hex)!) }
    }
}
