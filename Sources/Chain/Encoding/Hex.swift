/// Lower-case hex with an optional `0x` prefix, as Ethereum JSON-RPC uses it.
public enum Hex {
    public static func encode<S: Sequence>(_ bytes: S, prefix: Bool = true) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = prefix ? [0x30, 0x78] : []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex (with or without `0x`); an odd length is read with a leading zero.
    public static func decode(_ text: String) -> [UInt8]? {
        var s = Substring(text)
        if s.hasPrefix("0x") || s.hasPrefix("0X") { s = s.dropFirst(2) }
        var chars = Array(s.utf8)
        if chars.count % 2 == 1 { chars.insert(0x30, at: 0) }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
}

extension FixedWidthInteger where Self: UnsignedInteger {
    /// Minimal big-endian bytes (0 is empty), as RLP encodes integers.
    var minimalBigEndian: [UInt8] {
        var v = self
        var out: [UInt8] = []
        while v > 0 {
            out.insert(UInt8(truncatingIfNeeded: v), at: 0)
            v >>= 8
        }
        return out
    }
}

/// JSON-RPC quantities: `0x`-prefixed hex without leading zeros.
public enum Quantity {
    public static func encode(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
    public static func encode(_ v: UInt128) -> String { "0x" + String(v, radix: 16) }

    public static func decode(_ s: String) -> UInt64? {
        guard s.hasPrefix("0x") else { return nil }
        let digits = s.dropFirst(2)
        return digits.isEmpty ? 0 : UInt64(digits, radix: 16)
    }

    public static func decode128(_ s: String) -> UInt128? {
        guard s.hasPrefix("0x") else { return nil }
        let digits = s.dropFirst(2)
        return digits.isEmpty ? 0 : UInt128(digits, radix: 16)
    }
}
