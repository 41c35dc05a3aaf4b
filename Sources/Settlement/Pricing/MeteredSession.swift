public import Foundation
public import OCPI

/// A session as its meter saw it: when it started and ended, and the energy register's readings in between, in Wh
/// from the start. It becomes OCPI charging periods cut wherever the price can change, so that the pricing engine,
/// which reads a period's conditions at its start, prices it exactly.
public struct MeteredSession: Hashable, Sendable {
    public var start: OCPIDateTime
    public var end: OCPIDateTime
    /// (time, Wh delivered since the start); need not be sorted, may be empty. The total at `end` is `energyWh`. Callers
    /// keep every value within ±`WireLimits.maxRegisterWh` (10^15).
    public var readings: [(OCPIDateTime, Int64)]
    /// The energy of the whole session, Wh.
    public var energyWh: Int64

    /// The span over which the tariff's clock cuts are made.
    public static let maximumCutSpan: Int64 = 31 * 86_400

    public init(start: OCPIDateTime, end: OCPIDateTime, readings: [(OCPIDateTime, Int64)], energyWh: Int64) {
        self.start = start
        self.end = end
        self.readings = readings
        self.energyWh = energyWh
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.start == b.start && a.end == b.end && a.energyWh == b.energyWh && a.readings.map(\.0) == b.readings.map(\.0) && a.readings.map(\.1) == b.readings.map(\.1)
    }

    public func hash(into h: inout Hasher) {
        h.combine(start)
        h.combine(end)
        h.combine(energyWh)
    }

    /// The charging periods, on whole seconds from the start's. A stretch between two cuts that delivered energy is
    /// ENERGY (kWh) and TIME (hours); one that delivered none is PARKING_TIME. Energy between readings is taken as
    /// delivered at an even rate and rounded to whole Wh at each cut, so the periods add up to `energyWh` exactly.
    /// Cuts: every reading, and with a tariff every instant one of its restrictions can change (times of day and
    /// midnights on the Location's clock, durations, energy thresholds). At least one period, at most
    /// `CDRUsage.maximumPeriods`.
    public func chargingPeriods(tariff: Tariff?, timeZone: TimeZone) -> [ChargingPeriod] {
        let start = self.start.seconds
        let total = max(end.seconds - start, 0)
        let energy = max(energyWh, 0)
        // The register's curve: (offset, Wh), non-decreasing, from (0, 0) to (total, energy).
        var curve: [(Int64, Int64)] = [(0, 0)]
        for (t, wh) in readings.sorted(by: { $0.0 < $1.0 }) {
            let offset = t.seconds - start
            guard offset > 0, offset < total else { continue }
            let value = min(max(wh, curve.last!.1), energy)
            if curve.last!.0 == offset { curve[curve.count - 1].1 = value } else { curve.append((offset, value)) }
        }
        curve.append((total, energy))
        // In Decimal: a register's Wh times a stretch's seconds can pass Int64's range.
        func deliveredBy(_ offset: Int64) -> Int64 {
            guard let i = curve.firstIndex(where: { $0.0 >= offset }) else { return energy }
            if curve[i].0 == offset || i == 0 { return curve[i].1 }
            let (a, b) = (curve[i - 1], curve[i])
            let share = (Decimal(b.1 - a.1) * Decimal(offset - a.0) / Decimal(b.0 - a.0)).rounded(0, .down)
            return a.1 + NSDecimalNumber(decimal: share).int64Value
        }
        var cuts = Set(curve.map(\.0))
        if let tariff {
            // Clock cuts over at most the first 31 days: a timestamp from the wire far in the future must not make millions.
            cuts.formUnion(PricingEngine.clockCuts(tariff: tariff, start: start, seconds: min(total, Self.maximumCutSpan), timeZone: timeZone))
            for r in tariff.elements.compactMap(\.restrictions) {
                for kWh in [r.minKWh, r.maxKWh].compactMap({ $0 }) {
                    let wh = NSDecimalNumber(decimal: (kWh * 1000).rounded(0, .up)).int64Value
                    // The first second at which the energy so far reaches the threshold.
                    if wh > 0, wh < energy, let i = curve.firstIndex(where: { $0.1 >= wh }), i > 0 {
                        let (a, b) = (curve[i - 1], curve[i])
                        let after = (Decimal(wh - a.1) * Decimal(b.0 - a.0) / Decimal(b.1 - a.1)).rounded(0, .up)
                        cuts.insert(a.0 + NSDecimalNumber(decimal: after).int64Value)
                    }
                }
            }
        }
        var offsets = cuts.filter { $0 >= 0 && $0 < total }.sorted()
        if offsets.isEmpty { offsets = [0] }
        if offsets.count > CDRUsage.maximumPeriods { offsets = Array(offsets.prefix(CDRUsage.maximumPeriods)) }
        var periods: [ChargingPeriod] = []
        for (i, offset) in offsets.enumerated() {
            let next = i + 1 < offsets.count ? offsets[i + 1] : total
            let delivered = deliveredBy(next) - deliveredBy(offset)
            // OCPI numbers carry 4 decimals; the engine reads such hours back as the whole seconds they stand for.
            let hours = (Decimal(next - offset) / 3600).rounded(4, .plain)
            let at = OCPIDateTime(seconds: start + offset)
            // A session of no duration still delivered what its meter says.
            let wh = total == 0 ? energy : delivered
            let dimensions: [CdrDimension] = wh > 0
                ? [CdrDimension(type: .energy, volume: Decimal(wh) / 1000), CdrDimension(type: .time, volume: hours)]
                : [CdrDimension(type: .parkingTime, volume: hours)]
            periods.append(ChargingPeriod(startDateTime: at, dimensions: dimensions, tariffId: tariff?.id))
        }
        return periods
    }
}

extension MeteredSession {
    /// A transaction as its meter saw it, up to `end` or, while charging (`end` nil), up to its latest reading known at
    /// `now`. `readings` are the register's absolute Wh; the session's are counted from the meter start (else the first
    /// reading). The energy is the transaction's, else the meter stop's, else the latest reading's. The OCPI Session and
    /// CDR, the capture and the hold guard all meter a transaction so.
    public static func of(start: OCPIDateTime, end: OCPIDateTime?, meterStartWh: Int64?, meterStopWh: Int64?, energyWh: Int64?,
                          readings: [(OCPIDateTime, Int64)], now: OCPIDateTime) -> MeteredSession {
        let known = readings.filter { $0.0 >= start && $0.0 <= max(now, start) }
        let until = end ?? known.map(\.0).max() ?? start
        let sorted = known.filter { $0.0 <= until }.sorted { $0.0 < $1.0 }
        let base = meterStartWh ?? sorted.first?.1 ?? 0
        let latest = sorted.last.map { $0.1 - base } ?? 0
        let energy: Int64 = energyWh ?? meterStopWh.map { $0 - base } ?? latest
        return MeteredSession(start: start, end: until, readings: sorted.map { ($0.0, $0.1 - base) }, energyWh: max(energy, 0))
    }
}
