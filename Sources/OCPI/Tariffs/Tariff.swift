import Foundation

/// An OCPI 2.2.1 Tariff, in full.
public struct Tariff: Hashable, Sendable, Codable {
    public var countryCode: String
    public var partyId: String
    public var id: String
    /// ISO 4217.
    public var currency: String
    public var type: TariffType?
    public var tariffAltText: [DisplayText]
    public var tariffAltURL: String?
    public var minPrice: Price?
    public var maxPrice: Price?
    public var elements: [TariffElement]
    /// UTC validity; the caller picks the tariff valid when a session starts, the engine prices with it.
    public var startDateTime: OCPIDateTime?
    public var endDateTime: OCPIDateTime?
    public var energyMix: EnergyMix?
    public var lastUpdated: OCPIDateTime

    public init(
        countryCode: String, partyId: String, id: String, currency: String, type: TariffType? = nil,
        tariffAltText: [DisplayText] = [], tariffAltURL: String? = nil, minPrice: Price? = nil, maxPrice: Price? = nil,
        elements: [TariffElement], startDateTime: OCPIDateTime? = nil, endDateTime: OCPIDateTime? = nil,
        energyMix: EnergyMix? = nil, lastUpdated: OCPIDateTime
    ) {
        self.countryCode = countryCode
        self.partyId = partyId
        self.id = id
        self.currency = currency
        self.type = type
        self.tariffAltText = tariffAltText
        self.tariffAltURL = tariffAltURL
        self.minPrice = minPrice
        self.maxPrice = maxPrice
        self.elements = elements
        self.startDateTime = startDateTime
        self.endDateTime = endDateTime
        self.energyMix = energyMix
        self.lastUpdated = lastUpdated
    }

    enum CodingKeys: String, CodingKey {
        case countryCode = "country_code", partyId = "party_id", id, currency, type
        case tariffAltText = "tariff_alt_text", tariffAltURL = "tariff_alt_url", minPrice = "min_price", maxPrice = "max_price"
        case elements, startDateTime = "start_date_time", endDateTime = "end_date_time", energyMix = "energy_mix"
        case lastUpdated = "last_updated"
    }

    /// More elements than any real tariff has, few enough that a period's lookup stays cheap.
    public static let maximumElements = 100

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        countryCode = try Self.code(c, .countryCode, length: 2)
        partyId = try Self.code(c, .partyId, length: 3)
        id = try c.decode(.id, objectId: ())
        currency = try c.decode(String.self, forKey: .currency)
        guard currency.utf8.count == 3, currency.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
            throw OCPIFieldError(c.codingPath + [CodingKeys.currency], "must be an ISO 4217 code of three capital letters")
        }
        type = try c.decodeIfPresent(.type, oneOf: TariffType.self)
        tariffAltText = try c.decodeIfPresent([DisplayText].self, forKey: .tariffAltText) ?? []
        tariffAltURL = try c.decodeIfPresent(.tariffAltURL, maxLength: 255)
        minPrice = try c.decodeIfPresent(Price.self, forKey: .minPrice)
        maxPrice = try c.decodeIfPresent(Price.self, forKey: .maxPrice)
        elements = try c.decode([TariffElement].self, forKey: .elements)
        guard (1...Self.maximumElements).contains(elements.count) else {
            throw OCPIFieldError(c.codingPath + [CodingKeys.elements], "must hold 1 to \(Self.maximumElements) elements")
        }
        startDateTime = try c.decodeIfPresent(OCPIDateTime.self, forKey: .startDateTime)
        endDateTime = try c.decodeIfPresent(OCPIDateTime.self, forKey: .endDateTime)
        energyMix = try c.decodeIfPresent(EnergyMix.self, forKey: .energyMix)
        lastUpdated = try c.decode(OCPIDateTime.self, forKey: .lastUpdated)
        if let minPrice, let maxPrice, minPrice.exclVat > maxPrice.exclVat {
            throw OCPIFieldError(c.codingPath + [CodingKeys.minPrice, Price.CodingKeys.exclVat], "must not exceed max_price.excl_vat")
        }
        if let low = minPrice?.inclVat, let high = maxPrice?.inclVat, low > high {
            throw OCPIFieldError(c.codingPath + [CodingKeys.minPrice, Price.CodingKeys.inclVat], "must not exceed max_price.incl_vat")
        }
    }

    /// A country code or party id: exactly `length` characters (CiString, so letters and digits).
    static func code<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K, length: Int) throws -> String {
        let value = try c.decode(String.self, forKey: key)
        guard value.utf8.count == length, value.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) }) else {
            throw OCPIFieldError(c.codingPath + [key], "must be \(length) letters or digits")
        }
        return value
    }
}
