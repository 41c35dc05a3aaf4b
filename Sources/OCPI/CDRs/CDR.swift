public import Foundation

/// Where a CDR's session took place, as it was at the start.
public struct CdrLocation: Hashable, Sendable, Codable {
    public var id: String
    public var name: String?
    public var address: String
    public var city: String
    public var postalCode: String?
    public var state: String?
    public var country: String
    public var coordinates: GeoLocation
    public var evseUID: String
    public var evseId: String
    public var connectorId: String
    public var connectorStandard: ConnectorType
    public var connectorFormat: ConnectorFormat
    public var connectorPowerType: PowerType

    public init(site: LocationSite, evseUID: String, evseId: String, connectorId: String, connector: ConnectorSpec) {
        id = site.id
        name = site.name
        address = site.address
        city = site.city
        postalCode = site.postalCode
        state = site.state
        country = site.country
        coordinates = site.coordinates
        self.evseUID = evseUID
        self.evseId = evseId
        self.connectorId = connectorId
        connectorStandard = connector.standard
        connectorFormat = connector.format
        connectorPowerType = connector.powerType
    }

    enum CodingKeys: String, CodingKey {
        case id, name, address, city, postalCode = "postal_code", state, country, coordinates, evseUID = "evse_uid", evseId = "evse_id"
        case connectorId = "connector_id", connectorStandard = "connector_standard", connectorFormat = "connector_format"
        case connectorPowerType = "connector_power_type"
    }
}

/// An OCPI 2.2.1 CDR: the one billing object, immutable once made. Its totals are the pricing engine's.
public struct CDR: Hashable, Sendable, Encodable {
    public var countryCode: String
    public var partyId: String
    public var id: String
    public var startDateTime: OCPIDateTime
    public var endDateTime: OCPIDateTime
    public var sessionId: String?
    public var cdrToken: CdrToken
    public var authMethod: AuthMethod
    public var authorizationReference: String?
    public var cdrLocation: CdrLocation
    public var meterId: String?
    public var currency: String
    /// The tariffs in force, as they were.
    public var tariffs: [Tariff]
    public var chargingPeriods: [ChargingPeriod]
    public var totals: CDRTotals
    public var lastUpdated: OCPIDateTime

    public init(countryCode: String, partyId: String, id: String, startDateTime: OCPIDateTime, endDateTime: OCPIDateTime, sessionId: String?,
                cdrToken: CdrToken, authMethod: AuthMethod, authorizationReference: String? = nil, cdrLocation: CdrLocation, meterId: String? = nil,
                currency: String, tariffs: [Tariff], chargingPeriods: [ChargingPeriod], totals: CDRTotals, lastUpdated: OCPIDateTime) {
        self.countryCode = countryCode
        self.partyId = partyId
        self.id = id
        self.startDateTime = startDateTime
        self.endDateTime = endDateTime
        self.sessionId = sessionId
        self.cdrToken = cdrToken
        self.authMethod = authMethod
        self.authorizationReference = authorizationReference
        self.cdrLocation = cdrLocation
        self.meterId = meterId
        self.currency = currency
        self.tariffs = tariffs
        self.chargingPeriods = chargingPeriods
        self.totals = totals
        self.lastUpdated = lastUpdated
    }

    enum CodingKeys: String, CodingKey {
        case countryCode = "country_code", partyId = "party_id", id, startDateTime = "start_date_time", endDateTime = "end_date_time"
        case sessionId = "session_id", cdrToken = "cdr_token", authMethod = "auth_method", authorizationReference = "authorization_reference"
        case cdrLocation = "cdr_location", meterId = "meter_id", currency, tariffs, chargingPeriods = "charging_periods", lastUpdated = "last_updated"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(countryCode, forKey: .countryCode)
        try c.encode(partyId, forKey: .partyId)
        try c.encode(id, forKey: .id)
        try c.encode(startDateTime, forKey: .startDateTime)
        try c.encode(endDateTime, forKey: .endDateTime)
        try c.encodeIfPresent(sessionId, forKey: .sessionId)
        try c.encode(cdrToken, forKey: .cdrToken)
        try c.encode(authMethod, forKey: .authMethod)
        try c.encodeIfPresent(authorizationReference, forKey: .authorizationReference)
        try c.encode(cdrLocation, forKey: .cdrLocation)
        try c.encodeIfPresent(meterId, forKey: .meterId)
        try c.encode(currency, forKey: .currency)
        if !tariffs.isEmpty { try c.encode(tariffs, forKey: .tariffs) }
        try c.encode(chargingPeriods, forKey: .chargingPeriods)
        // The costs a dimension never had are left out, not written null.
        try totals.encode(to: encoder, absentAsNull: false)
        try c.encode(lastUpdated, forKey: .lastUpdated)
    }
}
