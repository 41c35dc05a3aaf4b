public import Foundation
public import OCPI

/// The conditions a charging period starts under, against which a tariff element's restrictions are checked.
public struct PeriodConditions: Sendable {
    public var clock: LocalClock
    /// kWh charged before this period.
    public var energyBefore: Decimal
    /// Seconds from the session's start to this period's.
    public var durationBefore: Decimal
    /// The period's charging current (A) and power (kW), as far as it reports them.
    public var current: Reading
    public var power: Reading
    /// A period that carries RESERVATION_TIME; only reservation elements price it.
    public var isReservation: Bool
    /// The whole session was a reservation that expired unused.
    public var reservationExpired: Bool

    public init(
        clock: LocalClock, energyBefore: Decimal, durationBefore: Decimal, current: Reading, power: Reading,
        isReservation: Bool, reservationExpired: Bool
    ) {
        self.clock = clock
        self.energyBefore = energyBefore
        self.durationBefore = durationBefore
        self.current = current
        self.power = power
        self.isReservation = isReservation
        self.reservationExpired = reservationExpired
    }
}

extension TariffRestrictions {
    /// Whether every restriction holds. A restriction on a quantity the period does not report (current, power)
    /// does not hold: a conditional price needs the data that proves its condition.
    public func hold(for p: PeriodConditions) -> Bool {
        switch reservation {
        case nil: if p.isReservation { return false }
        case .reservation: if !p.isReservation { return false }
        case .reservationExpires: if !p.isReservation || !p.reservationExpired { return false }
        }
        if startTime != nil || endTime != nil {
            let start = (startTime ?? 0) * 60
            // 00:00 as an end is the end of the day; an end before the start wraps past midnight.
            let end = ((endTime ?? 0) == 0 ? 1440 : endTime!) * 60
            let t = p.clock.secondOfDay
            let inside = start <= end ? (t >= start && t < end) : (t >= start || t < end)
            if !inside { return false }
        }
        if let startDate, p.clock.day < startDate { return false }
        if let endDate, p.clock.day >= endDate { return false }
        if let minKWh, p.energyBefore < minKWh { return false }
        if let maxKWh, p.energyBefore >= maxKWh { return false }
        if let minCurrent, !(p.current.low.map { $0 >= minCurrent } ?? false) { return false }
        if let maxCurrent, !(p.current.high.map { $0 < maxCurrent } ?? false) { return false }
        if let minPower, !(p.power.low.map { $0 >= minPower } ?? false) { return false }
        if let maxPower, !(p.power.high.map { $0 < maxPower } ?? false) { return false }
        if let minDuration, p.durationBefore < Decimal(minDuration) { return false }
        if let maxDuration, p.durationBefore >= Decimal(maxDuration) { return false }
        if !dayOfWeek.isEmpty, !dayOfWeek.contains(where: { $0.isoNumber == p.clock.weekday }) { return false }
        return true
    }
}

extension TariffElement {
    /// Whether this element is active for a period. One without restrictions prices every period but a
    /// reservation's.
    public func applies(to p: PeriodConditions) -> Bool {
        guard let restrictions else { return !p.isReservation }
        return restrictions.hold(for: p)
    }
}

/// A period's current or power as a minimum restriction reads it (the period's MIN_ value, else its average)
/// and as a maximum restriction reads it (MAX_, else the average): "charging with at least 32 A" holds when even
/// the period's lowest value reaches 32, "below 16 kW" when even its highest stays below.
public struct Reading: Hashable, Sendable {
    public var low: Decimal?
    public var high: Decimal?

    public init(low: Decimal?, high: Decimal?) {
        self.low = low
        self.high = high
    }

    public init(_ period: ChargingPeriod, _ average: CdrDimensionType, min: CdrDimensionType, max: CdrDimensionType) {
        let avg = period.volume(average), lo = period.volume(min), hi = period.volume(max)
        self.init(low: lo ?? avg, high: hi ?? avg)
    }
}
