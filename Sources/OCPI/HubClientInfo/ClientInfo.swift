public import Foundation

/// Whether a party behind a hub can be reached (OCPI 2.2.1 hubclientinfo).
public enum ConnectionStatus: String, Codable, Sendable, CaseIterable {
    case connected = "CONNECTED", offline = "OFFLINE", planned = "PLANNED", suspended = "SUSPENDED"
}

/// What a hub tells the platforms connected to it about another party (OCPI 2.2.1 mod_hub_client_info, ClientInfo):
/// Voltaic is its Receiver.
public struct ClientInfo: Hashable, Sendable, Codable {
    public var partyId: String
    public var countryCode: String
    public var role: PartyRole
    public var status: ConnectionStatus
    public var lastUpdated: OCPIDateTime

    public init(partyId: String, countryCode: String, role: PartyRole, status: ConnectionStatus, lastUpdated: OCPIDateTime) {
        self.partyId = partyId
        self.countryCode = countryCode
        self.role = role
        self.status = status
        self.lastUpdated = lastUpdated
    }

    enum CodingKeys: String, CodingKey {
        case partyId = "party_id", countryCode = "country_code", role, status, lastUpdated = "last_updated"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        partyId = try Tariff.code(c, .partyId, length: 3).uppercased()
        countryCode = try Tariff.code(c, .countryCode, length: 2).uppercased()
        role = try c.decode(.role, oneOf: PartyRole.self)
        status = try c.decode(.status, oneOf: ConnectionStatus.self)
        lastUpdated = try c.decode(OCPIDateTime.self, forKey: .lastUpdated)
    }
}
