public import Foundation
public import OCPI

/// A session that has not happened yet: when it starts, how long it charges and how much, and how long the
/// car stays after. Settlement sizes a funds hold from its estimate.
public struct PlannedSession: Hashable, Sendable {
    public var start: OCPIDateTime
    /// Whole seconds of charging, 1 ... 7 days.
    public var chargingSeconds: Int64
    /// kWh, delivered at an even rate over the charging time.
    public var energy: Decimal
    /// Whole seconds parked after charging.
    public var parkingSeconds: Int64

    public init(start: OCPIDateTime, chargingSeconds: Int64, energy: Decimal, parkingSeconds: Int64 = 0) {
        self.start = start
        self.chargingSeconds = chargingSeconds
        self.energy = energy
        self.parkingSeconds = parkingSeconds
    }

    public static let maximumSeconds: Int64 = 7 * 86_400
}

extension PricingEngine {
    /// What a planned session will cost: it is cut into charging periods at every instant where one of the
    /// tariff's restrictions can change (a time of day or midnight on the Location's clock, a duration, an
    /// energy threshold, the end of charging), with energy spread evenly, and priced like a real one.
    public static func estimate(_ plan: PlannedSession, tariff: Tariff, timeZone: TimeZone) throws -> CDRTotals {
        guard (1...PlannedSession.maximumSeconds).contains(plan.chargingSeconds) else {
            throw OCPIFieldError(path: "charging_seconds", reason: "must be between 1 and \(PlannedSession.maximumSeconds)")
        }
        guard (0...PlannedSession.maximumSeconds).contains(plan.parkingSeconds) else {
            throw OCPIFieldError(path: "parking_seconds", reason: "must be between 0 and \(PlannedSession.maximumSeconds)")
        }
        guard plan.energy.isFinite, DecimalLimits.energy.range.contains(plan.energy) else {
            throw OCPIFieldError(path: "energy", reason: "must be between 0 and \(DecimalLimits.energy.range.upperBound) kWh")
        }
        guard (0...253_402_300_799).contains(plan.start.seconds) else {
            throw OCPIFieldError(path: "start", reason: "must be between 1970 and 9999")
        }
        // Whole seconds: the periods start on them.
        let plan = PlannedSession(start: OCPIDateTime(seconds: plan.start.seconds), chargingSeconds: plan.chargingSeconds,
                                  energy: plan.energy, parkingSeconds: plan.parkingSeconds)
        let total = plan.chargingSeconds + plan.parkingSeconds
        var cuts = Set<Int64>([0, plan.chargingSeconds])
        let restrictions = tariff.elements.compactMap(\.restrictions)
        for r in restrictions {
            if plan.energy > 0 {
                for kWh in [r.minKWh, r.maxKWh].compactMap({ $0 }) where kWh < plan.energy {
                    // The first whole second at which the energy so far has reached the threshold.
                    let at = (kWh * Decimal(plan.chargingSeconds) / plan.energy).rounded(0, .up)
                    cuts.insert(NSDecimalNumber(decimal: at).int64Value)
                }
            }
        }
        cuts.formUnion(clockCuts(tariff: tariff, start: plan.start.seconds, seconds: total, timeZone: timeZone))
        let offsets = cuts.filter { $0 >= 0 && $0 < total }.sorted()

        var periods: [ChargingPeriod] = []
        // Energy delivered by a second of charging, rounded down to what a CDR holds; each period gets the
        // difference, so the energy so far at a cut is never below what the cut was placed for.
        func delivered(_ second: Int64) -> Decimal {
            second >= plan.chargingSeconds ? plan.energy : (plan.energy * Decimal(second) / Decimal(plan.chargingSeconds)).rounded(6, .down)
        }
        let power = plan.energy * 3600 / Decimal(plan.chargingSeconds)
        for (i, offset) in offsets.enumerated() {
            let end = i + 1 < offsets.count ? offsets[i + 1] : total
            let length = end - offset
            let at = OCPIDateTime(seconds: plan.start.seconds + offset)
            let hours = (Decimal(length) / 3600).rounded(6, .plain)
            if offset < plan.chargingSeconds {
                let energy = delivered(min(end, plan.chargingSeconds)) - delivered(offset)
                let kW = power.rounded(6, .plain)
                periods.append(ChargingPeriod(startDateTime: at, dimensions: [
                    CdrDimension(type: .energy, volume: energy), CdrDimension(type: .time, volume: hours),
                    CdrDimension(type: .minPower, volume: kW), CdrDimension(type: .maxPower, volume: kW),
                ]))
            } else {
                periods.append(ChargingPeriod(startDateTime: at, dimensions: [CdrDimension(type: .parkingTime, volume: hours)]))
            }
        }
        let usage = CDRUsage(startDateTime: plan.start, endDateTime: OCPIDateTime(seconds: plan.start.seconds + total),
                             currency: tariff.currency, chargingPeriods: periods)
        return try price(usage, tariff: tariff, timeZone: timeZone)
    }

    /// The offsets from `start` (whole seconds) at which a restriction of the tariff can change within `seconds`:
    /// local midnights and every restriction's times of day on each local day touched, and its durations.
    static func clockCuts(tariff: Tariff, start: Int64, seconds total: Int64, timeZone: TimeZone) -> Set<Int64> {
        var cuts = Set<Int64>()
        let restrictions = tariff.elements.compactMap(\.restrictions)
        for r in restrictions {
            for d in [r.minDuration, r.maxDuration].compactMap({ $0 }) { cuts.insert(Int64(d)) }
        }
        let minutes = Set([0] + restrictions.flatMap { [$0.startTime, $0.endTime].compactMap { $0 } })
        let firstDay = LocalClock(OCPIDateTime(seconds: start), in: timeZone).day - 1
        let lastDay = LocalClock(OCPIDateTime(seconds: start + total), in: timeZone).day + 1
        for day in firstDay...lastDay {
            for minute in minutes {
                let local = Int64(day) * 86_400 + Int64(minute) * 60
                let guess = local - Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(local))))
                let utc = local - Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(guess))))
                cuts.insert(utc - start)
            }
        }
        return cuts.filter { $0 > 0 && $0 < total }
    }
}
