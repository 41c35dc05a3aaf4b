import Foundation
import OCPI
import Settlement
import Testing

@Suite struct RestrictionTests {
    static func conditions(_ local: String, zone: String = "UTC", energy: Decimal = 0, duration: Decimal = 0,
                           current: Reading = Reading(low: nil, high: nil), reservation: Bool = false) -> PeriodConditions {
        let z = TimeZone(identifier: zone)!
        let naive = OCPIDateTime(string: local)!
        let instant = OCPIDateTime(seconds: naive.seconds - Int64(z.secondsFromGMT(for: naive.date)))
        return PeriodConditions(clock: LocalClock(instant, in: z), energyBefore: energy, durationBefore: duration,
                                current: current, power: Reading(low: nil, high: nil), isReservation: reservation, reservationExpired: false)
    }

    @Test(arguments: [
        // (start, end, local time, holds)
        (22 * 60, 6 * 60, "2026-11-30T23:30:00", true), (22 * 60, 6 * 60, "2026-11-30T05:59:59", true),
        (22 * 60, 6 * 60, "2026-11-30T06:00:00", false), (22 * 60, 6 * 60, "2026-11-30T21:59:59", false),
        (20 * 60, 0, "2026-11-30T23:59:59", true), (20 * 60, 0, "2026-11-30T00:00:00", false),
        (0, 17 * 60, "2026-11-30T00:00:00", true), (0, 17 * 60, "2026-11-30T17:00:00", false),
        (0, 0, "2026-11-30T12:00:00", true),
        (8 * 60, 8 * 60, "2026-11-30T08:00:00", false),
    ])
    func timeWindows(_ start: Int, _ end: Int, _ local: String, _ holds: Bool) {
        let r = TariffRestrictions(startTime: start, endTime: end)
        #expect(r.hold(for: Self.conditions(local)) == holds)
    }

    /// Restriction times are the Location's wall clock: 23:30 in Amsterdam in winter is 22:30 UTC.
    @Test func timesAreLocalToTheLocation() {
        let night = TariffRestrictions(startTime: 23 * 60, endTime: 6 * 60)
        let amsterdam = Self.conditions("2026-11-30T23:30:00", zone: "Europe/Amsterdam")
        #expect(night.hold(for: amsterdam))
        #expect(amsterdam.clock.weekday == 1)
        // The same instant read in UTC is 22:30, outside the window.
        let utc = PeriodConditions(clock: LocalClock(OCPIDateTime(string: "2026-11-30T22:30:00Z")!, in: TimeZone(identifier: "UTC")!),
                                   energyBefore: 0, durationBefore: 0, current: Reading(low: nil, high: nil), power: Reading(low: nil, high: nil),
                                   isReservation: false, reservationExpired: false)
        #expect(!night.hold(for: utc))
        // Summer time: 23:30 local on 2026-07-01 is 21:30 UTC.
        #expect(Self.conditions("2026-07-01T23:30:00", zone: "Europe/Amsterdam").clock.secondOfDay == (23 * 60 + 30) * 60)
    }

    @Test func boundsAreInclusiveBelowAndExclusiveAbove() {
        let kwh = TariffRestrictions(minKWh: 1, maxKWh: 5)
        #expect(!kwh.hold(for: Self.conditions("2026-11-30T10:00:00", energy: Decimal(string: "0.9999")!)))
        #expect(kwh.hold(for: Self.conditions("2026-11-30T10:00:00", energy: 1)))
        #expect(!kwh.hold(for: Self.conditions("2026-11-30T10:00:00", energy: 5)))
        let duration = TariffRestrictions(minDuration: 600, maxDuration: 1800)
        #expect(duration.hold(for: Self.conditions("2026-11-30T10:00:00", duration: 600)))
        #expect(!duration.hold(for: Self.conditions("2026-11-30T10:00:00", duration: 1800)))
        let dates = TariffRestrictions(startDate: Civil.days(year: 2026, month: 12, day: 1), endDate: Civil.days(year: 2026, month: 12, day: 2))
        #expect(dates.hold(for: Self.conditions("2026-12-01T23:59:59")))
        #expect(!dates.hold(for: Self.conditions("2026-12-02T00:00:00")))
        #expect(!dates.hold(for: Self.conditions("2026-11-30T23:59:59")))
    }

    /// min_current reads the period's lowest current, max_current its highest; without a reading neither holds.
    @Test func currentRestrictionsNeedAReading() {
        let atLeast32 = TariffRestrictions(minCurrent: 32)
        let below32 = TariffRestrictions(maxCurrent: 32)
        let mixed = Self.conditions("2026-11-30T10:00:00", current: Reading(low: 20, high: 40))
        #expect(!atLeast32.hold(for: mixed) && !below32.hold(for: mixed))
        #expect(atLeast32.hold(for: Self.conditions("2026-11-30T10:00:00", current: Reading(low: 32, high: 32))))
        #expect(below32.hold(for: Self.conditions("2026-11-30T10:00:00", current: Reading(low: 16, high: 16))))
        #expect(!atLeast32.hold(for: Self.conditions("2026-11-30T10:00:00")))
        #expect(!below32.hold(for: Self.conditions("2026-11-30T10:00:00")))
    }

    @Test func dayOfWeekAndReservation() {
        let weekend = TariffRestrictions(dayOfWeek: [.saturday, .sunday])
        #expect(weekend.hold(for: Self.conditions("2026-12-05T10:00:00")))
        #expect(!weekend.hold(for: Self.conditions("2026-12-04T23:59:59")))
        let plain = TariffElement(priceComponents: [PriceComponent(type: .flat, price: 1)])
        #expect(!plain.applies(to: Self.conditions("2026-12-05T10:00:00", reservation: true)))
        #expect(!TariffRestrictions(reservation: .reservation).hold(for: Self.conditions("2026-12-05T10:00:00")))
    }

    @Test func refusesAnotherCurrencyAndPeriodsOutOfOrder() throws {
        let t = try tariff(SpecExampleTests.wrap(SpecExampleTests.energy025))
        let start = OCPIDateTime(seconds: 1_790_000_000)
        var usage = CDRUsage(startDateTime: start, endDateTime: OCPIDateTime(seconds: start.seconds + 60), currency: "USD",
                             chargingPeriods: [ChargingPeriod(startDateTime: start, dimensions: [CdrDimension(type: .energy, volume: 1)])])
        #expect(throws: OCPIFieldError(path: "currency", reason: "is USD but the tariff's is EUR")) {
            try PricingEngine.price(usage, tariff: t, timeZone: .gmt)
        }
        usage.currency = nil
        usage.chargingPeriods.append(ChargingPeriod(startDateTime: OCPIDateTime(seconds: start.seconds - 1), dimensions: [CdrDimension(type: .energy, volume: 1)]))
        #expect(throws: OCPIFieldError(path: "charging_periods[1].start_date_time", reason: "must not be before the previous period's start")) {
            try PricingEngine.price(usage, tariff: t, timeZone: .gmt)
        }
    }
}

@Suite struct EstimateTests {
    static let night = #"""
        {"country_code":"NL","party_id":"VLT","id":"N","currency":"EUR","last_updated":"2026-01-01T00:00:00Z","elements":[
         {"price_components":[{"type":"ENERGY","price":0.2,"vat":21,"step_size":1}],"restrictions":{"start_time":"23:00","end_time":"07:00"}},
         {"price_components":[{"type":"ENERGY","price":0.4,"vat":21,"step_size":1}]},
         {"price_components":[{"type":"PARKING_TIME","price":6,"vat":21,"step_size":900}],"restrictions":{"min_duration":3600}}]}
        """#

    /// 22:30–23:30 in Amsterdam with 10 kWh: 5 kWh at the day price, 5 at the night price (cut at 23:00 local).
    @Test func cutsAtTheLocationsTimesOfDay() throws {
        let amsterdam = TimeZone(identifier: "Europe/Amsterdam")!
        let plan = PlannedSession(start: OCPIDateTime(string: "2026-11-30T21:30:00Z")!, chargingSeconds: 3600, energy: 10)
        let totals = try PricingEngine.estimate(plan, tariff: tariff(Self.night), timeZone: amsterdam)
        #expect(totals.totalEnergyCost == Price(exclVat: 3, inclVat: Decimal(string: "3.63")!))
        #expect(totals.totalEnergy == 10)
        // The same plan read in UTC never reaches 23:00: all 10 kWh at the day price.
        let utc = try PricingEngine.estimate(plan, tariff: tariff(Self.night), timeZone: TimeZone(identifier: "UTC")!)
        #expect(utc.totalEnergyCost?.exclVat == 4)
    }

    /// Parking is free for the session's first hour (min_duration), then €6/h stepped by 15 minutes: 50 min
    /// charging and 30 min parked bill the 20 minutes after the hour as 30.
    @Test func cutsAtDurationThresholds() throws {
        let plan = PlannedSession(start: OCPIDateTime(string: "2026-11-30T10:00:00Z")!, chargingSeconds: 3000, energy: 7, parkingSeconds: 1800)
        let totals = try PricingEngine.estimate(plan, tariff: tariff(Self.night), timeZone: TimeZone(identifier: "UTC")!)
        #expect(totals.totalParkingCost == Price(exclVat: 3, inclVat: Decimal(string: "3.63")!))
        #expect(totals.totalCost.exclVat == Decimal(string: "5.80")!)
    }

    /// A start with a fraction of a second (a hold sized from "now"), a kWh threshold after a midnight cut:
    /// the first kWh is free and the other 9 cost €0.20, not a fraction of a Wh less.
    @Test func thresholdsAfterOtherCutsAndFractionalStarts() throws {
        let firstFree = try tariff(#"""
            {"country_code":"NL","party_id":"VLT","id":"F","currency":"EUR","last_updated":"2026-01-01T00:00:00Z","elements":[
             {"price_components":[{"type":"ENERGY","price":0,"step_size":1}],"restrictions":{"max_kwh":1}},
             {"price_components":[{"type":"ENERGY","price":0.2,"step_size":1}],"restrictions":{"min_kwh":1}}]}
            """#)
        let start = OCPIDateTime(string: "2026-11-30T23:58:20.5Z")!
        let totals = try PricingEngine.estimate(PlannedSession(start: start, chargingSeconds: 3600, energy: 10), tariff: firstFree, timeZone: .gmt)
        #expect(totals.totalEnergyCost?.exclVat == Decimal(string: "1.80")!)
        #expect(totals.totalEnergy == 10)
    }

    @Test func refusesPlansOutOfRange() throws {
        let t = try tariff(Self.night)
        #expect(throws: OCPIFieldError.self) {
            try PricingEngine.estimate(PlannedSession(start: OCPIDateTime(seconds: 0), chargingSeconds: 0, energy: 1), tariff: t, timeZone: .gmt)
        }
        #expect(throws: OCPIFieldError.self) {
            try PricingEngine.estimate(PlannedSession(start: OCPIDateTime(seconds: 0), chargingSeconds: 60, energy: -1), tariff: t, timeZone: .gmt)
        }
    }
}
