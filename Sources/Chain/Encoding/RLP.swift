/// Recursive Length Prefix (Ethereum Yellow Paper, appendix B).
public indirect enum RLP: Sendable, Hashable {
    case bytes([UInt8])
    case list([RLP])

    public static func uint(_ v: UInt64) -> RLP { .bytes(v.minimalBigEndian) }
    public static func uint(_ v: UInt128) -> RLP { .bytes(v.minimalBigEndian) }

    public var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    func encode(into out: inout [UInt8]) {
        switch self {
        case .bytes(let b):
            if b.count == 1, b[0] < 0x80 {
                out.append(b[0])
            } else {
                Self.header(0x80, b.count, into: &out)
                out.append(contentsOf: b)
            }
        case .list(let items):
            var body: [UInt8] = []
            for item in items { item.encode(into: &body) }
            Self.header(0xC0, body.count, into: &out)
            out.append(contentsOf: body)
        }
    }

    private static func header(_ base: UInt8, _ length: Int, into out: inout [UInt8]) {
        if length < 56 {
            out.append(base + UInt8(length))
        } else {
            let len = UInt64(length).minimalBigEndian
            out.append(base + 55 + UInt8(len.count))
            out.append(contentsOf: len)
        }
    }

    /// Decodes exactly one item; trailing bytes, non-canonical lengths and overruns are errors.
    public static func decode(_ bytes: [UInt8]) throws(RLPError) -> RLP {
        var index = 0
        let item = try decodeItem(bytes, &index, depth: 0)
        guard index == bytes.count else { throw RLPError.trailingBytes }
        return item
    }

    private static func decodeItem(_ b: [UInt8], _ i: inout Int, depth: Int) throws(RLPError) -> RLP {
        guard depth < 64 else { throw .tooDeep }
        guard i < b.count else { throw .truncated }
        let prefix = b[i]
        switch prefix {
        case 0x00...0x7F:
            i += 1
            return .bytes([prefix])
        case 0x80...0xBF:
            let (length, headerSize) = try lengthOf(b, i, short: 0x80, long: 0xB7)
            let start = i + headerSize
            guard start + length <= b.count else { throw .truncated }
            if length == 1, b[start] < 0x80 { throw .nonCanonical }
            i = start + length
            return .bytes(Array(b[start..<i]))
        default:
            let (length, headerSize) = try lengthOf(b, i, short: 0xC0, long: 0xF7)
            let start = i + headerSize
            guard start + length <= b.count else { throw .truncated }
            let end = start + length
            var items: [RLP] = []
            var j = start
            while j < end { items.append(try decodeItem(b, &j, depth: depth + 1)) }
            guard j == end else { throw .truncated }
            i = end
            return .list(items)
        }
    }

    private static func lengthOf(_ b: [UInt8], _ i: Int, short: UInt8, long: UInt8) throws(RLPError) -> (Int, Int) {
        let prefix = b[i]
        if prefix <= long { return (Int(prefix - short), 1) }
        let n = Int(prefix - long)
        guard i + n < b.count || (i + n == b.count && n == 0) else { throw .truncated }
        guard n <= 8, i + n < b.count + 1 else { throw .truncated }
        guard b[i + 1] != 0 else { throw .nonCanonical }
        var length = 0
        for k in 1...n {
            guard i + k < b.count else { throw .truncated }
            length = length << 8 | Int(b[i + k])
        }
        guard length >= 56 else { throw .nonCanonical }
        guard length <= b.count else { throw .truncated }
        return (length, 1 + n)
    }

    public var bytesValue: [UInt8]? {
        if case .bytes(let b) = self { return b }
        return nil
    }

    public var listValue: [RLP]? {
        if case .list(let l) = self { return l }
        return nil
    }
}

public enum RLPError: Error, Sendable, Hashable {
    case truncated, trailingBytes, nonCanonical, tooDeep
}
