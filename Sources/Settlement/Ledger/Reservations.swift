public import Foundation
public import OCPI

/// A booking in money: what its reservation costs under the tariff (OCPI's reservation restrictions: the
/// RESERVATION elements while the car comes, RESERVATION_EXPIRES when it never does), and the periods a booked
/// session's capture adds in front of its charging periods.
public enum ReservationPricing {
    /// The reservation period from `from` for `seconds` (0 or more), as the CDR carries it.
    public static func period(from: OCPIDateTime, seconds: Int64) -> ChargingPeriod {
        ChargingPeriod(startDateTime: OCPIDateTime(seconds: from.seconds), dimensions: [
            CdrDimension(type: .reservationTime, volume: (Decimal(max(seconds, 0)) / 3600).rounded(4, .plain)),
        ])
    }

    /// What a reservation alone costs (a cancellation, a no-show, or the hold's share for one): a usage of only the
    /// reservation period, which the engine prices by the tariff's reservation elements, VAT included.
    public static func fee(tariff: Tariff, timeZone: TimeZone, from: Date, seconds: Int64) throws -> Decimal {
        let start = OCPIDateTime(seconds: OCPIDateTime(from).seconds)
        let usage = CDRUsage(startDateTime: start, endDateTime: OCPIDateTime(seconds: start.seconds + max(seconds, 0)), currency: tariff.currency,
                             chargingPeriods: [period(from: start, seconds: seconds)])
        let totals = try PricingEngine.price(usage, tariff: tariff, timeZone: timeZone)
        return totals.totalCost.inclVat ?? totals.totalCost.exclVat
    }

    /// A booked session's usage: the reservation from the slot's start to the charging's, then the charging periods.
    public static func withReservation(_ usage: CDRUsage, slotStart: Date) -> CDRUsage {
        let slot = OCPIDateTime(seconds: OCPIDateTime(slotStart).seconds)
        let charging = usage.chargingPeriods.first?.startDateTime ?? usage.startDateTime
        let from = min(slot, charging)
        var out = usage
        out.startDateTime = min(from, usage.startDateTime)
        out.chargingPeriods = [period(from: from, seconds: charging.seconds - from.seconds)] + usage.chargingPeriods
        return out
    }
}
