import Foundation

/// Converts between validated `JSONValue` payloads and the generated `Codable` message types.
public enum OCPPCoder {
    public static func decode<T: Decodable>(_ type: T.Type, from payload: JSONValue) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let s = try c.decode(String.self)
            guard let date = OCPPDateTime.parse(s) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an RFC 3339 date-time")
            }
            return date
        }
        return try decoder.decode(T.self, from: Data(payload.serialized.utf8))
    }

    public static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(OCPPDateTime.format(date))
        }
        let data = try encoder.encode(value)
        return try JSONParser.parse(Array(data))
    }
}
