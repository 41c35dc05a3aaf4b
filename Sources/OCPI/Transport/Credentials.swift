import Foundation

public enum PartyRole: String, Codable, Sendable, CaseIterable {
    case cpo = "CPO", emsp = "EMSP", hub = "HUB", nap = "NAP", nsp = "NSP", other = "OTHER", scsp = "SCSP"
}

/// One role a platform plays, under one party id.
public struct CredentialsRole: Hashable, Sendable, Codable {
    public var role: PartyRole
    public var businessDetails: BusinessDetails
    public var partyId: String
    public var countryCode: String

    public init(role: PartyRole, businessDetails: BusinessDetails, partyId: String, countryCode: String) {
        self.role = role
        self.businessDetails = businessDetails
        self.partyId = partyId
        self.countryCode = countryCode
    }

    enum CodingKeys: String, CodingKey {
        case role, businessDetails = "business_details", partyId = "party_id", countryCode = "country_code"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        role = try c.decode(.role, oneOf: PartyRole.self)
        businessDetails = try c.decode(BusinessDetails.self, forKey: .businessDetails)
        partyId = try Tariff.code(c, .partyId, length: 3).uppercased()
        countryCode = try Tariff.code(c, .countryCode, length: 2).uppercased()
    }
}

/// The credentials one platform gives another: the token to call it with, its versions URL, its roles.
/// Decoded from either version's shape; 2.1.1's single party becomes one role.
public struct Credentials: Hashable, Sendable, Decodable {
    public var token: String
    public var url: String
    public var roles: [CredentialsRole]

    public init(token: String, url: String, roles: [CredentialsRole]) {
        self.token = token
        self.url = url
        self.roles = roles
    }

    enum CodingKeys: String, CodingKey {
        case token, url, roles, businessDetails = "business_details", partyId = "party_id", countryCode = "country_code"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        token = try c.decode(String.self, forKey: .token)
        guard Self.isToken(token) else { throw OCPIFieldError(c.codingPath + [CodingKeys.token], "must be 1 to 64 printable characters without spaces") }
        url = try c.decodeURL(.url)
        if c.contains(.roles) {
            roles = try c.decodeList(CredentialsRole.self, .roles, maxCount: 100)
            guard !roles.isEmpty else { throw OCPIFieldError(c.codingPath + [CodingKeys.roles], "must hold at least one role") }
            var seen = Set<String>()
            for (i, r) in roles.enumerated() where !seen.insert("\(r.role.rawValue) \(r.countryCode) \(r.partyId)").inserted {
                throw OCPIFieldError(c.codingPath + [CodingKeys.roles, OCPIIndexKey(i)], "repeats a role, country_code and party_id")
            }
        } else {
            // 2.1.1: one party, whose role the connection implies (a CPO's partner is an eMSP).
            let details = try c.decode(BusinessDetails.self, forKey: .businessDetails)
            roles = [CredentialsRole(
                role: .emsp, businessDetails: details,
                partyId: try Tariff.code(c, .partyId, length: 3).uppercased(), countryCode: try Tariff.code(c, .countryCode, length: 2).uppercased()
            )]
        }
    }

    /// A new token for a partner: 32 random bytes, Base64url without padding (43 printable characters).
    public static func newToken() -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Printable ASCII without spaces (0x21–0x7E), at most 64 characters.
    public static func isToken(_ token: String) -> Bool {
        let u = token.utf8
        return !u.isEmpty && u.count <= 64 && u.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }

    /// The 2.2.1 body.
    public func encoded221() -> Encoded221 { Encoded221(token: token, url: url, roles: roles) }

    /// The 2.1.1 body: the first role's party.
    public func encoded211() -> Encoded211 {
        Encoded211(token: token, url: url, businessDetails: roles[0].businessDetails, partyId: roles[0].partyId, countryCode: roles[0].countryCode)
    }

    public struct Encoded221: Encodable, Sendable {
        var token: String
        var url: String
        var roles: [CredentialsRole]
    }

    public struct Encoded211: Encodable, Sendable {
        var token: String
        var url: String
        var businessDetails: BusinessDetails
        var partyId: String
        var countryCode: String

        enum CodingKeys: String, CodingKey {
            case token, url, businessDetails = "business_details", partyId = "party_id", countryCode = "country_code"
        }
    }
}

/// The `Authorization: Token …` header. OCPI 2.2.1 Base64-encodes the token; 2.1.1, and many 2.2.x partners,
/// send it raw. Both are tried.
public enum AuthorizationToken {
    /// The tokens the header may carry, most likely first: the Base64-decoded token (a trailing newline, as in
    /// the spec's own examples, dropped), then the raw one. Empty when the header is not a Token header.
    public static func candidates(_ header: String?) -> [String] {
        guard let header else { return [] }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "token" else { return [] }
        let raw = String(parts[1]).trimmingCharacters(in: .whitespaces)
        guard !raw.isEmpty, raw.utf8.count <= 200 else { return [] }
        var out: [String] = []
        if let decoded = decode(raw), Credentials.isToken(decoded), decoded != raw { out.append(decoded) }
        if Credentials.isToken(raw) { out.append(raw) }
        return out
    }

    /// `Token base64(token)`, as 2.2.1 asks.
    public static func header(_ token: String, version: OCPIVersion) -> String {
        version == .v211 ? "Token \(token)" : "Token \(Data(token.utf8).base64EncodedString())"
    }

    private static func decode(_ text: String) -> String? {
        guard text.count % 4 == 0, let data = Data(base64Encoded: text), var s = String(data: data, encoding: .utf8) else { return nil }
        if s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}
