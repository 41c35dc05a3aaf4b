import Foundation
import OCPP

/// The checks PostgreSQL (and postgres-nio's binding) apply to a value on its way into a column, so that
/// the in-memory store fails exactly where the database would.
enum PostgresColumns {
    /// An `integer` column: Swift `Int` is bound as `int8`, and assigning it to `int4` checks the range.
    static func int4(_ value: Int, _ location: String) throws(DatabaseRejection) -> Int {
        guard value >= Int(Int32.min), value <= Int(Int32.max) else {
            throw DatabaseRejection(.numericValueOutOfRange, "integer out of range", at: location)
        }
        return value
    }

    static func int4(_ value: Int?, _ location: String) throws(DatabaseRejection) -> Int? {
        guard let value else { return nil }
        let checked: Int = try int4(value, location)
        return checked
    }

    /// Any `text` bind: UTF-8 without NUL, which the server refuses in every text value.
    static func text(_ value: String, _ location: String) throws(DatabaseRejection) -> String {
        guard !value.utf8.contains(0) else {
            throw DatabaseRejection(.characterNotInRepertoire, "invalid byte sequence for encoding \"UTF8\": 0x00", at: location)
        }
        return value
    }

    static func text(_ value: String?, _ location: String) throws(DatabaseRejection) -> String? {
        guard let value else { return nil }
        let checked: String = try text(value, location)
        return checked
    }

    static func texts(_ values: [String], _ location: String) throws(DatabaseRejection) -> [String] {
        for v in values { _ = try text(v, location) }
        return values
    }

    /// A `timestamptz` bind as postgres-nio encodes it (whole microseconds since 2000-01-01, truncated),
    /// with the server's range check.
    static func timestamp(_ date: Date, _ location: String) throws(DatabaseRejection) -> Timestamp {
        let seconds = date.timeIntervalSince(Timestamp.epoch) * 1_000_000
        // postgres-nio's own conversion, which traps where this traps.
        let micros = Int64(seconds)
        guard micros >= Timestamp.minMicros, micros < Timestamp.endMicros else {
            throw DatabaseRejection(.datetimeFieldOverflow, "timestamp out of range", at: location)
        }
        return Timestamp(micros: micros)
    }

    static func timestamp(_ date: Date?, _ location: String) throws(DatabaseRejection) -> Timestamp? {
        guard let date else { return nil }
        let checked: Timestamp = try timestamp(date, location)
        return checked
    }

    /// `text::numeric`, with the limits of PostgreSQL's `numeric_in`: at most 16383 digits after the point
    /// and a magnitude below 10^131072; `NaN` and the infinities are accepted.
    static func numeric(_ text: String, _ location: String) throws(DatabaseRejection) {
        let overflow = DatabaseRejection(.numericValueOutOfRange, "value overflows numeric format", at: location)
        let syntax = DatabaseRejection(.invalidTextRepresentation, "invalid input syntax for type numeric: \"\(text.prefix(40))\"", at: location)
        var s = Substring(text).drop(while: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
        while let last = s.last, last == " " || last == "\t" || last == "\n" || last == "\r" { s = s.dropLast() }
        let lowered = s.lowercased()
        if ["nan", "infinity", "+infinity", "-infinity", "inf", "+inf", "-inf"].contains(lowered) { return }
        var bytes = Array(s.utf8)[...]
        if let first = bytes.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        var before = 0, after = 0, seenPoint = false
        var firstNonZero: (index: Int, beforePoint: Int)?
        var digitIndex = 0
        while let c = bytes.first {
            if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                if c != UInt8(ascii: "0"), firstNonZero == nil { firstNonZero = (digitIndex, before) }
                if seenPoint { after += 1 } else { before += 1 }
                digitIndex += 1
            } else if c == UInt8(ascii: "."), !seenPoint {
                seenPoint = true
            } else {
                break
            }
            bytes = bytes.dropFirst()
        }
        guard before + after > 0 else { throw syntax }
        var exponent = 0
        if let e = bytes.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            var negative = false
            if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                negative = sign == UInt8(ascii: "-")
                bytes = bytes.dropFirst()
            }
            guard let d = bytes.first, d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { throw syntax }
            // strtol saturates; anything at or past INT_MAX / 2 overflows.
            var magnitude = 0
            while let d = bytes.first, d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") {
                magnitude = min(magnitude * 10 + Int(d - UInt8(ascii: "0")), Int(Int32.max))
                bytes = bytes.dropFirst()
            }
            guard magnitude < Int(Int32.max) / 2 else { throw overflow }
            exponent = negative ? -magnitude : magnitude
        }
        guard bytes.isEmpty else { throw syntax }
        let scale = max(after - exponent, 0)
        guard scale <= 16383 else { throw overflow }
        if let lead = firstNonZero {
            // The decimal exponent of the leading significant digit.
            let magnitude = (before - 1 - lead.index) + exponent
            guard magnitude <= 131071 else { throw overflow }
        }
    }

    /// `text::jsonb` of a serialized `JSONValue`: numbers become `numeric`, and `\u0000` cannot be stored.
    static func jsonb(_ value: JSONValue, _ location: String) throws(DatabaseRejection) {
        switch value {
        case .null, .bool: return
        case .number(let n): try numeric(n.text, location)
        case .string(let s): try jsonbString(s, location)
        case .array(let items): for item in items { try jsonb(item, location) }
        case .object(let members):
            for (key, item) in members {
                try jsonbString(key, location)
                try jsonb(item, location)
            }
        }
    }

    private static func jsonbString(_ s: String, _ location: String) throws(DatabaseRejection) {
        guard !s.utf8.contains(0) else {
            throw DatabaseRejection(.untranslatableCharacter, "unsupported Unicode escape sequence: \\u0000 cannot be converted to text", at: location)
        }
    }

    /// `round(value)::bigint`: half away from zero, then the `bigint` range; NaN and infinity cannot convert.
    static func roundToBigint(_ value: Decimal, _ location: String) throws(DatabaseRejection) -> Int64 {
        guard !value.isNaN else { throw DatabaseRejection(.numericValueOutOfRange, "cannot convert NaN to bigint", at: location) }
        var v = value
        var rounded = Decimal()
        NSDecimalRound(&rounded, &v, 0, .plain)
        guard rounded >= Decimal(Int64.min), rounded <= Decimal(Int64.max), let whole = Int64(rounded.description) else {
            throw DatabaseRejection(.numericValueOutOfRange, "bigint out of range", at: location)
        }
        return whole
    }
}

/// A `timestamptz` as stored: whole microseconds since 2000-01-01 00:00 UTC.
struct Timestamp: Sendable, Hashable, Comparable {
    var micros: Int64

    static let epoch = Date(timeIntervalSince1970: 946_684_800)
    /// 4714-11-24 00:00 BC and 294277-01-01 00:00 AD, PostgreSQL's MIN_TIMESTAMP and END_TIMESTAMP.
    static let minMicros: Int64 = -211_813_488_000_000_000
    static let endMicros: Int64 = 9_223_371_331_200_000_000

    /// The `Date` postgres-nio decodes from this value.
    var date: Date { Date(timeInterval: Double(micros) / 1_000_000, since: Self.epoch) }

    static func < (a: Timestamp, b: Timestamp) -> Bool { a.micros < b.micros }
}
