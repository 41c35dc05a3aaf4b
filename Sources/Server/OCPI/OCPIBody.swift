import Foundation
public import OCPI
public import OCPP

/// Reads an OCPI-shaped JSON body (admin API, OCPI endpoints, CLI files): `filling` supplies fields it may leave
/// out (the id from the URL, a last_updated the server sets). Errors say whether it was not JSON, not an object,
/// or which field OCPI's rules refuse.
public enum OCPIBody {
    public enum Failure: Error, CustomStringConvertible {
        case notJSON
        case notAnObject
        case field(OCPIFieldError)

        public var description: String {
            switch self {
            case .notJSON: "the body is not valid JSON"
            case .notAnObject: "the body must be a JSON object"
            case .field(let e): e.description
            }
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], filling: [String: JSONValue] = [:]) throws(Failure) -> T {
        guard let value = try? JSONParser.parse(bytes) else { throw .notJSON }
        var data = Data(bytes)
        if !filling.isEmpty {
            guard case .object(var members) = value else { throw .notAnObject }
            for (k, v) in filling where members[k] == nil || members[k] == .null { members[k] = v }
            data = Data(JSONValue.object(members).serialized.utf8)
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw .field(OCPIFieldError.from(error))
        }
    }
}
