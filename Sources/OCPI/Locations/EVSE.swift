import Foundation

/// What an operator says about a connector: OCPI's static Connector data.
public struct ConnectorSpec: Hashable, Sendable, Codable {
    public var standard: ConnectorType
    public var format: ConnectorFormat
    public var powerType: PowerType
    /// Volts; line to neutral for AC_3_PHASE.
    public var maxVoltage: Int
    public var maxAmperage: Int
    /// Watts; set when lower than volts × amperes (× 3 on three phases).
    public var maxElectricPower: Int?
    public var tariffIds: [String]
    public var termsAndConditions: String?

    public init(standard: ConnectorType, format: ConnectorFormat, powerType: PowerType, maxVoltage: Int, maxAmperage: Int, maxElectricPower: Int? = nil, tariffIds: [String] = [], termsAndConditions: String? = nil) {
        self.standard = standard
        self.format = format
        self.powerType = powerType
        self.maxVoltage = maxVoltage
        self.maxAmperage = maxAmperage
        self.maxElectricPower = maxElectricPower
        self.tariffIds = tariffIds
        self.termsAndConditions = termsAndConditions
    }

    enum CodingKeys: String, CodingKey {
        case standard, format, powerType = "power_type", maxVoltage = "max_voltage", maxAmperage = "max_amperage"
        case maxElectricPower = "max_electric_power", tariffIds = "tariff_ids", termsAndConditions = "terms_and_conditions"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        standard = try c.decode(.standard, oneOf: ConnectorType.self)
        format = try c.decode(.format, oneOf: ConnectorFormat.self)
        powerType = try c.decode(.powerType, oneOf: PowerType.self)
        maxVoltage = try c.decode(.maxVoltage, in: 1...2_000)
        maxAmperage = try c.decode(.maxAmperage, in: 1...2_000)
        maxElectricPower = try c.decodeIfPresent(.maxElectricPower, in: 1...4_000_000)
        tariffIds = try c.decodeIfPresent([String].self, forKey: .tariffIds) ?? []
        guard tariffIds.count <= 10 else { throw OCPIFieldError(c.codingPath + [CodingKeys.tariffIds], "must hold at most 10 tariff ids") }
        for (i, id) in tariffIds.enumerated() where !OCPIString.isCiString(id, maxLength: 36) {
            throw OCPIFieldError(c.codingPath + [CodingKeys.tariffIds, OCPIIndexKey(i)], "must be 1 to 36 printable ASCII characters")
        }
        termsAndConditions = try c.decodeURLIfPresent(.termsAndConditions)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(standard, forKey: .standard)
        try c.encode(format, forKey: .format)
        try c.encode(powerType, forKey: .powerType)
        try c.encode(maxVoltage, forKey: .maxVoltage)
        try c.encode(maxAmperage, forKey: .maxAmperage)
        try c.encodeIfPresent(maxElectricPower, forKey: .maxElectricPower)
        if !tariffIds.isEmpty { try c.encode(tariffIds, forKey: .tariffIds) }
        try c.encodeIfPresent(termsAndConditions, forKey: .termsAndConditions)
    }
}

/// What an operator says about an EVSE: OCPI's static EVSE data, without its connectors or status.
public struct EVSESpec: Hashable, Sendable, Codable {
    /// eMI3, e.g. `NL*VOL*E12345*1`.
    public var evseId: String?
    public var capabilities: [Capability]
    public var floorLevel: String?
    public var coordinates: GeoLocation?
    public var physicalReference: String?
    public var directions: [DisplayText]
    public var parkingRestrictions: [ParkingRestriction]
    public var images: [Image]

    public init(evseId: String? = nil, capabilities: [Capability] = [], floorLevel: String? = nil, coordinates: GeoLocation? = nil, physicalReference: String? = nil, directions: [DisplayText] = [], parkingRestrictions: [ParkingRestriction] = [], images: [Image] = []) {
        self.evseId = evseId
        self.capabilities = capabilities
        self.floorLevel = floorLevel
        self.coordinates = coordinates
        self.physicalReference = physicalReference
        self.directions = directions
        self.parkingRestrictions = parkingRestrictions
        self.images = images
    }

    enum CodingKeys: String, CodingKey {
        case evseId = "evse_id", capabilities, floorLevel = "floor_level", coordinates, physicalReference = "physical_reference"
        case directions, parkingRestrictions = "parking_restrictions", images
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        evseId = try c.decodeIfPresent(.evseId, ciString: 48)
        if let evseId, !Self.isEMI3(evseId) {
            throw OCPIFieldError(c.codingPath + [CodingKeys.evseId], "must be an eMI3 EVSE id: country, '*', operator, '*E', then letters, digits or '*'")
        }
        capabilities = try c.decodeListIfPresent(.capabilities, oneOf: Capability.self)
        floorLevel = try c.decodeIfPresent(.floorLevel, text: 4)
        coordinates = try c.decodeIfPresent(GeoLocation.self, forKey: .coordinates)
        physicalReference = try c.decodeIfPresent(.physicalReference, text: 16)
        directions = try c.decodeList(DisplayText.self, .directions)
        parkingRestrictions = try c.decodeListIfPresent(.parkingRestrictions, oneOf: ParkingRestriction.self)
        images = try c.decodeList(Image.self, .images)
    }

    /// `CC*OOO*E…` (the separators may be left out), as eMI3 and OCPI write EVSE ids.
    public static func isEMI3(_ id: String) -> Bool {
        let parts = id.split(separator: "*", omittingEmptySubsequences: false)
        let alnum: (Substring) -> Bool = { $0.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) } }
        if parts.count >= 3 {
            return parts[0].count == 2 && parts[1].count == 3 && parts[2].uppercased().hasPrefix("E") && parts[2].count > 1
                && parts.allSatisfy { !$0.isEmpty && alnum($0) }
        }
        return parts.count == 1 && id.count > 6 && alnum(parts[0]) && id.dropFirst(5).uppercased().hasPrefix("E")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(evseId, forKey: .evseId)
        if !capabilities.isEmpty { try c.encode(capabilities, forKey: .capabilities) }
        try c.encodeIfPresent(floorLevel, forKey: .floorLevel)
        try c.encodeIfPresent(coordinates, forKey: .coordinates)
        try c.encodeIfPresent(physicalReference, forKey: .physicalReference)
        if !directions.isEmpty { try c.encode(directions, forKey: .directions) }
        if !parkingRestrictions.isEmpty { try c.encode(parkingRestrictions, forKey: .parkingRestrictions) }
        if !images.isEmpty { try c.encode(images, forKey: .images) }
    }
}

/// An OCPI Connector as served: its id within the EVSE, the static data and when it last changed.
public struct Connector: Hashable, Sendable, Encodable {
    public var id: String
    public var spec: ConnectorSpec
    public var lastUpdated: OCPIDateTime

    public init(id: String, spec: ConnectorSpec, lastUpdated: OCPIDateTime) {
        self.id = id
        self.spec = spec
        self.lastUpdated = lastUpdated
    }

    enum CodingKeys: String, CodingKey {
        case id, lastUpdated = "last_updated"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try spec.encode(to: encoder)
        try c.encode(lastUpdated, forKey: .lastUpdated)
    }
}

/// An OCPI EVSE as served: its stable uid, the static data, the live status, its connectors.
public struct EVSE: Hashable, Sendable, Encodable {
    public var uid: String
    public var spec: EVSESpec
    public var status: EVSEStatus
    public var connectors: [Connector]
    public var lastUpdated: OCPIDateTime

    public init(uid: String, spec: EVSESpec, status: EVSEStatus, connectors: [Connector], lastUpdated: OCPIDateTime) {
        self.uid = uid
        self.spec = spec
        self.status = status
        self.connectors = connectors
        self.lastUpdated = lastUpdated
    }

    enum CodingKeys: String, CodingKey {
        case uid, status, connectors, lastUpdated = "last_updated"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(uid, forKey: .uid)
        try spec.encode(to: encoder)
        try c.encode(status, forKey: .status)
        try c.encode(connectors, forKey: .connectors)
        try c.encode(lastUpdated, forKey: .lastUpdated)
    }
}
