public import Foundation

/// When a tariff element applies. Every restriction present must hold (they are ANDed); times and dates are
/// local to the Location's time zone.
public struct TariffRestrictions: Hashable, Sendable, Codable {
    /// Minutes after local midnight, from `HH:MM`. When `endTime` is before `startTime` the window wraps midnight,
    /// so `end_time` "00:00" means the end of the day.
    public var startTime: Int?
    public var endTime: Int?
    /// Local dates, as days since 1970-01-01; start inclusive, end exclusive.
    public var startDate: Int?
    public var endDate: Int?
    /// Energy already charged when a period starts, kWh; min inclusive, max exclusive.
    public var minKWh: Decimal?
    public var maxKWh: Decimal?
    /// Charging current, A, summed over phases; min inclusive, max exclusive.
    public var minCurrent: Decimal?
    public var maxCurrent: Decimal?
    /// Charging power, kW; min inclusive, max exclusive.
    public var minPower: Decimal?
    public var maxPower: Decimal?
    /// Session duration when a period starts, seconds; min inclusive, max exclusive.
    public var minDuration: Int?
    public var maxDuration: Int?
    public var dayOfWeek: [DayOfWeek]
    public var reservation: ReservationRestrictionType?

    public init(
        startTime: Int? = nil, endTime: Int? = nil, startDate: Int? = nil, endDate: Int? = nil,
        minKWh: Decimal? = nil, maxKWh: Decimal? = nil, minCurrent: Decimal? = nil, maxCurrent: Decimal? = nil,
        minPower: Decimal? = nil, maxPower: Decimal? = nil, minDuration: Int? = nil, maxDuration: Int? = nil,
        dayOfWeek: [DayOfWeek] = [], reservation: ReservationRestrictionType? = nil
    ) {
        self.startTime = startTime
        self.endTime = endTime
        self.startDate = startDate
        self.endDate = endDate
        self.minKWh = minKWh
        self.maxKWh = maxKWh
        self.minCurrent = minCurrent
        self.maxCurrent = maxCurrent
        self.minPower = minPower
        self.maxPower = maxPower
        self.minDuration = minDuration
        self.maxDuration = maxDuration
        self.dayOfWeek = dayOfWeek
        self.reservation = reservation
    }

    /// Ten years, in seconds.
    public static let maximumDuration = 315_360_000

    enum CodingKeys: String, CodingKey {
        case startTime = "start_time", endTime = "end_time", startDate = "start_date", endDate = "end_date"
        case minKWh = "min_kwh", maxKWh = "max_kwh", minCurrent = "min_current", maxCurrent = "max_current"
        case minPower = "min_power", maxPower = "max_power", minDuration = "min_duration", maxDuration = "max_duration"
        case dayOfWeek = "day_of_week", reservation
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func time(_ key: CodingKeys) throws -> Int? {
            guard let text = try c.decodeIfPresent(String.self, forKey: key) else { return nil }
            guard let minutes = Self.minutes(text) else { throw OCPIFieldError(c.codingPath + [key], "must be a time HH:MM from 00:00 to 23:59") }
            return minutes
        }
        func date(_ key: CodingKeys) throws -> Int? {
            guard let text = try c.decodeIfPresent(String.self, forKey: key) else { return nil }
            guard let days = Self.days(text) else { throw OCPIFieldError(c.codingPath + [key], "must be a date YYYY-MM-DD from 1970 to 9999") }
            return days
        }
        startTime = try time(.startTime)
        endTime = try time(.endTime)
        startDate = try date(.startDate)
        endDate = try date(.endDate)
        minKWh = try c.decodeIfPresent(.minKWh, .energy)
        maxKWh = try c.decodeIfPresent(.maxKWh, .energy)
        minCurrent = try c.decodeIfPresent(.minCurrent, .current)
        maxCurrent = try c.decodeIfPresent(.maxCurrent, .current)
        minPower = try c.decodeIfPresent(.minPower, .power)
        maxPower = try c.decodeIfPresent(.maxPower, .power)
        minDuration = try c.decodeIfPresent(.minDuration, in: 0...Self.maximumDuration)
        maxDuration = try c.decodeIfPresent(.maxDuration, in: 0...Self.maximumDuration)
        dayOfWeek = try c.decodeListIfPresent(.dayOfWeek, oneOf: DayOfWeek.self)
        reservation = try c.decodeIfPresent(.reservation, oneOf: ReservationRestrictionType.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(startTime.map(Self.clock), forKey: .startTime)
        try c.encodeIfPresent(endTime.map(Self.clock), forKey: .endTime)
        try c.encodeIfPresent(startDate.map(Self.calendarDate), forKey: .startDate)
        try c.encodeIfPresent(endDate.map(Self.calendarDate), forKey: .endDate)
        try c.encodeIfPresent(minKWh, forKey: .minKWh)
        try c.encodeIfPresent(maxKWh, forKey: .maxKWh)
        try c.encodeIfPresent(minCurrent, forKey: .minCurrent)
        try c.encodeIfPresent(maxCurrent, forKey: .maxCurrent)
        try c.encodeIfPresent(minPower, forKey: .minPower)
        try c.encodeIfPresent(maxPower, forKey: .maxPower)
        try c.encodeIfPresent(minDuration, forKey: .minDuration)
        try c.encodeIfPresent(maxDuration, forKey: .maxDuration)
        if !dayOfWeek.isEmpty { try c.encode(dayOfWeek, forKey: .dayOfWeek) }
        try c.encodeIfPresent(reservation, forKey: .reservation)
    }

    static func minutes(_ text: String) -> Int? {
        let b = Array(text.utf8)
        guard b.count == 5, b[2] == 0x3A, let h = Int(text.prefix(2)), let m = Int(text.suffix(2)),
              b[0...1].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), b[3...4].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              h < 24, m < 60
        else { return nil }
        return h * 60 + m
    }

    static func days(_ text: String) -> Int? {
        let b = Array(text.utf8)
        let digitsAt = [0, 1, 2, 3, 5, 6, 8, 9]
        guard b.count == 10, b[4] == 0x2D, b[7] == 0x2D, digitsAt.allSatisfy({ b[$0] >= 0x30 && b[$0] <= 0x39 }),
              let y = Int(text.prefix(4)), let m = Int(text.dropFirst(5).prefix(2)), let d = Int(text.suffix(2)),
              (1970...9999).contains(y), (1...12).contains(m), d >= 1, d <= Civil.daysIn(month: m, year: y)
        else { return nil }
        return Civil.days(year: y, month: m, day: d)
    }

    static func clock(_ minutes: Int) -> String {
        let h = minutes / 60, m = minutes % 60
        return (h < 10 ? "0" : "") + "\(h):" + (m < 10 ? "0" : "") + "\(m)"
    }

    static func calendarDate(_ days: Int) -> String {
        let (y, m, d) = Civil.date(days: days)
        return "\(y)-" + (m < 10 ? "0" : "") + "\(m)-" + (d < 10 ? "0" : "") + "\(d)"
    }
}
