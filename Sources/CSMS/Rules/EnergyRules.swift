public import Foundation

/// Energy of a transaction: the difference of the import register readings inside it.
public enum EnergyRules {
    /// No single connector delivers more than this; anything faster is not a real reading.
    public static let maxPlausiblePowerW: Double = 1_000_000
    /// Below this many Wh a placeholder zero start is harmless and left alone.
    public static let placeholderToleranceWh: Int64 = 100

    public struct Result: Sendable, Hashable {
        public var startWh: Int64?
        public var stopWh: Int64?
        public var energyWh: Int64?
        public var suspectReasons: [String]
    }

    /// - Parameters:
    ///   - meterStart: the register at start as the station reported it (1.6 `meterStart`, or the first 2.0.1 reading).
    ///   - meterStop: the register at stop, if reported.
    ///   - readings: every register reading (time, Wh) recorded inside the transaction.
    public static func compute(meterStart: Int64?, meterStop: Int64?, readings: [(Date, Int64)], startedAt: Date?, stoppedAt: Date?) -> Result {
        var reasons: [String] = []
        // Registers beyond what a meter can show are not readings: they would overflow the arithmetic below.
        func plausible(_ wh: Int64) -> Bool { wh.magnitude <= WireLimits.maxRegisterWh.magnitude }
        if [meterStart, meterStop].contains(where: { $0.map { !plausible($0) } ?? false }) || readings.contains(where: { !plausible($0.1) }) {
            reasons.append("meter register out of range")
        }
        let meterStart = meterStart.flatMap { plausible($0) ? $0 : nil }
        let meterStop = meterStop.flatMap { plausible($0) ? $0 : nil }
        let sorted = readings.filter { plausible($0.1) }.sorted { $0.0 < $1.0 }
        var start = meterStart ?? sorted.first?.1
        // An offline station may report a 0 placeholder at start. If the first real reading is far above
        // zero, the zero is not a reading: charging from 0 would bill the meter's whole lifetime.
        if let s = start, s == 0, let firstReal = sorted.first(where: { $0.1 > 0 }) ?? meterStop.map({ (stoppedAt ?? Date.distantFuture, $0) }) {
            let hours = max((firstReal.0.timeIntervalSince(startedAt ?? firstReal.0)) / 3600, 1.0 / 3600)
            if firstReal.1 > placeholderToleranceWh, Double(firstReal.1) / hours > maxPlausiblePowerW {
                if sorted.contains(where: { $0.1 > 0 }) {
                    start = firstReal.1
                    reasons.append("zero meter start replaced by first reading")
                } else {
                    start = nil
                    reasons.append("zero meter start with no readings")
                }
            }
        }
        let stop = meterStop ?? sorted.last?.1
        guard let start, let stop else { return Result(startWh: start, stopWh: stop, energyWh: nil, suspectReasons: reasons) }
        let energy = stop - start  // both within ±maxRegisterWh: cannot overflow
        if energy < 0 {
            reasons.append("negative energy")
        } else if let startedAt, let stoppedAt {
            let hours = max(stoppedAt.timeIntervalSince(startedAt) / 3600, 1.0 / 3600)
            if energy > placeholderToleranceWh, Double(energy) / hours > maxPlausiblePowerW { reasons.append("implausible energy") }
        }
        return Result(startWh: start, stopWh: stop, energyWh: energy, suspectReasons: reasons)
    }
}
