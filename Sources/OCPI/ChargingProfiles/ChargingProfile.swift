public import Foundation

/// OCPI 2.2.1 mod_charging_profiles: the eMSP (or an SCSP) asks the CPO to limit a session's charging (Voltaic the
/// Receiver). The answer comes at once (`ChargingProfileResponse`); the outcome later, POSTed to `response_url`.
public enum ChargingRateUnit: String, Codable, Sendable, CaseIterable {
    case watts = "W", amperes = "A"
}

public struct ChargingProfilePeriod: Hashable, Sendable, Codable {
    /// Seconds from the profile's start.
    public var startPeriod: Int
    /// In the profile's unit (W or A).
    public var limit: Decimal

    public init(startPeriod: Int, limit: Decimal) {
        self.startPeriod = startPeriod
        self.limit = limit
    }

    enum CodingKeys: String, CodingKey { case startPeriod = "start_period", limit }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        startPeriod = try c.decode(.startPeriod, in: 0...Int(Int32.max))
        limit = try c.decode(.limit, .power)
    }
}

public struct ChargingProfile: Hashable, Sendable, Codable {
    public var startDateTime: OCPIDateTime?
    /// Seconds.
    public var duration: Int?
    public var chargingRateUnit: ChargingRateUnit
    public var minChargingRate: Decimal?
    public var periods: [ChargingProfilePeriod]

    public init(startDateTime: OCPIDateTime?, duration: Int?, chargingRateUnit: ChargingRateUnit, minChargingRate: Decimal?, periods: [ChargingProfilePeriod]) {
        self.startDateTime = startDateTime
        self.duration = duration
        self.chargingRateUnit = chargingRateUnit
        self.minChargingRate = minChargingRate
        self.periods = periods
    }

    enum CodingKeys: String, CodingKey {
        case startDateTime = "start_date_time", duration, chargingRateUnit = "charging_rate_unit", minChargingRate = "min_charging_rate"
        case periods = "charging_profile_period"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        startDateTime = try c.decodeIfPresent(OCPIDateTime.self, forKey: .startDateTime)
        duration = try c.decodeIfPresent(.duration, in: 1...Int(Int32.max))
        chargingRateUnit = try c.decode(.chargingRateUnit, oneOf: ChargingRateUnit.self)
        minChargingRate = try c.decodeIfPresent(.minChargingRate, .power)
        periods = try c.decodeIfPresent([ChargingProfilePeriod].self, forKey: .periods) ?? []
        // OCPP needs at least one period, starting at 0, in increasing order (and caps them: 1,024 is far past any charger's).
        guard let first = periods.first, first.startPeriod == 0 else {
            throw OCPIFieldError(c.codingPath + [CodingKeys.periods], "needs at least one period, the first at start_period 0")
        }
        guard periods.count <= 1024 else { throw OCPIFieldError(c.codingPath + [CodingKeys.periods], "at most 1024 periods") }
        for (a, b) in zip(periods, periods.dropFirst()) where b.startPeriod <= a.startPeriod {
            throw OCPIFieldError(c.codingPath + [CodingKeys.periods], "start_period must increase")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(startDateTime, forKey: .startDateTime)
        try c.encodeIfPresent(duration, forKey: .duration)
        try c.encode(chargingRateUnit, forKey: .chargingRateUnit)
        try c.encodeIfPresent(minChargingRate, forKey: .minChargingRate)
        try c.encode(periods, forKey: .periods)
    }
}

/// PUT's body.
public struct SetChargingProfile: Hashable, Sendable, Decodable {
    public var chargingProfile: ChargingProfile
    public var responseURL: String

    enum CodingKeys: String, CodingKey { case chargingProfile = "charging_profile", responseURL = "response_url" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        chargingProfile = try c.decode(ChargingProfile.self, forKey: .chargingProfile)
        responseURL = try c.decode(String.self, forKey: .responseURL)
        guard OCPIString.isURL(responseURL) else { throw OCPIFieldError(c.codingPath + [CodingKeys.responseURL], "must be an absolute http(s) URL") }
    }
}

public enum ChargingProfileResponseType: String, Codable, Sendable, CaseIterable {
    case accepted = "ACCEPTED", notSupported = "NOT_SUPPORTED", rejected = "REJECTED", tooOften = "TOO_OFTEN", unknownSession = "UNKNOWN_SESSION"
}

/// The answer at once.
public struct ChargingProfileResponse: Hashable, Sendable, Encodable {
    public var result: ChargingProfileResponseType
    /// Seconds the eMSP should wait for the result.
    public var timeout: Int

    public init(result: ChargingProfileResponseType, timeout: Int) {
        self.result = result
        self.timeout = timeout
    }
}

public enum ChargingProfileResultType: String, Codable, Sendable, CaseIterable {
    case accepted = "ACCEPTED", rejected = "REJECTED", unknown = "UNKNOWN"
}

/// The three requests, as kept for the station's node beside the commands.
public enum ChargingProfileRequest: String, Codable, Sendable, CaseIterable {
    case set = "SET_CHARGING_PROFILE", get = "GET_ACTIVE_CHARGING_PROFILE", clear = "CLEAR_CHARGING_PROFILE"
}
