public import Foundation
public import OCPI

/// What is known of a roaming session: what was fixed when it started (the token, where, the tariff in force) and
/// what its meter said since. It renders the OCPI Session at any moment and, once ended, its CDR, both priced by
/// the same engine from the same periods: the Session's cost so far and the CDR's total agree.
public struct SessionFacts: Sendable {
    /// The CPO party (the location's).
    public var countryCode: String
    public var partyId: String
    public var id: String
    public var cdrToken: CdrToken
    public var authMethod: AuthMethod
    public var locationId: String
    public var evseUID: String
    public var connectorId: String
    public var currency: String
    public var tariff: Tariff?
    public var timeZone: TimeZone
    public var start: OCPIDateTime
    /// Nil while charging.
    public var end: OCPIDateTime?
    public var meterStartWh: Int64?
    public var meterStopWh: Int64?
    /// The energy the transaction recorded, once ended.
    public var energyWh: Int64?
    /// The energy register's readings (absolute Wh).
    public var readings: [(OCPIDateTime, Int64)]
    public var lastUpdated: OCPIDateTime
    /// The eMSP's reference of the START_SESSION (or authorization) that started it.
    public var authorizationReference: String?

    public init(countryCode: String, partyId: String, id: String, cdrToken: CdrToken, authMethod: AuthMethod, locationId: String, evseUID: String,
                connectorId: String, currency: String, tariff: Tariff?, timeZone: TimeZone, start: OCPIDateTime, end: OCPIDateTime?,
                meterStartWh: Int64?, meterStopWh: Int64?, energyWh: Int64?, readings: [(OCPIDateTime, Int64)], lastUpdated: OCPIDateTime,
                authorizationReference: String? = nil) {
        self.countryCode = countryCode
        self.partyId = partyId
        self.id = id
        self.cdrToken = cdrToken
        self.authMethod = authMethod
        self.locationId = locationId
        self.evseUID = evseUID
        self.connectorId = connectorId
        self.currency = currency
        self.tariff = tariff
        self.timeZone = timeZone
        self.start = start
        self.end = end
        self.meterStartWh = meterStartWh
        self.meterStopWh = meterStopWh
        self.energyWh = energyWh
        self.readings = readings
        self.lastUpdated = lastUpdated
        self.authorizationReference = authorizationReference
    }

    /// The meter's view up to the end or, while charging, up to its latest reading (what happened since is not known
    /// yet: it is neither charging nor parking until the meter says so).
    public func metered(now: OCPIDateTime) -> MeteredSession {
        MeteredSession.of(start: start, end: end, meterStartWh: meterStartWh, meterStopWh: meterStopWh, energyWh: energyWh, readings: readings, now: now)
    }

    /// The usage and, with a tariff, its totals.
    func priced(now: OCPIDateTime) throws -> (usage: CDRUsage, totals: CDRTotals?) {
        let metered = metered(now: now)
        let periods = metered.chargingPeriods(tariff: tariff, timeZone: timeZone)
        let usage = CDRUsage(startDateTime: OCPIDateTime(seconds: start.seconds), endDateTime: OCPIDateTime(seconds: max(metered.end.seconds, start.seconds)),
                             currency: currency, chargingPeriods: periods)
        guard let tariff else { return (usage, nil) }
        return (usage, try PricingEngine.price(usage, tariff: tariff, timeZone: timeZone))
    }

    /// The Session as it stands at `now`. Without a tariff its cost is absent (absent is not free).
    public func session(now: OCPIDateTime) throws -> Session {
        let (usage, totals) = try priced(now: now)
        // Whole seconds, as the periods are: a period never starts before its session.
        return Session(
            countryCode: countryCode, partyId: partyId, id: id, startDateTime: OCPIDateTime(seconds: start.seconds), endDateTime: end.map { OCPIDateTime(seconds: $0.seconds) },
            kwh: Decimal(metered(now: now).energyWh) / 1000, cdrToken: cdrToken, authMethod: authMethod,
            authorizationReference: authorizationReference, locationId: locationId,
            evseUID: evseUID, connectorId: connectorId, currency: currency, chargingPeriods: usage.chargingPeriods,
            totalCost: totals?.totalCost, status: end == nil ? .active : .completed, lastUpdated: lastUpdated
        )
    }

    /// The CDR of the ended session. Without a tariff it costs nothing and says so (`total_cost` 0).
    public func cdr(id: String, location: CdrLocation, now: OCPIDateTime) throws -> CDR {
        guard let end else { throw OCPIFieldError(path: "end_date_time", reason: "a CDR is made only of an ended session") }
        let (usage, priced) = try priced(now: now)
        let totals = priced ?? Self.unpriced(usage)
        return CDR(
            countryCode: countryCode, partyId: partyId, id: id, startDateTime: usage.startDateTime, endDateTime: usage.endDateTime, sessionId: self.id,
            cdrToken: cdrToken, authMethod: authMethod, authorizationReference: authorizationReference, cdrLocation: location, currency: currency, tariffs: tariff.map { [$0] } ?? [],
            chargingPeriods: usage.chargingPeriods, totals: totals, lastUpdated: now
        )
    }

    static func unpriced(_ usage: CDRUsage) -> CDRTotals {
        var energy = Decimal(0), time = Decimal(0), parking = Decimal(0)
        for p in usage.chargingPeriods {
            for d in p.dimensions {
                switch d.type {
                case .energy: energy += d.volume
                case .time: time += d.volume
                case .parkingTime: parking += d.volume
                default: break
                }
            }
        }
        return CDRTotals(totalCost: Price(exclVat: 0, inclVat: 0), totalEnergy: energy, totalTime: time + parking, totalParkingTime: parking)
    }
}
