/// Converts between validated `JSONValue` payloads and the generated `Codable` message types, directly
/// (`JSONValueCoding`): no bytes in between.
public enum OCPPCoder {
    public static func decode<T: Decodable>(_ type: T.Type, from payload: JSONValue) throws -> T {
        try JSONValueCoding.decode(T.self, from: payload)
    }

    public static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONValueCoding.encode(value)
    }
}
