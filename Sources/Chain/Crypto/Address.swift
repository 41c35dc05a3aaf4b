/// A 20-byte Ethereum address, shown with its EIP-55 checksum.
public struct Address: Sendable, Hashable, Codable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 20 else { return nil }
        self.bytes = bytes
    }

    /// The last 20 bytes of keccak256 of the 64-byte public key.
    public init(publicKey: [UInt8]) {
        bytes = Array(Keccak256.hash(publicKey).suffix(20))
    }

    /// Parses `0x` + 40 hex digits. Mixed case must carry a valid EIP-55 checksum.
    public init?(_ text: String) {
        guard text.count == 42, text.hasPrefix("0x"), let b = Hex.decode(text), b.count == 20 else { return nil }
        bytes = b
        let digits = text.dropFirst(2)
        let mixed = digits.contains { $0.isUppercase } && digits.contains { $0.isLowercase }
        if mixed, checksummed != text { return nil }
    }

    /// EIP-55 mixed-case checksum encoding.
    public var checksummed: String {
        let lower = Hex.encode(bytes, prefix: false)
        let hash = Keccak256.hash(Array(lower.utf8))
        var out = "0x"
        for (i, ch) in lower.enumerated() {
            let nibble = (hash[i / 2] >> (i % 2 == 0 ? 4 : 0)) & 0x0F
            out.append(ch.isLetter && nibble >= 8 ? Character(ch.uppercased()) : ch)
        }
        return out
    }

    public var description: String { checksummed }

    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let a = Address(s.lowercased()) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an address"))
        }
        self = a
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(checksummed)
    }
}
