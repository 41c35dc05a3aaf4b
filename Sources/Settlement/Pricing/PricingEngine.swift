public import Foundation
public import OCPI

/// Prices a session by an OCPI 2.2.1 tariff, exactly. Pure: values in, values out, no clock and no I/O.
///
/// The rules, from `mod_tariffs` and `mod_cdrs`:
/// - Each charging period is priced per dimension (FLAT, ENERGY, TIME, PARKING_TIME) by the first element that
///   has a component of that dimension and whose restrictions all hold when the period starts. A dimension no
///   element prices is free.
/// - FLAT is billed once, by the first period that has one; a reservation's FLAT is billed once more, as
///   reservation cost.
/// - `step_size` rounds a dimension's billed total over the whole session up to a whole number of steps (Wh for
///   ENERGY, seconds for TIME and PARKING_TIME), using the step and price of the last period that billed it; the
///   extra is billed at that price. 0 means no stepping. ENERGY is stepped once, and TIME and PARKING_TIME once
///   together: only the one of them billed last is rounded, the other is billed as measured (mod_cdrs, and the
///   maintainers in ocpi#289 and #546). A reservation's TIME is stepped on its own.
/// - Restriction times and dates are read on the Location's wall clock (`timeZone`).
/// - An hours volume written to fewer decimals than a second needs (OCPI's 4 decimals are 0.36 s) is taken as
///   the whole number of seconds it rounds from, so that its rounding is never billed as an extra step.
/// - `min_price` and `max_price` bound `total_cost`, excl. and incl. VAT separately; the dimension totals stay
///   what the components gave.
///
/// Money is `Decimal` throughout. Products and sums are exact (the inputs' limits keep them within Decimal's 38
/// digits); the only division, by 3,600 seconds per hour, happens once per amount. Each dimension's cost and
/// the total are then rounded half up to the currency's minor unit, excl. and incl. VAT separately. The total is
/// rounded from the exact sum, not summed from rounded parts, so it can differ from the sum of the lines by less
/// than one minor unit per line (the spec's own complex example: 2.875 + 3.30 + 4.125 = 10.30).
public enum PricingEngine {
    public static func price(_ usage: CDRUsage, tariff: Tariff, timeZone: TimeZone) throws -> CDRTotals {
        try usage.validate()
        if let currency = usage.currency, currency != tariff.currency {
            throw OCPIFieldError(path: "currency", reason: "is \(currency) but the tariff's is \(tariff.currency)")
        }
        var bill = Bill()
        let expired = usage.chargingPeriods.allSatisfy { $0.volume(.reservationTime) != nil }
        var energyBefore = Decimal(0)
        // Durations count from the start of charging, not of a reservation before it (ocpi#434, #566).
        let chargingStart = usage.chargingPeriods.first { $0.volume(.reservationTime) == nil }?.startDateTime ?? usage.startDateTime
        var flatBilled = false
        var reservationFlatBilled = false
        // TIME and PARKING_TIME are stepped once together: only the one billed last is rounded up.
        var lastTimed: TariffDimensionType?

        for period in usage.chargingPeriods {
            let isReservation = period.volume(.reservationTime) != nil
            let conditions = PeriodConditions(
                clock: LocalClock(period.startDateTime, in: timeZone),
                energyBefore: energyBefore,
                durationBefore: max(0, chargingStart.seconds(until: period.startDateTime)),
                current: Reading(period, .current, min: .minCurrent, max: .maxCurrent),
                power: Reading(period, .power, min: .minPower, max: .maxPower),
                isReservation: isReservation,
                reservationExpired: expired
            )
            func component(_ type: TariffDimensionType) -> PriceComponent? {
                for element in tariff.elements where element.applies(to: conditions) {
                    if let component = element.priceComponents.first(where: { $0.type == type }) { return component }
                }
                return nil
            }
            if isReservation {
                if let flat = component(.flat), !reservationFlatBilled {
                    bill.reservation.add(units: 1, perUnit: flat.price, vat: flat.vat)
                    reservationFlatBilled = true
                }
                if let time = component(.time) {
                    bill.reservationTime.add(volume: period.volume(.reservationTime) ?? 0, component: time)
                }
                continue
            }
            if let flat = component(.flat), !flatBilled {
                bill.fixed.add(units: 1, perUnit: flat.price, vat: flat.vat)
                flatBilled = true
            }
            let energy = period.volume(.energy) ?? 0
            if let c = component(.energy) { bill.energy.add(volume: energy, component: c) }
            let time = period.volume(.time) ?? 0
            let parking = period.volume(.parkingTime) ?? 0
            if let c = component(.time) {
                bill.time.add(volume: time, component: c)
                if time > 0 { lastTimed = .time }
            }
            if let c = component(.parkingTime) {
                bill.parking.add(volume: parking, component: c)
                if parking > 0 { lastTimed = .parkingTime }
            }
            energyBefore += energy
        }

        let minor = Currency.minorUnits(tariff.currency)
        bill.reservation.merge(bill.reservationTime.settle())
        let settled = [
            bill.fixed, bill.energy.settle(), bill.time.settle(stepped: lastTimed == .time),
            bill.parking.settle(stepped: lastTimed == .parkingTime), bill.reservation,
        ]
        var sum = Money()
        for part in settled { sum.merge(part) }
        let parts = settled.map { $0.rounded(minor) }
        let total = bounded(sum.rounded(minor) ?? Price(exclVat: 0, inclVat: 0), min: tariff.minPrice, max: tariff.maxPrice)

        let totalSeconds = usage.startDateTime.seconds(until: usage.endDateTime)
        return CDRTotals(
            totalCost: total,
            totalFixedCost: parts[0], totalEnergyCost: parts[1], totalTimeCost: parts[2], totalParkingCost: parts[3],
            totalReservationCost: parts[4],
            totalEnergy: usage.chargingPeriods.reduce(0) { $0 + ($1.volume(.energy) ?? 0) },
            totalTime: (totalSeconds / 3600).rounded(4, .plain),
            totalParkingTime: usage.chargingPeriods.reduce(0) { $0 + ($1.volume(.parkingTime) ?? 0) }
        )
    }

    static func bounded(_ total: Price, min: Price?, max: Price?) -> Price {
        var total = total
        if let min {
            total.exclVat = Swift.max(total.exclVat, min.exclVat)
            if let incl = min.inclVat { total.inclVat = Swift.max(total.inclVat!, incl) }
        }
        if let max {
            total.exclVat = Swift.min(total.exclVat, max.exclVat)
            if let incl = max.inclVat { total.inclVat = Swift.min(total.inclVat!, incl) }
        }
        return total
    }
}

/// What a session owes, by dimension, before rounding.
struct Bill {
    var fixed = Money()
    var energy = Metered(unit: 1000)
    var time = Metered(unit: 3600)
    var parking = Metered(unit: 3600)
    var reservationTime = Metered(unit: 3600)
    var reservation = Money()
}

/// An exact amount excl. and incl. VAT, scaled by a common divisor, so that sums stay exact until one final
/// division. `incl` is scaled by a further 100 (it is Σ amount × (100 + vat)).
struct Money {
    var excl = Decimal(0)
    var incl = Decimal(0)
    var divisor = Decimal(1)
    var billed = false

    mutating func add(units: Decimal, perUnit price: Decimal, vat: Decimal?) {
        excl += units * price
        incl += units * price * (100 + (vat ?? 0))
        billed = true
    }

    mutating func merge(_ other: Money) {
        guard other.billed else { return }
        if !billed { self = other; return }
        // Bring both to the larger divisor. The divisors in use are 1, 1,000 and 3,600, whose ratios (1,000,
        // 3,600, 3.6) are exact decimals, so the scaled amounts stay exact.
        if other.divisor > divisor {
            excl *= other.divisor / divisor
            incl *= other.divisor / divisor
            divisor = other.divisor
            excl += other.excl
            incl += other.incl
        } else {
            excl += other.excl * (divisor / other.divisor)
            incl += other.incl * (divisor / other.divisor)
        }
    }

    /// Half up, to the currency's minor unit; nil when nothing of this kind was ever billed.
    func rounded(_ minor: Int) -> Price? {
        guard billed else { return nil }
        return Price(exclVat: (excl / divisor).rounded(minor, .plain), inclVat: (incl / (divisor * 100)).rounded(minor, .plain))
    }
}

/// A stepped dimension: its volume counted in base units (Wh, seconds), priced per period, with the step of the
/// last period that billed it applied to the session's total.
struct Metered {
    /// Base units per unit of volume and of price: 1,000 Wh per kWh, 3,600 s per hour.
    let unit: Decimal
    var money = Money()
    var units = Decimal(0)
    var last: PriceComponent?

    init(unit: Decimal) {
        self.unit = unit
        money.divisor = unit
    }

    mutating func add(volume: Decimal, component: PriceComponent) {
        let base = unit == 3600 ? Self.seconds(hours: volume) : volume * unit
        money.add(units: base, perUnit: component.price, vat: component.vat)
        units += base
        if volume > 0 || last == nil { last = component }
    }

    /// The seconds an hours volume stands for. OCPI writes hours with 4 decimals (0.36 s), so 13 minutes
    /// arrives as 0.2167 h, which is 780.12 s; stepped by the minute that would bill 14. When the volume is the
    /// rounding of a whole number of seconds to its own number of decimals, that whole number is what it means.
    static func seconds(hours: Decimal) -> Decimal {
        let exact = hours * 3600
        let whole = exact.rounded(0, .plain)
        guard whole != exact else { return exact }
        // The decimals the value needs (0.2170 and 0.217 are the same number), at most 12.
        let places = (0...12).first { hours.rounded($0, .plain) == hours } ?? 12
        return (whole / 3600).rounded(places, .plain) == hours ? whole : exact
    }

    /// The money owed, with the session's total rounded up to a whole number of the last step (when `stepped`).
    func settle(stepped: Bool = true) -> Money {
        var money = money
        guard stepped, let last, last.stepSize > 0 else { return money }
        let step = Decimal(last.stepSize)
        let extra = (units / step).rounded(0, .up) * step - units
        if extra > 0 { money.add(units: extra, perUnit: last.price, vat: last.vat) }
        return money
    }
}
