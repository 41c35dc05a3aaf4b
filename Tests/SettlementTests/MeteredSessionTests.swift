import Foundation
import OCPI
import Settlement
import Testing

/// A metered session becomes charging periods that the pricing engine prices exactly: cut at every reading and
/// wherever the tariff can change, energy interpolated between readings, nothing lost or made up.
@Suite struct MeteredSessionTests {
    static let utc = TimeZone(identifier: "UTC")!
    static func at(_ s: String) -> OCPIDateTime { OCPIDateTime(string: s)! }

    func sums(_ periods: [ChargingPeriod]) -> (energy: Decimal, time: Decimal, parking: Decimal) {
        var e = Decimal(0), t = Decimal(0), p = Decimal(0)
        for period in periods {
            for d in period.dimensions {
                switch d.type {
                case .energy: e += d.volume
                case .time: t += d.volume
                case .parkingTime: p += d.volume
                default: break
                }
            }
        }
        return (e, t, p)
    }

    @Test func periodsFollowTheReadingsAndAddUpToTheMeter() {
        let s = MeteredSession(
            start: Self.at("2026-12-01T10:00:00Z"), end: Self.at("2026-12-01T11:00:00Z"),
            readings: [(Self.at("2026-12-01T10:20:00Z"), 2_500), (Self.at("2026-12-01T10:40:00Z"), 7_500)], energyWh: 7_500
        )
        let periods = s.chargingPeriods(tariff: nil, timeZone: Self.utc)
        #expect(periods.map(\.startDateTime) == ["10:00", "10:20", "10:40"].map { Self.at("2026-12-01T\($0):00Z") })
        #expect(periods[0].dimensions == [CdrDimension(type: .energy, volume: 2.5), CdrDimension(type: .time, volume: Decimal(string: "0.3333")!)])
        #expect(periods[2].dimensions == [CdrDimension(type: .parkingTime, volume: Decimal(string: "0.3333")!)], "no energy: the car is parked")
        #expect(sums(periods).energy == 7.5)
    }

    @Test func aTimeOfDayBoundaryCutsAPeriodAndIsPricedOnEachSide() throws {
        // 0.20/kWh until 18:00, 0.30 after, on the Location's clock (Amsterdam, UTC+1 in December).
        let tariff = try JSONDecoder().decode(Tariff.self, from: Data("""
            {"country_code":"NL","party_id":"VOL","id":"TOD","currency":"EUR","last_updated":"2026-01-01T00:00:00Z","elements":[
             {"price_components":[{"type":"ENERGY","price":0.30,"vat":21,"step_size":1}],"restrictions":{"start_time":"18:00","end_time":"23:59"}},
             {"price_components":[{"type":"ENERGY","price":0.20,"vat":21,"step_size":1}]}]}
            """.utf8))
        let zone = TimeZone(identifier: "Europe/Amsterdam")!
        // 16:30 to 17:30 UTC is 17:30 to 18:30 local; 10 kWh read only at the end: 5 before 18:00, 5 after.
        let s = MeteredSession(start: Self.at("2026-12-01T16:30:00Z"), end: Self.at("2026-12-01T17:30:00Z"), readings: [], energyWh: 10_000)
        let periods = s.chargingPeriods(tariff: tariff, timeZone: zone)
        #expect(periods.map(\.startDateTime) == [Self.at("2026-12-01T16:30:00Z"), Self.at("2026-12-01T17:00:00Z")])
        #expect(periods.map { $0.dimensions.first { $0.type == .energy }?.volume } == [5, 5])
        let totals = try PricingEngine.price(CDRUsage(startDateTime: s.start, endDateTime: s.end, currency: "EUR", chargingPeriods: periods), tariff: tariff, timeZone: zone)
        #expect(totals.totalCost.exclVat == Decimal(string: "2.50"), "5 × 0.20 + 5 × 0.30")
        #expect(totals.totalCost.inclVat == Decimal(string: "3.03"), "2.50 with 21 % VAT, rounded half up to the cent")
        // Without the cut the whole session would be priced at its start's 0.20.
        let uncut = MeteredSession(start: s.start, end: s.end, readings: [], energyWh: 10_000).chargingPeriods(tariff: nil, timeZone: zone)
        let flat = try PricingEngine.price(CDRUsage(startDateTime: s.start, endDateTime: s.end, currency: "EUR", chargingPeriods: uncut), tariff: tariff, timeZone: zone)
        #expect(flat.totalCost.exclVat == 2)
    }

    @Test func anEnergyThresholdCutsWhereTheMeterCrossesIt() throws {
        let tariff = try JSONDecoder().decode(Tariff.self, from: Data("""
            {"country_code":"NL","party_id":"VOL","id":"TIER","currency":"EUR","last_updated":"2026-01-01T00:00:00Z","elements":[
             {"price_components":[{"type":"ENERGY","price":0.50,"vat":0,"step_size":1}],"restrictions":{"max_kwh":3}},
             {"price_components":[{"type":"ENERGY","price":0.10,"vat":0,"step_size":1}]}]}
            """.utf8))
        let s = MeteredSession(
            start: Self.at("2026-12-01T10:00:00Z"), end: Self.at("2026-12-01T10:40:00Z"),
            readings: [(Self.at("2026-12-01T10:20:00Z"), 2_000)], energyWh: 6_000
        )
        let periods = s.chargingPeriods(tariff: tariff, timeZone: Self.utc)
        // 2 kWh in the first 20 min, then 4 kWh in 20 min: 3 kWh is reached 5 min after the reading.
        #expect(periods.map(\.startDateTime).contains(Self.at("2026-12-01T10:25:00Z")))
        #expect(sums(periods).energy == 6)
        let totals = try PricingEngine.price(CDRUsage(startDateTime: s.start, endDateTime: s.end, currency: "EUR", chargingPeriods: periods), tariff: tariff, timeZone: Self.utc)
        #expect(totals.totalCost.exclVat == Decimal(string: "1.80"), "3 × 0.50 + 3 × 0.10")
    }

    @Test func readingsOutOfOrderOrGoingBackAreTamed() {
        let s = MeteredSession(
            start: Self.at("2026-12-01T10:00:00Z"), end: Self.at("2026-12-01T10:30:00Z"),
            readings: [(Self.at("2026-12-01T10:20:00Z"), 1_000), (Self.at("2026-12-01T10:10:00Z"), 3_000), (Self.at("2026-12-01T11:00:00Z"), 9_999)],
            energyWh: 2_000
        )
        let periods = s.chargingPeriods(tariff: nil, timeZone: Self.utc)
        #expect(sums(periods).energy == 2, "the meter's total, whatever the readings say")
        #expect(periods.allSatisfy { $0.dimensions.allSatisfy { $0.volume >= 0 } })
        // Hours are written to OCPI's 4 decimals per period (the engine reads them back as whole seconds).
        let hours = sums(periods).time + sums(periods).parking
        #expect(abs(hours - Decimal(string: "0.5")!) <= Decimal(periods.count) * Decimal(string: "0.00005")!)
        let empty = MeteredSession(start: Self.at("2026-12-01T10:00:00Z"), end: Self.at("2026-12-01T10:00:00Z"), readings: [], energyWh: 0)
        #expect(empty.chargingPeriods(tariff: nil, timeZone: Self.utc).count == 1)
    }

    @Test func registersAtTheirLimitsAndTimestampsFarAwayAreSafe() throws {
        // A tariff with times of day: cuts at every local midnight and 18:00 of the days the session spans.
        let tariff = try JSONDecoder().decode(Tariff.self, from: Data("""
            {"country_code":"NL","party_id":"VOL","id":"TOD","currency":"EUR","last_updated":"2026-01-01T00:00:00Z","elements":[
             {"price_components":[{"type":"ENERGY","price":0.30,"vat":21,"step_size":1}],"restrictions":{"start_time":"18:00","end_time":"23:59"}},
             {"price_components":[{"type":"ENERGY","price":0.20,"vat":21,"step_size":1}]}]}
            """.utf8))
        // 10^15 Wh (the largest register the wire admits) over 3 days: Wh × seconds would pass Int64 in integers.
        let big: Int64 = 1_000_000_000_000_000
        let s = MeteredSession(
            start: Self.at("2026-12-01T10:00:00Z"), end: Self.at("2026-12-04T10:00:00Z"),
            readings: [(Self.at("2026-12-02T10:00:00Z"), big / 2)], energyWh: big
        )
        let periods = s.chargingPeriods(tariff: tariff, timeZone: Self.utc)
        #expect(periods.count > 6, "midnights and 18:00s cut it")
        #expect(sums(periods).energy == Decimal(big) / 1000)
        // A stop stamped in the year 9999: clock cuts stop after 31 days instead of running through 8,000 years.
        let far = MeteredSession(start: Self.at("2026-12-01T10:00:00Z"), end: Self.at("9999-12-31T00:00:00Z"), readings: [], energyWh: 1000)
        let farPeriods = far.chargingPeriods(tariff: tariff, timeZone: Self.utc)
        #expect(farPeriods.count <= 3 * 32 + 2, "three cuts a day (00:00, 18:00, 23:59) for 31 days")
        #expect(sums(farPeriods).energy == 1)
    }
}
