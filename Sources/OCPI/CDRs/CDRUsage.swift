import Foundation

/// What pricing reads from an OCPI 2.2.1 CDR or Session: when it ran and its charging periods. Every other field
/// of the object is ignored, so a CDR without totals (or with them) can be priced as it is.
public struct CDRUsage: Hashable, Sendable, Codable {
    public var startDateTime: OCPIDateTime
    public var endDateTime: OCPIDateTime
    public var currency: String?
    public var chargingPeriods: [ChargingPeriod]

    public init(startDateTime: OCPIDateTime, endDateTime: OCPIDateTime, currency: String? = nil, chargingPeriods: [ChargingPeriod]) {
        self.startDateTime = startDateTime
        self.endDateTime = endDateTime
        self.currency = currency
        self.chargingPeriods = chargingPeriods
    }

    public static let maximumPeriods = 10_000

    enum CodingKeys: String, CodingKey {
        case startDateTime = "start_date_time", endDateTime = "end_date_time", currency, chargingPeriods = "charging_periods"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        startDateTime = try c.decode(OCPIDateTime.self, forKey: .startDateTime)
        endDateTime = try c.decode(OCPIDateTime.self, forKey: .endDateTime)
        currency = try c.decodeIfPresent(.currency, maxLength: 3)
        chargingPeriods = try c.decode([ChargingPeriod].self, forKey: .chargingPeriods)
        try validate(at: c.codingPath)
    }

    /// The rules between fields: at least one period, periods in order, all inside the session.
    public func validate(at path: [any CodingKey] = []) throws {
        guard endDateTime >= startDateTime else {
            throw OCPIFieldError(path + [CodingKeys.endDateTime], "must not be before start_date_time")
        }
        guard (1...Self.maximumPeriods).contains(chargingPeriods.count) else {
            throw OCPIFieldError(path + [CodingKeys.chargingPeriods], "must hold 1 to \(Self.maximumPeriods) periods")
        }
        var previous = startDateTime
        for (index, period) in chargingPeriods.enumerated() {
            let at = path + [CodingKeys.chargingPeriods, OCPIIndexKey(index), ChargingPeriod.CodingKeys.startDateTime]
            guard period.startDateTime >= previous else {
                throw OCPIFieldError(at, index == 0 ? "must not be before the session's start_date_time" : "must not be before the previous period's start")
            }
            guard period.startDateTime <= endDateTime else { throw OCPIFieldError(at, "must not be after the session's end_date_time") }
            previous = period.startDateTime
        }
    }
}
