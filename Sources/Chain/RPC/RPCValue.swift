import Foundation

/// A JSON value for JSON-RPC parameters and results.
public enum RPCValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case string(String)
    case array([RPCValue])
    case object([String: RPCValue])

    public subscript(key: String) -> RPCValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var array: [RPCValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// A hex quantity field.
    public var quantity: UInt64? { string.flatMap(Quantity.decode) }
    public var quantity128: UInt128? { string.flatMap(Quantity.decode128) }
    public var bytes: [UInt8]? { string.flatMap(Hex.decode) }
}

extension RPCValue {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([RPCValue].self) {
            self = .array(a)
        } else if let o = try? c.decode([String: RPCValue].self) {
            self = .object(o)
        } else {
            self = .null  // fractional numbers: nothing in the methods used here
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}
