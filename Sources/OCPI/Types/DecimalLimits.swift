public import Foundation

/// The range and precision Voltaic accepts for a number from the wire.
///
/// Money is computed in `Decimal`, whose 38 significant digits hold every product and sum the pricing engine
/// forms, provided each input keeps to its limit: prices ≤ 10⁶ with 4 decimals (OCPI's own precision), VAT ≤ 100 %
/// with 2, volumes with 6, at most 10,000 periods. A number beyond its limit is refused, naming the field, rather
/// than rounded behind anyone's back.
public struct DecimalLimits: Sendable {
    public var range: ClosedRange<Decimal>
    public var places: Int

    public init(_ range: ClosedRange<Decimal>, places: Int) {
        self.range = range
        self.places = places
    }

    public static let price = DecimalLimits(0...1_000_000, places: 4)
    public static let vat = DecimalLimits(0...100, places: 2)
    public static let energy = DecimalLimits(0...100_000, places: 6)
    public static let hours = DecimalLimits(0...100_000, places: 6)
    public static let current = DecimalLimits(0...100_000, places: 6)
    public static let power = DecimalLimits(0...1_000_000, places: 6)
    public static let percent = DecimalLimits(0...100, places: 6)

    /// `value`, if it is finite, inside the range and no finer than `places` decimals.
    public func check(_ value: Decimal, at codingPath: [any CodingKey]) throws -> Decimal {
        guard !value.isNaN, value.isFinite else { throw OCPIFieldError(codingPath, "must be a finite number") }
        guard range.contains(value) else {
            throw OCPIFieldError(codingPath, "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        guard value.rounded(places, .plain) == value else {
            throw OCPIFieldError(codingPath, "must have at most \(places) decimal places")
        }
        return value
    }
}

extension Decimal {
    /// This value rounded to `scale` decimal places.
    public func rounded(_ scale: Int, _ mode: NSDecimalNumber.RoundingMode) -> Decimal {
        var input = self
        var output = Decimal()
        NSDecimalRound(&output, &input, scale, mode)
        return output
    }
}

extension KeyedDecodingContainer {
    /// A required number, checked against `limits`.
    public func decode(_ key: Key, _ limits: DecimalLimits) throws -> Decimal {
        try limits.check(decode(Decimal.self, forKey: key), at: codingPath + [key])
    }

    /// An optional number (absent or null), checked against `limits` when present.
    public func decodeIfPresent(_ key: Key, _ limits: DecimalLimits) throws -> Decimal? {
        guard let value = try decodeIfPresent(Decimal.self, forKey: key) else { return nil }
        return try limits.check(value, at: codingPath + [key])
    }

    /// A required integer inside `range`. Decoded as a number first, so that 1e30 or 2.5 is named, not trapped.
    public func decode(_ key: Key, in range: ClosedRange<Int>) throws -> Int {
        try Self.integer(decode(Decimal.self, forKey: key), in: range, at: codingPath + [key])
    }

    public func decodeIfPresent(_ key: Key, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = try decodeIfPresent(Decimal.self, forKey: key) else { return nil }
        return try Self.integer(value, in: range, at: codingPath + [key])
    }

    private static func integer(_ value: Decimal, in range: ClosedRange<Int>, at path: [any CodingKey]) throws -> Int {
        guard value.isFinite, value.rounded(0, .plain) == value else { throw OCPIFieldError(path, "must be an integer") }
        guard value >= Decimal(range.lowerBound), value <= Decimal(range.upperBound) else {
            throw OCPIFieldError(path, "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return NSDecimalNumber(decimal: value).intValue
    }

    /// A required string of at most `maxLength` characters.
    public func decode(_ key: Key, maxLength: Int) throws -> String {
        let value = try decode(String.self, forKey: key)
        guard value.count <= maxLength else { throw OCPIFieldError(codingPath + [key], "must be at most \(maxLength) characters") }
        return value
    }

    public func decodeIfPresent(_ key: Key, maxLength: Int) throws -> String? {
        guard let value = try decodeIfPresent(String.self, forKey: key) else { return nil }
        guard value.count <= maxLength else { throw OCPIFieldError(codingPath + [key], "must be at most \(maxLength) characters") }
        return value
    }
}

extension KeyedDecodingContainer {
    /// A required enumeration value; an unknown one is named with the values allowed.
    public func decode<E: RawRepresentable & CaseIterable>(_ key: Key, oneOf _: E.Type) throws -> E where E.RawValue == String {
        try Self.member(decode(String.self, forKey: key), E.self, at: codingPath + [key])
    }

    public func decodeIfPresent<E: RawRepresentable & CaseIterable>(_ key: Key, oneOf _: E.Type) throws -> E? where E.RawValue == String {
        guard let raw = try decodeIfPresent(String.self, forKey: key) else { return nil }
        return try Self.member(raw, E.self, at: codingPath + [key])
    }

    /// An optional list of enumeration values (absent or null is empty).
    public func decodeListIfPresent<E: RawRepresentable & CaseIterable>(_ key: Key, oneOf _: E.Type) throws -> [E] where E.RawValue == String {
        guard let raws = try decodeIfPresent([String].self, forKey: key) else { return [] }
        return try raws.enumerated().map { index, raw in
            try Self.member(raw, E.self, at: codingPath + [key, OCPIIndexKey(index)])
        }
    }

    private static func member<E: RawRepresentable & CaseIterable>(_ raw: String, _: E.Type, at path: [any CodingKey]) throws -> E where E.RawValue == String {
        guard let value = E(rawValue: raw) else {
            throw OCPIFieldError(path, "must be one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }
}

/// The position of an element in an array, as a coding key.
public struct OCPIIndexKey: CodingKey {
    public var intValue: Int?
    public var stringValue: String { String(intValue ?? 0) }
    public init(_ index: Int) { intValue = index }
    public init?(intValue: Int) { self.intValue = intValue }
    public init?(stringValue: String) { nil }
}
