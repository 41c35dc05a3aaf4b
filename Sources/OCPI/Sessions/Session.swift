public import Foundation

public enum SessionStatus: String, Codable, Sendable, CaseIterable {
    case active = "ACTIVE", completed = "COMPLETED", invalid = "INVALID", pending = "PENDING", reservation = "RESERVATION"
}

public enum AuthMethod: String, Codable, Sendable, CaseIterable {
    case authRequest = "AUTH_REQUEST", command = "COMMAND", whitelist = "WHITELIST"
}

/// Who charged, as a Session and a CDR name the token: the eMSP's party with the token's uid, type and contract.
public struct CdrToken: Hashable, Sendable, Codable {
    public var countryCode: String
    public var partyId: String
    public var uid: String
    public var type: TokenType
    public var contractId: String

    public init(countryCode: String, partyId: String, uid: String, type: TokenType, contractId: String) {
        self.countryCode = countryCode
        self.partyId = partyId
        self.uid = uid
        self.type = type
        self.contractId = contractId
    }

    enum CodingKeys: String, CodingKey {
        case countryCode = "country_code", partyId = "party_id", uid, type, contractId = "contract_id"
    }
}

/// An OCPI 2.2.1 Session, as the CPO serves and pushes it (Sender).
public struct Session: Hashable, Sendable, Encodable {
    public var countryCode: String
    public var partyId: String
    public var id: String
    public var startDateTime: OCPIDateTime
    public var endDateTime: OCPIDateTime?
    /// kWh so far.
    public var kwh: Decimal
    public var cdrToken: CdrToken
    public var authMethod: AuthMethod
    public var authorizationReference: String?
    public var locationId: String
    public var evseUID: String
    public var connectorId: String
    public var meterId: String?
    public var currency: String
    public var chargingPeriods: [ChargingPeriod]
    public var totalCost: Price?
    public var status: SessionStatus
    public var lastUpdated: OCPIDateTime

    public init(countryCode: String, partyId: String, id: String, startDateTime: OCPIDateTime, endDateTime: OCPIDateTime?, kwh: Decimal,
                cdrToken: CdrToken, authMethod: AuthMethod, authorizationReference: String? = nil, locationId: String, evseUID: String,
                connectorId: String, meterId: String? = nil, currency: String, chargingPeriods: [ChargingPeriod], totalCost: Price?,
                status: SessionStatus, lastUpdated: OCPIDateTime) {
        self.countryCode = countryCode
        self.partyId = partyId
        self.id = id
        self.startDateTime = startDateTime
        self.endDateTime = endDateTime
        self.kwh = kwh
        self.cdrToken = cdrToken
        self.authMethod = authMethod
        self.authorizationReference = authorizationReference
        self.locationId = locationId
        self.evseUID = evseUID
        self.connectorId = connectorId
        self.meterId = meterId
        self.currency = currency
        self.chargingPeriods = chargingPeriods
        self.totalCost = totalCost
        self.status = status
        self.lastUpdated = lastUpdated
    }

    enum CodingKeys: String, CodingKey {
        case countryCode = "country_code", partyId = "party_id", id, startDateTime = "start_date_time", endDateTime = "end_date_time", kwh
        case cdrToken = "cdr_token", authMethod = "auth_method", authorizationReference = "authorization_reference", locationId = "location_id"
        case evseUID = "evse_uid", connectorId = "connector_id", meterId = "meter_id", currency, chargingPeriods = "charging_periods"
        case totalCost = "total_cost", status, lastUpdated = "last_updated"
    }
}
