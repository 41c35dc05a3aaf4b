import Chain
import Foundation
import Testing

/// Byte-for-byte agreement with eth-account (vectors written by Tests/Chain/make_vectors.py).
@Suite struct EthAccountVectorTests {
    struct Vectors: Decodable {
        struct KeccakCase: Decodable { let input: String; let hash: String }
        struct AddressCase: Decodable { let key: String; let address: String }
        struct TxCase: Decodable {
            let key: String
            let tx: [String: JSONish]
            let raw: String
            let hash: String
            let sender: String
        }
        let keccak: [KeccakCase]
        let addresses: [AddressCase]
        let eip55: [String]
        let legacy: [TxCase]
        let dynamic: [TxCase]
    }

    enum JSONish: Decodable {
        case string(String), int(Int), array([String]), null
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null } else if let i = try? c.decode(Int.self) { self = .int(i) } else if let a = try? c.decode([String].self) { self = .array(a) } else { self = .string(try c.decode(String.self)) }
        }
        var string: String? { if case .string(let s) = self { s } else { nil } }
    }

    static let vectors: Vectors = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Vectors/eth_account.json")
        return try! JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
    }()

    func q(_ tx: [String: JSONish], _ key: String) -> UInt128 { Quantity.decode128(tx[key]!.string!)! }
    func q64(_ tx: [String: JSONish], _ key: String) -> UInt64 { Quantity.decode(tx[key]!.string!)! }
    func to(_ tx: [String: JSONish]) -> Address? { tx["to"]?.string.flatMap { Address($0.lowercased()) } }
    func data(_ tx: [String: JSONish]) -> [UInt8] { Hex.decode(tx["data"]!.string!)! }

    @Test func keccak() {
        for c in Self.vectors.keccak { #expect(Hex.encode(Keccak256.hash(Array(c.input.utf8))) == c.hash, "\(c.input.prefix(20))") }
    }

    @Test func addressesAndEIP55() throws {
        for c in Self.vectors.addresses { #expect(try PrivateKey(hex: c.key).address.checksummed == c.address) }
        for a in Self.vectors.eip55 {
            #expect(Address(a.lowercased())?.checksummed == a)
            #expect(Address(a) != nil)
        }
        // A wrong mixed-case checksum is refused.
        let good = Self.vectors.eip55[0]
        let flipped = String(good.prefix(2)) + good.dropFirst(2).map { $0.isUppercase ? $0.lowercased() : $0.uppercased() }.joined()
        #expect(Address(flipped) == nil)
    }

    @Test func eip155LegacyTransactions() throws {
        for c in Self.vectors.legacy {
            let tx = Transaction.legacy(.init(chainId: q64(c.tx, "chainId"), nonce: q64(c.tx, "nonce"), gasPrice: q(c.tx, "gasPrice"), gasLimit: q64(c.tx, "gas"), to: to(c.tx), value: q(c.tx, "value"), data: data(c.tx)))
            let signed = try tx.signed(with: PrivateKey(hex: c.key))
            #expect(signed.rawHex == c.raw)
            #expect(signed.hashHex == c.hash)
            #expect(signed.sender?.checksummed == c.sender)
        }
        // The example in EIP-155's own text.
        #expect(Self.vectors.legacy[0].raw.hasSuffix("3b6d83") && Self.vectors.legacy[0].raw.hasPrefix("0xf86c0985"))
    }

    @Test func eip1559Transactions() throws {
        for c in Self.vectors.dynamic {
            let tx = Transaction.dynamicFee(.init(chainId: q64(c.tx, "chainId"), nonce: q64(c.tx, "nonce"), maxPriorityFeePerGas: q(c.tx, "maxPriorityFeePerGas"), maxFeePerGas: q(c.tx, "maxFeePerGas"), gasLimit: q64(c.tx, "gas"), to: to(c.tx), value: q(c.tx, "value"), data: data(c.tx)))
            let signed = try tx.signed(with: PrivateKey(hex: c.key))
            #expect(signed.rawHex == c.raw)
            #expect(signed.hashHex == c.hash)
            #expect(signed.sender?.checksummed == c.sender)
        }
    }

    @Test func keysNeverReachLogs() throws {
        let key = try PrivateKey(hex: "0x" + String(repeating: "46", count: 32))
        #expect(!"\(key)".contains("4646"))
        #expect(!String(reflecting: key).contains("4646"))
        #expect(throws: KeyError.self) { try PrivateKey(hex: "0x" + String(repeating: "00", count: 32)) }
        #expect(throws: KeyError.self) { try PrivateKey(hex: "0x1234") }
    }

    @Test func anchorCalldataAndEventTopic() {
        #expect(Hex.encode(AnchorABI.anchorSelector) == "0x5e1374e4")
        #expect(Hex.encode(AnchorABI.eventTopic).hasPrefix("0x4af90204"))
        let root = [UInt8](repeating: 0xAB, count: 32)
        let calldata = AnchorABI.encodeAnchor(root: root, count: 5, uri: "ipfs://root")
        #expect(Hex.encode(calldata) == Self.vectors.dynamic[0].tx["data"]?.string)
        // The event's data holds the non-indexed (count, uri): the string's offset counts from count.
        let uri = Array("ipfs://root".utf8)
        let data = AnchorABI.word(5) + AnchorABI.word(0x40) + AnchorABI.word(UInt64(uri.count)) + uri + [UInt8](repeating: 0, count: 32 - uri.count)
        let event = AnchorABI.decodeAnchored(topics: [AnchorABI.eventTopic, root], data: data)
        #expect(event == AnchorABI.AnchoredEvent(root: root, count: 5, uri: "ipfs://root"))
        #expect(AnchorABI.decodeAnchored(topics: [AnchorABI.eventTopic, root], data: Array(data.prefix(70))) == nil)
    }
}
