/// OCPI's string types: `CiString(n)` (printable ASCII, compared without case), `string(n)` (printable UTF-8,
/// no control characters) and `URL` (string(255), absolute http or https).
public enum OCPIString {
    /// Printable ASCII (0x20–0x7E), 1 to `maxLength` characters.
    public static func isCiString(_ value: String, maxLength: Int) -> Bool {
        let u = value.utf8
        return !u.isEmpty && u.count <= maxLength && u.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
    }

    /// An id Voltaic gives an object it publishes (location, EVSE uid, tariff): a CiString of 1 to 36 letters,
    /// digits and `*-_=:+|@.~`, so that it stands in an OCPI URL (`/locations/{id}`) as it is.
    public static func isObjectId(_ value: String) -> Bool {
        let u = value.utf8
        return (1...36).contains(u.count) && u.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "*-_=:+|@.~".utf8.contains(b)
        }
    }

    public static let objectIdRule = "must be 1 to 36 letters, digits or *-_=:+|@.~"

    /// A partner's name as an operator gives it: 1 to 100 Unicode scalars (as JSON Schema counts), no control character.
    public static func isPartnerName(_ name: String) -> Bool {
        (1...100).contains(name.unicodeScalars.count) && !name.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// At most `maxLength` characters, none of them a control character.
    public static func isText(_ value: String, maxLength: Int) -> Bool {
        value.count <= maxLength && !value.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// An absolute http(s) URL of at most 255 characters, with a host and no spaces.
    public static func isURL(_ value: String) -> Bool {
        guard isCiString(value, maxLength: 255), !value.contains(" ") else { return false }
        let lower = value.lowercased()
        for scheme in ["https://", "http://"] where lower.hasPrefix(scheme) {
            return value.count > scheme.count && !value.dropFirst(scheme.count).hasPrefix("/")
        }
        return false
    }
}

extension KeyedDecodingContainer {
    public func decode(_ key: Key, ciString maxLength: Int) throws -> String {
        try Self.ci(decode(String.self, forKey: key), maxLength, at: codingPath + [key])
    }

    public func decodeIfPresent(_ key: Key, ciString maxLength: Int) throws -> String? {
        guard let value = try decodeIfPresent(String.self, forKey: key) else { return nil }
        return try Self.ci(value, maxLength, at: codingPath + [key])
    }

    public func decode(_ key: Key, text maxLength: Int) throws -> String {
        try Self.text(decode(String.self, forKey: key), maxLength, at: codingPath + [key])
    }

    public func decodeIfPresent(_ key: Key, text maxLength: Int) throws -> String? {
        guard let value = try decodeIfPresent(String.self, forKey: key) else { return nil }
        return try Self.text(value, maxLength, at: codingPath + [key])
    }

    /// An id of an object Voltaic publishes (`OCPIString.isObjectId`).
    public func decode(_ key: Key, objectId _: Void) throws -> String {
        let value = try decode(String.self, forKey: key)
        guard OCPIString.isObjectId(value) else { throw OCPIFieldError(codingPath + [key], OCPIString.objectIdRule) }
        return value
    }

    public func decodeURL(_ key: Key) throws -> String {
        try Self.url(decode(String.self, forKey: key), at: codingPath + [key])
    }

    public func decodeURLIfPresent(_ key: Key) throws -> String? {
        guard let value = try decodeIfPresent(String.self, forKey: key) else { return nil }
        return try Self.url(value, at: codingPath + [key])
    }

    /// An optional list (absent or null is empty) of at most `maxCount` elements.
    public func decodeList<T: Decodable>(_ type: T.Type, _ key: Key, maxCount: Int = 100) throws -> [T] {
        let list = try decodeIfPresent([T].self, forKey: key) ?? []
        guard list.count <= maxCount else { throw OCPIFieldError(codingPath + [key], "must hold at most \(maxCount) elements") }
        return list
    }

    private static func ci(_ value: String, _ maxLength: Int, at path: [any CodingKey]) throws -> String {
        guard OCPIString.isCiString(value, maxLength: maxLength) else {
            throw OCPIFieldError(path, "must be 1 to \(maxLength) printable ASCII characters")
        }
        return value
    }

    private static func text(_ value: String, _ maxLength: Int, at path: [any CodingKey]) throws -> String {
        guard OCPIString.isText(value, maxLength: maxLength) else {
            throw OCPIFieldError(path, "must be at most \(maxLength) characters, with no control characters")
        }
        return value
    }

    private static func url(_ value: String, at path: [any CodingKey]) throws -> String {
        guard OCPIString.isURL(value) else { throw OCPIFieldError(path, "must be an absolute http(s) URL of at most 255 characters") }
        return value
    }
}
