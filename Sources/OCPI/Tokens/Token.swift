import Foundation

/// Whether a CPO may authorize a token from its copy (`ALWAYS`, `ALLOWED`, `ALLOWED_OFFLINE`) or must ask
/// the eMSP each time (`NEVER`).
public enum WhitelistType: String, Codable, Sendable, CaseIterable {
    case always = "ALWAYS", allowed = "ALLOWED", allowedOffline = "ALLOWED_OFFLINE", never = "NEVER"
}

public enum ProfileType: String, Codable, Sendable, CaseIterable {
    case cheap = "CHEAP", fast = "FAST", green = "GREEN", regular = "REGULAR"
}

public struct EnergyContract: Hashable, Sendable, Codable {
    public var supplierName: String
    public var contractId: String?

    enum CodingKeys: String, CodingKey { case supplierName = "supplier_name", contractId = "contract_id" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        supplierName = try c.decode(.supplierName, text: 64)
        contractId = try c.decodeIfPresent(.contractId, text: 64)
    }
}

/// An OCPI 2.2.1 Token: a driver's means of identification, owned by an eMSP, which puts it in the CPO's copy
/// (the CPO is the Receiver of the tokens module). Keyed by its party, uid and type.
public struct Token: Hashable, Sendable, Codable {
    public var countryCode: String
    public var partyId: String
    public var uid: String
    public var type: TokenType
    public var contractId: String
    public var visualNumber: String?
    public var issuer: String
    public var groupId: String?
    public var valid: Bool
    public var whitelist: WhitelistType
    public var language: String?
    public var defaultProfileType: ProfileType?
    public var energyContract: EnergyContract?
    public var lastUpdated: OCPIDateTime

    enum CodingKeys: String, CodingKey {
        case countryCode = "country_code", partyId = "party_id", uid, type, contractId = "contract_id", visualNumber = "visual_number"
        case issuer, groupId = "group_id", valid, whitelist, language, defaultProfileType = "default_profile_type"
        case energyContract = "energy_contract", lastUpdated = "last_updated"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        countryCode = try Tariff.code(c, .countryCode, length: 2).uppercased()
        partyId = try Tariff.code(c, .partyId, length: 3).uppercased()
        uid = try c.decode(.uid, ciString: 36)
        type = try c.decode(.type, oneOf: TokenType.self)
        contractId = try c.decode(.contractId, ciString: 36)
        visualNumber = try c.decodeIfPresent(.visualNumber, text: 64)
        issuer = try c.decode(.issuer, text: 64)
        groupId = try c.decodeIfPresent(.groupId, ciString: 36)
        valid = try c.decode(Bool.self, forKey: .valid)
        whitelist = try c.decode(.whitelist, oneOf: WhitelistType.self)
        language = try c.decodeIfPresent(.language, text: 2)
        if let language, language.utf8.count != 2 || !language.utf8.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) {
            throw OCPIFieldError(c.codingPath + [CodingKeys.language], "must be an ISO 639-1 code of two lower-case letters")
        }
        defaultProfileType = try c.decodeIfPresent(.defaultProfileType, oneOf: ProfileType.self)
        energyContract = try c.decodeIfPresent(EnergyContract.self, forKey: .energyContract)
        lastUpdated = try c.decode(OCPIDateTime.self, forKey: .lastUpdated)
    }

    /// Whether a station may be told Accepted from this copy alone. NEVER asks for real-time authorization by
    /// the eMSP, which Voltaic does not do yet: such a token is refused.
    public var authorizesLocally: Bool { valid && whitelist != .never }
}
