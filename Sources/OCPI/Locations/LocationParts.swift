import Foundation

/// WGS 84 coordinates, as OCPI writes them: strings with 5 to 7 decimals.
public struct GeoLocation: Hashable, Sendable, Codable {
    public var latitude: String
    public var longitude: String

    public init(latitude: String, longitude: String) {
        self.latitude = latitude
        self.longitude = longitude
    }

    enum CodingKeys: String, CodingKey { case latitude, longitude }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        latitude = try Self.coordinate(c, .latitude, integerDigits: 2, limit: 90)
        longitude = try Self.coordinate(c, .longitude, integerDigits: 3, limit: 180)
    }

    /// `-?[0-9]{1,n}\.[0-9]{5,7}`, within ±limit.
    static func coordinate(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, integerDigits: Int, limit: Int) throws -> String {
        let value = try c.decode(String.self, forKey: key)
        let body = value.hasPrefix("-") ? value.dropFirst() : Substring(value)
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        let digits: (Substring) -> Bool = { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        guard parts.count == 2, digits(parts[0]), parts[0].count <= integerDigits, digits(parts[1]), (5...7).contains(parts[1].count),
              let magnitude = Decimal(string: String(body)), magnitude <= Decimal(limit)
        else {
            throw OCPIFieldError(c.codingPath + [key], "must be a decimal string with 5 to 7 decimals, between -\(limit) and \(limit)")
        }
        return value
    }
}

public struct AdditionalGeoLocation: Hashable, Sendable, Codable {
    public var latitude: String
    public var longitude: String
    public var name: DisplayText?

    enum CodingKeys: String, CodingKey { case latitude, longitude, name }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let point = try GeoLocation(from: decoder)
        latitude = point.latitude
        longitude = point.longitude
        name = try c.decodeIfPresent(DisplayText.self, forKey: .name)
    }
}

public struct Image: Hashable, Sendable, Codable {
    public var url: String
    public var thumbnail: String?
    public var category: ImageCategory
    /// gif, jpeg, png or svg.
    public var type: String
    public var width: Int?
    public var height: Int?

    enum CodingKeys: String, CodingKey { case url, thumbnail, category, type, width, height }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        url = try c.decodeURL(.url)
        thumbnail = try c.decodeURLIfPresent(.thumbnail)
        category = try c.decode(.category, oneOf: ImageCategory.self)
        type = try c.decode(.type, ciString: 4)
        width = try c.decodeIfPresent(.width, in: 1...99_999)
        height = try c.decodeIfPresent(.height, in: 1...99_999)
    }
}

public struct BusinessDetails: Hashable, Sendable, Codable {
    public var name: String
    public var website: String?
    public var logo: Image?

    public init(name: String, website: String? = nil, logo: Image? = nil) {
        self.name = name
        self.website = website
        self.logo = logo
    }

    enum CodingKeys: String, CodingKey { case name, website, logo }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(.name, text: 100)
        guard !name.isEmpty else { throw OCPIFieldError(c.codingPath + [CodingKeys.name], "must not be empty") }
        website = try c.decodeURLIfPresent(.website)
        logo = try c.decodeIfPresent(Image.self, forKey: .logo)
    }
}

/// Opening times, in the Location's local time (regular hours) and in UTC (exceptions).
public struct Hours: Hashable, Sendable, Codable {
    public struct RegularHours: Hashable, Sendable, Codable {
        /// 1 = Monday … 7 = Sunday.
        public var weekday: Int
        public var periodBegin: String
        public var periodEnd: String

        enum CodingKeys: String, CodingKey {
            case weekday, periodBegin = "period_begin", periodEnd = "period_end"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            weekday = try c.decode(.weekday, in: 1...7)
            periodBegin = try Self.clock(c, .periodBegin)
            periodEnd = try Self.clock(c, .periodEnd)
            guard periodEnd > periodBegin else { throw OCPIFieldError(c.codingPath + [CodingKeys.periodEnd], "must be later than period_begin") }
        }

        /// `HH:MM`, 00:00 to 23:59; zero-padded, so that string order is time order.
        static func clock(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> String {
            let value = try c.decode(String.self, forKey: key)
            let b = Array(value.utf8)
            let digit: (UInt8) -> Int? = { $0 >= 0x30 && $0 <= 0x39 ? Int($0 - 0x30) : nil }
            guard b.count == 5, b[2] == 0x3A, let h1 = digit(b[0]), let h2 = digit(b[1]), let m1 = digit(b[3]), let m2 = digit(b[4]),
                  h1 * 10 + h2 < 24, m1 < 6, m2 >= 0
            else { throw OCPIFieldError(c.codingPath + [key], "must be a local time HH:MM, 00:00 to 23:59") }
            return value
        }
    }

    public struct ExceptionalPeriod: Hashable, Sendable, Codable {
        public var periodBegin: OCPIDateTime
        public var periodEnd: OCPIDateTime

        enum CodingKeys: String, CodingKey {
            case periodBegin = "period_begin", periodEnd = "period_end"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            periodBegin = try c.decode(OCPIDateTime.self, forKey: .periodBegin)
            periodEnd = try c.decode(OCPIDateTime.self, forKey: .periodEnd)
            guard periodEnd > periodBegin else { throw OCPIFieldError(c.codingPath + [CodingKeys.periodEnd], "must be later than period_begin") }
        }
    }

    public var twentyfourseven: Bool
    public var regularHours: [RegularHours]
    public var exceptionalOpenings: [ExceptionalPeriod]
    public var exceptionalClosings: [ExceptionalPeriod]

    enum CodingKeys: String, CodingKey {
        case twentyfourseven, regularHours = "regular_hours", exceptionalOpenings = "exceptional_openings"
        case exceptionalClosings = "exceptional_closings"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        twentyfourseven = try c.decode(Bool.self, forKey: .twentyfourseven)
        regularHours = try c.decodeList(RegularHours.self, .regularHours, maxCount: 7 * 24)
        exceptionalOpenings = try c.decodeList(ExceptionalPeriod.self, .exceptionalOpenings, maxCount: 1000)
        exceptionalClosings = try c.decodeList(ExceptionalPeriod.self, .exceptionalClosings, maxCount: 1000)
        if twentyfourseven, !regularHours.isEmpty {
            throw OCPIFieldError(c.codingPath + [CodingKeys.regularHours], "must be empty when twentyfourseven is true")
        }
        if !twentyfourseven, regularHours.isEmpty {
            throw OCPIFieldError(c.codingPath + [CodingKeys.regularHours], "must hold at least one period when twentyfourseven is false")
        }
    }
}

/// Who may see an unpublished Location.
public struct PublishTokenType: Hashable, Sendable, Codable {
    public var uid: String?
    public var type: TokenType?
    public var visualNumber: String?
    public var issuer: String?
    public var groupId: String?

    enum CodingKeys: String, CodingKey {
        case uid, type, visualNumber = "visual_number", issuer, groupId = "group_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        uid = try c.decodeIfPresent(.uid, ciString: 36)
        type = try c.decodeIfPresent(.type, oneOf: TokenType.self)
        visualNumber = try c.decodeIfPresent(.visualNumber, text: 64)
        issuer = try c.decodeIfPresent(.issuer, text: 64)
        groupId = try c.decodeIfPresent(.groupId, ciString: 36)
        guard uid != nil || visualNumber != nil || groupId != nil else {
            throw OCPIFieldError(c.codingPath, "must name a uid, a visual_number or a group_id")
        }
        if uid != nil, type == nil { throw OCPIFieldError(c.codingPath + [CodingKeys.type], "is required with uid") }
        if visualNumber != nil, issuer == nil { throw OCPIFieldError(c.codingPath + [CodingKeys.issuer], "is required with visual_number") }
    }
}
