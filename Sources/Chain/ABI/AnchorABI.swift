/// The anchor contract's interface: `anchor(bytes32 root, uint256 count, string uri)`, the
/// `Anchored(bytes32 indexed root, uint256 count, string uri)` event, and `anchoredAt(bytes32)`.
public enum AnchorABI {
    public static let anchorSignature = "anchor(bytes32,uint256,string)"
    public static let anchoredAtSignature = "anchoredAt(bytes32)"
    public static let eventSignature = "Anchored(bytes32,uint256,string)"

    public static var anchorSelector: [UInt8] { Array(Keccak256.hash(Array(anchorSignature.utf8)).prefix(4)) }
    public static var anchoredAtSelector: [UInt8] { Array(Keccak256.hash(Array(anchoredAtSignature.utf8)).prefix(4)) }
    /// topic0 of the event.
    public static var eventTopic: [UInt8] { Keccak256.hash(Array(eventSignature.utf8)) }

    /// Calldata for `anchor(root, count, uri)`.
    public static func encodeAnchor(root: [UInt8], count: UInt64, uri: String) -> [UInt8] {
        precondition(root.count == 32, "a root is 32 bytes")
        let uriBytes = Array(uri.utf8)
        var out = anchorSelector
        out += root
        out += word(count)
        out += word(0x60)  // offset of the string, after three head words
        out += word(UInt64(uriBytes.count))
        out += uriBytes
        out += [UInt8](repeating: 0, count: (32 - uriBytes.count % 32) % 32)
        return out
    }

    public static func encodeAnchoredAt(root: [UInt8]) -> [UInt8] { anchoredAtSelector + root }

    /// A decoded `Anchored` log.
    public struct AnchoredEvent: Sendable, Hashable {
        public var root: [UInt8]
        public var count: UInt64
        public var uri: String

        public init(root: [UInt8], count: UInt64, uri: String) {
            self.root = root
            self.count = count
            self.uri = uri
        }
    }

    /// Decodes an `Anchored` log from its topics and data; nil when it is not one or is malformed.
    public static func decodeAnchored(topics: [[UInt8]], data: [UInt8]) -> AnchoredEvent? {
        guard topics.count == 2, topics[0] == eventTopic, topics[1].count == 32, data.count >= 96 else { return nil }
        guard let count = uint64(data, at: 0), let offset = uint64(data, at: 32), offset % 32 == 0,
            let length = uint64(data, at: Int(offset)), Int(offset) + 32 + Int(length) <= data.count
        else { return nil }
        let start = Int(offset) + 32
        guard let uri = String(validating: data[start..<(start + Int(length))], as: UTF8.self) else { return nil }
        return AnchoredEvent(root: topics[1], count: count, uri: uri)
    }

    /// A 32-byte big-endian word.
    public static func word(_ v: UInt64) -> [UInt8] {
        [UInt8](repeating: 0, count: 24) + (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * (7 - UInt64($0)))) }
    }

    /// A word's value when it fits 64 bits.
    public static func uint64(_ data: [UInt8], at offset: Int) -> UInt64? {
        guard offset >= 0, offset + 32 <= data.count, data[offset..<(offset + 24)].allSatisfy({ $0 == 0 }) else { return nil }
        return data[(offset + 24)..<(offset + 32)].reduce(0) { $0 << 8 | UInt64($1) }
    }
}
