import Foundation

/// The OCPI versions Voltaic speaks.
public enum OCPIVersion: String, Codable, Sendable, CaseIterable, Comparable {
    case v211 = "2.1.1"
    case v221 = "2.2.1"

    public static func < (a: OCPIVersion, b: OCPIVersion) -> Bool { a.rawValue.compare(b.rawValue, options: .numeric) == .orderedAscending }
}

public enum ModuleID: String, Codable, Sendable, CaseIterable {
    case cdrs, chargingProfiles = "chargingprofiles", commands, credentials, hubClientInfo = "hubclientinfo", locations, sessions
    case tariffs, tokens
}

public enum InterfaceRole: String, Codable, Sendable, CaseIterable {
    case sender = "SENDER", receiver = "RECEIVER"
}

/// One entry of a versions list.
public struct VersionEntry: Hashable, Sendable, Codable {
    /// As the partner wrote it: a version Voltaic does not speak is kept, and skipped.
    public var version: String
    public var url: String

    public init(version: String, url: String) {
        self.version = version
        self.url = url
    }

    enum CodingKeys: String, CodingKey { case version, url }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(.version, ciString: 10)
        url = try c.decodeURL(.url)
    }
}

public struct Endpoint: Hashable, Sendable, Codable {
    /// As written: custom modules (`nltnm-tokens`) are allowed and ignored.
    public var identifier: String
    /// 2.2.1 only; a 2.1.1 endpoint has no role.
    public var role: InterfaceRole?
    public var url: String

    public init(identifier: String, role: InterfaceRole?, url: String) {
        self.identifier = identifier
        self.role = role
        self.url = url
    }

    enum CodingKeys: String, CodingKey { case identifier, role, url }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        identifier = try c.decode(.identifier, ciString: 32)
        // Partners write the role in either case.
        if let raw = try c.decodeIfPresent(String.self, forKey: .role) {
            guard let role = InterfaceRole(rawValue: raw.uppercased()) else {
                throw OCPIFieldError(c.codingPath + [CodingKeys.role], "must be SENDER or RECEIVER")
            }
            self.role = role
        } else {
            role = nil
        }
        url = try c.decodeURL(.url)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(identifier, forKey: .identifier)
        try c.encodeIfPresent(role, forKey: .role)
        try c.encode(url, forKey: .url)
    }
}

public struct VersionDetails: Hashable, Sendable, Codable {
    public var version: String
    public var endpoints: [Endpoint]

    public init(version: String, endpoints: [Endpoint]) {
        self.version = version
        self.endpoints = endpoints
    }

    enum CodingKeys: String, CodingKey { case version, endpoints }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(.version, ciString: 10)
        endpoints = try c.decodeList(Endpoint.self, .endpoints, maxCount: 100)
    }

    /// The URL of `module` in `role` (any role for credentials, whose role does not matter, and on 2.1.1).
    public func url(of module: ModuleID, role: InterfaceRole?) -> String? {
        endpoints.first { $0.identifier.lowercased() == module.rawValue && (role == nil || $0.role == nil || $0.role == role) }?.url
    }
}
