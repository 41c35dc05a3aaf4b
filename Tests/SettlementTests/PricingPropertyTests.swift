import Foundation
import OCPI
import Settlement
import Testing

/// Properties that hold for every session, checked over seeded random sessions (SplitMix64, so a failure
/// names a seed that reproduces it).
@Suite struct PricingPropertyTests {
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let utc = TimeZone(identifier: "UTC")!

    /// Random periods: charging with energy, or parking, whole seconds, volumes with up to 4 decimals.
    static func session(_ rng: inout SplitMix64) -> CDRUsage {
        let start = OCPIDateTime(seconds: 1_790_000_000 + Int64.random(in: 0..<86_400 * 30, using: &rng))
        var at = start.seconds
        var periods: [ChargingPeriod] = []
        for _ in 0..<Int.random(in: 1...8, using: &rng) {
            // Multiples of 9 s, which 4-decimal hours hold exactly (0.0025 h), so that splits stay exact too.
            let seconds = 9 * Int64.random(in: 1...800, using: &rng)
            let dims: [CdrDimension]
            if Bool.random(using: &rng) {
                let kWh = Decimal(Int.random(in: 0...500_000, using: &rng)) / 10_000
                dims = [CdrDimension(type: .energy, volume: kWh), CdrDimension(type: .time, volume: (Decimal(seconds) / 3600).rounded(4, .plain))]
            } else {
                dims = [CdrDimension(type: .parkingTime, volume: (Decimal(seconds) / 3600).rounded(4, .plain))]
            }
            periods.append(ChargingPeriod(startDateTime: OCPIDateTime(seconds: at), dimensions: dims))
            at += seconds
        }
        return CDRUsage(startDateTime: start, endDateTime: OCPIDateTime(seconds: at), chargingPeriods: periods)
    }

    static func flatTariff(step: Int, extra: String = "") throws -> Tariff {
        try tariff(#"""
            {"country_code":"NL","party_id":"VLT","id":"P","currency":"EUR",\#(extra)"last_updated":"2026-01-01T00:00:00Z","elements":[
             {"price_components":[{"type":"FLAT","price":1.5,"vat":21,"step_size":1},{"type":"ENERGY","price":0.3456,"vat":21,"step_size":\#(step)},
                                  {"type":"TIME","price":1.1,"vat":9,"step_size":\#(step)},{"type":"PARKING_TIME","price":4.25,"vat":21,"step_size":\#(step)}]}]}
            """#)
    }

    /// Splitting a period in two, its volumes shared between the halves, never changes what the session costs
    /// when no restriction changes at the split: step_size works on session totals, not per period.
    @Test(arguments: 0..<200)
    func splittingAPeriodChangesNothing(_ seed: UInt64) throws {
        var rng = SplitMix64(state: seed)
        let usage = Self.session(&rng)
        let t = try Self.flatTariff(step: [0, 1, 60, 300, 900][Int(seed % 5)])
        let index = Int.random(in: 0..<usage.chargingPeriods.count, using: &rng)
        let period = usage.chargingPeriods[index]
        let end = index + 1 < usage.chargingPeriods.count ? usage.chargingPeriods[index + 1].startDateTime : usage.endDateTime
        let length = end.seconds - period.startDateTime.seconds
        guard length >= 18 else { return }
        let cut = 9 * Int64.random(in: 1..<(length / 9), using: &rng)
        // Share each volume by a whole number of ten-thousandths, so both halves keep 4 decimals.
        var first: [CdrDimension] = []
        var second: [CdrDimension] = []
        for d in period.dimensions {
            let share = (d.volume * Decimal(cut) / Decimal(length)).rounded(4, .down)
            first.append(CdrDimension(type: d.type, volume: share))
            second.append(CdrDimension(type: d.type, volume: d.volume - share))
        }
        var split = usage
        split.chargingPeriods.replaceSubrange(index...index, with: [
            ChargingPeriod(startDateTime: period.startDateTime, dimensions: first),
            ChargingPeriod(startDateTime: OCPIDateTime(seconds: period.startDateTime.seconds + cut), dimensions: second),
        ])
        let whole = try PricingEngine.price(usage, tariff: t, timeZone: Self.utc)
        let halves = try PricingEngine.price(split, tariff: t, timeZone: Self.utc)
        #expect(whole.totalEnergyCost == halves.totalEnergyCost, "seed \(seed)")
        #expect(whole.totalTimeCost == halves.totalTimeCost, "seed \(seed)")
        #expect(whole.totalParkingCost == halves.totalParkingCost, "seed \(seed)")
        #expect(whole.totalCost == halves.totalCost, "seed \(seed)")
        #expect(whole.totalEnergy == halves.totalEnergy)
    }

    /// Stepping bills at least the exact amount, and less than one step more per stepped dimension.
    @Test(arguments: 0..<200)
    func stepSizeNeverBillsLess(_ seed: UInt64) throws {
        var rng = SplitMix64(state: seed)
        let usage = Self.session(&rng)
        let step = [1, 60, 300, 900, 1800][Int(seed % 5)]
        let exact = try PricingEngine.price(usage, tariff: Self.flatTariff(step: 0), timeZone: Self.utc)
        let stepped = try PricingEngine.price(usage, tariff: Self.flatTariff(step: step), timeZone: Self.utc)
        #expect(stepped.totalCost.exclVat >= exact.totalCost.exclVat, "seed \(seed)")
        #expect(stepped.totalEnergyCost!.exclVat >= exact.totalEnergyCost!.exclVat)
        // One step of energy (Wh × €/kWh) and one step of the dearer time dimension, plus a cent of rounding.
        let bound = Decimal(step) * Decimal(string: "0.3456")! / 1000 + Decimal(step) * Decimal(string: "4.25")! / 3600 + Decimal(string: "0.02")!
        #expect(stepped.totalCost.exclVat - exact.totalCost.exclVat <= bound, "seed \(seed)")
    }

    /// max_price is never exceeded and min_price always reached, excl. and incl. VAT.
    @Test(arguments: 0..<100)
    func priceBoundsHold(_ seed: UInt64) throws {
        var rng = SplitMix64(state: seed)
        let usage = Self.session(&rng)
        let t = try Self.flatTariff(step: 60, extra: #""min_price":{"excl_vat":5,"incl_vat":6},"max_price":{"excl_vat":20,"incl_vat":24},"#)
        let total = try PricingEngine.price(usage, tariff: t, timeZone: Self.utc).totalCost
        #expect(total.exclVat >= 5 && total.exclVat <= 20, "seed \(seed)")
        #expect(total.inclVat! >= 6 && total.inclVat! <= 24, "seed \(seed)")
    }

    /// The largest inputs the limits allow are still computed exactly: 99,999.9999 kWh at €999,999.9999 with
    /// 99.99 % VAT (checked with Python's decimal at 60 digits).
    @Test func largestInputsStayExact() throws {
        let t = try tariff(#"""
            {"country_code":"NL","party_id":"VLT","id":"X","currency":"EUR","last_updated":"2026-01-01T00:00:00Z","elements":[
             {"price_components":[{"type":"ENERGY","price":999999.9999,"vat":99.99,"step_size":0},{"type":"TIME","price":999999.9999,"vat":99.99,"step_size":0}]}]}
            """#)
        let start = OCPIDateTime(seconds: 1_790_000_000)
        let usage = CDRUsage(startDateTime: start, endDateTime: OCPIDateTime(seconds: start.seconds + 3600), chargingPeriods: [
            ChargingPeriod(startDateTime: start, dimensions: [CdrDimension(type: .energy, volume: Decimal("99999.999999")), CdrDimension(type: .time, volume: Decimal("0.123457"))]),
        ])
        let totals = try PricingEngine.price(usage, tariff: t, timeZone: Self.utc)
        // 99999.999999 × 999999.9999 = 99999999989.0000000001; × 1.9999 = 199989999978.00110000019999
        #expect(totals.totalEnergyCost == Price(exclVat: Decimal("99999999989.00"), inclVat: Decimal("199989999978.00")))
        // 0.123457 h × 999999.9999 = 123456.99998765430 (exact: 444.4452 s is not whole, so no snapping); × 1.9999
        #expect(totals.totalTimeCost == Price(exclVat: Decimal("123457.00"), inclVat: Decimal("246901.65")))
    }
}
