import Foundation

/// `Decoder` and `Encoder` straight over `JSONValue`: a validated payload becomes a message type, and a
/// reply becomes a payload, without serialising to bytes and parsing again (what `JSONDecoder` and
/// `JSONEncoder` would need). Dates are RFC 3339 strings (`OCPPDateTime`), numbers keep their literal.
enum JSONValueCoding {
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try ValueDecoder(value: value, codingPath: []).decodeValue(T.self)
    }

    static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let root = Node()
        try ValueEncoder(node: root, codingPath: []).encodeValue(value)
        return root.value
    }
}

// MARK: Decoding

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

private struct ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let fields) = value else { throw mismatch([String: JSONValue].self) }
        return KeyedDecodingContainer(KeyedContainer<Key>(fields: fields, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch([JSONValue].self) }
        return UnkeyedContainer(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleContainer(decoder: self) }

    func mismatch(_ expected: Any.Type) -> DecodingError {
        .typeMismatch(expected, .init(codingPath: codingPath, debugDescription: "expected \(expected), found \(value.typeName)"))
    }

    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        // The types a payload's leaves are made of, decoded here rather than through `init(from:)`.
        if T.self == JSONValue.self { return value as! T }
        if T.self == Date.self {
            guard case .string(let s) = value else { throw mismatch(Date.self) }
            guard let date = OCPPDateTime.parse(s) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "not an RFC 3339 date-time"))
            }
            return date as! T
        }
        if T.self == Decimal.self {
            guard case .number(let n) = value, let d = n.decimalValue else { throw mismatch(Decimal.self) }
            return d as! T
        }
        return try T(from: self)
    }

    func string() throws -> String {
        guard case .string(let s) = value else { throw mismatch(String.self) }
        return s
    }

    func bool() throws -> Bool {
        guard case .bool(let b) = value else { throw mismatch(Bool.self) }
        return b
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        guard case .number(let n) = value else { throw mismatch(I.self) }
        if let i = I(n.text) { return i }
        // 5.0 or 5e0: an integer all the same, when it is exactly one and fits.
        if let d = Double(n.text), d.isFinite, d.rounded() == d, let i = I(exactly: d) { return i }
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(n.text) does not fit in \(I.self)"))
    }

    func floating<F: BinaryFloatingPoint & LosslessStringConvertible>(_ type: F.Type) throws -> F {
        guard case .number(let n) = value, let f = F(n.text), f.isFinite else { throw mismatch(F.self) }
        return f
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let fields: [String: JSONValue]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { fields.keys.compactMap(Key.init(stringValue:)) }
    func contains(_ key: Key) -> Bool { fields[key.stringValue] != nil }

    private func child(_ key: Key) throws -> ValueDecoder {
        guard let v = fields[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for \(key.stringValue)"))
        }
        return ValueDecoder(value: v, codingPath: codingPath + [key])
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let v = fields[key.stringValue] else { return true }
        return v == .null
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try child(key).bool() }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try child(key).string() }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try child(key).floating(Double.self) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try child(key).floating(Float.self) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try child(key).integer(Int.self) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try child(key).integer(Int8.self) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try child(key).integer(Int16.self) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try child(key).integer(Int32.self) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try child(key).integer(Int64.self) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try child(key).integer(UInt.self) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try child(key).integer(UInt8.self) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try child(key).integer(UInt16.self) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try child(key).integer(UInt32.self) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try child(key).integer(UInt64.self) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try child(key).decodeValue(T.self) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try child(key).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { try child(key).unkeyedContainer() }
    func superDecoder() throws -> any Decoder { ValueDecoder(value: .object(fields), codingPath: codingPath) }
    func superDecoder(forKey key: Key) throws -> any Decoder { try child(key) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(items: [JSONValue], codingPath: [any CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next() throws -> ValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(JSONValue.self, .init(codingPath: codingPath, debugDescription: "the array has \(items.count) items"))
        }
        defer { currentIndex += 1 }
        return ValueDecoder(value: items[currentIndex], codingPath: codingPath + [AnyKey(intValue: currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next().bool() }
    mutating func decode(_ type: String.Type) throws -> String { try next().string() }
    mutating func decode(_ type: Double.Type) throws -> Double { try next().floating(Double.self) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next().floating(Float.self) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next().integer(Int.self) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().integer(Int64.self) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().integer(Int32.self) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decodeValue(T.self) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { try next() }
}

private struct SingleContainer: SingleValueDecodingContainer {
    let decoder: ValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.value == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.bool() }
    func decode(_ type: String.Type) throws -> String { try decoder.string() }
    func decode(_ type: Double.Type) throws -> Double { try decoder.floating(Double.self) }
    func decode(_ type: Float.Type) throws -> Float { try decoder.floating(Float.self) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.integer(Int.self) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.integer(Int8.self) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.integer(Int16.self) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.integer(Int32.self) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.integer(Int64.self) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.integer(UInt.self) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.integer(UInt8.self) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.integer(UInt16.self) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.integer(UInt32.self) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.integer(UInt64.self) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(T.self) }
}

// MARK: Encoding

/// A value under construction: containers write into nodes, which become a `JSONValue` at the end.
private final class Node {
    var leaf: JSONValue?
    var fields: [String: Node]?
    var items: [Node]?

    var value: JSONValue {
        if let leaf { return leaf }
        if let items { return .array(items.map(\.value)) }
        return .object((fields ?? [:]).mapValues(\.value))
    }

    func field(_ key: String) -> Node {
        if let known = fields?[key] { return known }
        let node = Node()
        if fields == nil { fields = [:] }
        fields![key] = node
        return node
    }

    func append() -> Node {
        let node = Node()
        if items == nil { items = [] }
        items!.append(node)
        return node
    }

    func makeObject() { if fields == nil { fields = [:] } }
    func makeArray() { if items == nil { items = [] } }
    var count: Int { items?.count ?? 0 }
}

private struct ValueEncoder: Encoder {
    let node: Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(KeyedEncoding<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.makeArray()
        return UnkeyedEncoding(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleEncoding(encoder: self) }

    func encodeValue<T: Encodable>(_ value: T) throws {
        switch value {
        case let v as JSONValue: node.leaf = (v)
        case let d as Date: node.leaf = (.string(OCPPDateTime.format(d)))
        case let d as Decimal: node.leaf = (.number(JSONNumber(literal: "\(d)")))
        default: try value.encode(to: self)
        }
    }

    func leaf(_ v: JSONValue) { node.leaf = (v) }

    func double(_ d: Double) throws {
        guard d.isFinite else { throw EncodingError.invalidValue(d, .init(codingPath: codingPath, debugDescription: "JSON has no \(d)")) }
        leaf(.number(JSONNumber(d)))
    }
}

private struct KeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    let codingPath: [any CodingKey]

    private func child(_ key: Key) -> ValueEncoder { ValueEncoder(node: node.field(key.stringValue), codingPath: codingPath + [key]) }

    mutating func encodeNil(forKey key: Key) throws { child(key).leaf(.null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { child(key).leaf(.bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { child(key).leaf(.string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try child(key).double(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try child(key).double(Double(value)) }
    mutating func encode(_ value: Int, forKey key: Key) throws { child(key).leaf(.number(JSONNumber(value))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { child(key).leaf(.number(JSONNumber(Int(value)))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { child(key).leaf(.number(JSONNumber(value))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { child(key).leaf(.number(JSONNumber(literal: String(value)))) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try child(key).encodeValue(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        child(key).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { child(key).unkeyedContainer() }
    mutating func superEncoder() -> any Encoder { child(Key(stringValue: "super")!) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { child(key) }
}

private struct UnkeyedEncoding: UnkeyedEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]
    var count: Int { node.count }

    private func next() -> ValueEncoder { ValueEncoder(node: node.append(), codingPath: codingPath + [AnyKey(intValue: node.count)]) }

    mutating func encodeNil() throws { next().leaf(.null) }
    mutating func encode(_ value: Bool) throws { next().leaf(.bool(value)) }
    mutating func encode(_ value: String) throws { next().leaf(.string(value)) }
    mutating func encode(_ value: Double) throws { try next().double(value) }
    mutating func encode(_ value: Int) throws { next().leaf(.number(JSONNumber(value))) }
    mutating func encode(_ value: Int64) throws { next().leaf(.number(JSONNumber(value))) }
    mutating func encode<T: Encodable>(_ value: T) throws { try next().encodeValue(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        next().container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { next().unkeyedContainer() }
    mutating func superEncoder() -> any Encoder { next() }
}

private struct SingleEncoding: SingleValueEncodingContainer {
    let encoder: ValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil() throws { encoder.leaf(.null) }
    mutating func encode(_ value: Bool) throws { encoder.leaf(.bool(value)) }
    mutating func encode(_ value: String) throws { encoder.leaf(.string(value)) }
    mutating func encode(_ value: Double) throws { try encoder.double(value) }
    mutating func encode(_ value: Float) throws { try encoder.double(Double(value)) }
    mutating func encode(_ value: Int) throws { encoder.leaf(.number(JSONNumber(value))) }
    mutating func encode(_ value: Int8) throws { encoder.leaf(.number(JSONNumber(Int(value)))) }
    mutating func encode(_ value: Int16) throws { encoder.leaf(.number(JSONNumber(Int(value)))) }
    mutating func encode(_ value: Int32) throws { encoder.leaf(.number(JSONNumber(Int(value)))) }
    mutating func encode(_ value: Int64) throws { encoder.leaf(.number(JSONNumber(value))) }
    mutating func encode(_ value: UInt) throws { encoder.leaf(.number(JSONNumber(literal: String(value)))) }
    mutating func encode(_ value: UInt8) throws { encoder.leaf(.number(JSONNumber(Int(value)))) }
    mutating func encode(_ value: UInt16) throws { encoder.leaf(.number(JSONNumber(Int(value)))) }
    mutating func encode(_ value: UInt32) throws { encoder.leaf(.number(JSONNumber(Int(value)))) }
    mutating func encode(_ value: UInt64) throws { encoder.leaf(.number(JSONNumber(literal: String(value)))) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encoder.encodeValue(value) }
}
