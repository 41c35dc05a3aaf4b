import Foundation

/// Everything an operator says about a site: an OCPI 2.2.1 Location without its EVSEs (which come from the
/// stations) and without `last_updated` (which the store keeps). This is what the admin API takes.
public struct LocationSite: Hashable, Sendable, Codable {
    public var countryCode: String
    public var partyId: String
    public var id: String
    public var publish: Bool
    public var publishAllowedTo: [PublishTokenType]
    public var name: String?
    public var address: String
    public var city: String
    public var postalCode: String?
    public var state: String?
    /// ISO 3166-1 alpha-3.
    public var country: String
    public var coordinates: GeoLocation
    public var relatedLocations: [AdditionalGeoLocation]
    public var parkingType: ParkingType?
    public var directions: [DisplayText]
    public var `operator`: BusinessDetails?
    public var suboperator: BusinessDetails?
    /// Who owns the chargers, e.g. the private host who opens them to the public.
    public var owner: BusinessDetails?
    public var facilities: [Facility]
    /// IANA, e.g. `Europe/Amsterdam`: the wall clock of the opening times and of tariff restrictions.
    public var timeZone: String
    public var openingTimes: Hours?
    public var chargingWhenClosed: Bool?
    public var images: [Image]
    public var energyMix: EnergyMix?

    enum CodingKeys: String, CodingKey {
        case countryCode = "country_code", partyId = "party_id", id, publish, publishAllowedTo = "publish_allowed_to", name
        case address, city, postalCode = "postal_code", state, country, coordinates, relatedLocations = "related_locations"
        case parkingType = "parking_type", directions, `operator`, suboperator, owner, facilities, timeZone = "time_zone"
        case openingTimes = "opening_times", chargingWhenClosed = "charging_when_closed", images, energyMix = "energy_mix"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        countryCode = try Tariff.code(c, .countryCode, length: 2)
        partyId = try Tariff.code(c, .partyId, length: 3)
        id = try c.decode(.id, objectId: ())
        publish = try c.decode(Bool.self, forKey: .publish)
        publishAllowedTo = try c.decodeList(PublishTokenType.self, .publishAllowedTo, maxCount: 1000)
        if publish, !publishAllowedTo.isEmpty {
            throw OCPIFieldError(c.codingPath + [CodingKeys.publishAllowedTo], "may only be set when publish is false")
        }
        name = try c.decodeIfPresent(.name, text: 255)
        // 2.2.1 errata: address 255, state 45.
        address = try c.decode(.address, text: 255)
        city = try c.decode(.city, text: 45)
        postalCode = try c.decodeIfPresent(.postalCode, text: 10)
        state = try c.decodeIfPresent(.state, text: 45)
        country = try c.decode(String.self, forKey: .country)
        guard country.utf8.count == 3, country.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
            throw OCPIFieldError(c.codingPath + [CodingKeys.country], "must be an ISO 3166-1 alpha-3 code of three capital letters")
        }
        coordinates = try c.decode(GeoLocation.self, forKey: .coordinates)
        relatedLocations = try c.decodeList(AdditionalGeoLocation.self, .relatedLocations)
        parkingType = try c.decodeIfPresent(.parkingType, oneOf: ParkingType.self)
        directions = try c.decodeList(DisplayText.self, .directions)
        `operator` = try c.decodeIfPresent(BusinessDetails.self, forKey: .operator)
        suboperator = try c.decodeIfPresent(BusinessDetails.self, forKey: .suboperator)
        owner = try c.decodeIfPresent(BusinessDetails.self, forKey: .owner)
        facilities = try c.decodeListIfPresent(.facilities, oneOf: Facility.self)
        timeZone = try c.decode(.timeZone, ciString: 255)
        guard TimeZone(identifier: timeZone) != nil, timeZone.contains("/") || timeZone == "UTC" else {
            throw OCPIFieldError(c.codingPath + [CodingKeys.timeZone], "must be an IANA time zone, e.g. Europe/Amsterdam")
        }
        openingTimes = try c.decodeIfPresent(Hours.self, forKey: .openingTimes)
        chargingWhenClosed = try c.decodeIfPresent(Bool.self, forKey: .chargingWhenClosed)
        images = try c.decodeList(Image.self, .images)
        energyMix = try c.decodeIfPresent(EnergyMix.self, forKey: .energyMix)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(countryCode, forKey: .countryCode)
        try c.encode(partyId, forKey: .partyId)
        try c.encode(id, forKey: .id)
        try c.encode(publish, forKey: .publish)
        if !publishAllowedTo.isEmpty { try c.encode(publishAllowedTo, forKey: .publishAllowedTo) }
        try c.encodeIfPresent(name, forKey: .name)
        try c.encode(address, forKey: .address)
        try c.encode(city, forKey: .city)
        try c.encodeIfPresent(postalCode, forKey: .postalCode)
        try c.encodeIfPresent(state, forKey: .state)
        try c.encode(country, forKey: .country)
        try c.encode(coordinates, forKey: .coordinates)
        if !relatedLocations.isEmpty { try c.encode(relatedLocations, forKey: .relatedLocations) }
        try c.encodeIfPresent(parkingType, forKey: .parkingType)
        if !directions.isEmpty { try c.encode(directions, forKey: .directions) }
        try c.encodeIfPresent(`operator`, forKey: .operator)
        try c.encodeIfPresent(suboperator, forKey: .suboperator)
        try c.encodeIfPresent(owner, forKey: .owner)
        if !facilities.isEmpty { try c.encode(facilities, forKey: .facilities) }
        try c.encode(timeZone, forKey: .timeZone)
        try c.encodeIfPresent(openingTimes, forKey: .openingTimes)
        try c.encodeIfPresent(chargingWhenClosed, forKey: .chargingWhenClosed)
        if !images.isEmpty { try c.encode(images, forKey: .images) }
        try c.encodeIfPresent(energyMix, forKey: .energyMix)
    }
}

/// An OCPI 2.2.1 Location, as the Sender serves and pushes it: the site, its EVSEs, and the latest
/// `last_updated` of itself, its EVSEs and their connectors.
public struct Location: Hashable, Sendable, Encodable {
    public var site: LocationSite
    public var evses: [EVSE]
    public var lastUpdated: OCPIDateTime

    public init(site: LocationSite, evses: [EVSE], lastUpdated: OCPIDateTime) {
        self.site = site
        self.evses = evses
        self.lastUpdated = lastUpdated
    }

    enum CodingKeys: String, CodingKey {
        case evses, lastUpdated = "last_updated"
    }

    public func encode(to encoder: any Encoder) throws {
        try site.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(evses, forKey: .evses)
        try c.encode(lastUpdated, forKey: .lastUpdated)
    }
}
