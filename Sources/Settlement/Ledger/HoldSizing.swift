public import Foundation
public import OCPI

/// How big a funds hold is: the pricing engine's estimate of a session of `minutes` at the EVSE's power under its
/// tariff, rounded up to the cent, and at most `cap`.
public struct HoldPolicy: Sendable, Hashable {
    /// The session a hold covers when there is no booking to say how long: minutes of charging.
    public var minutes: Int
    /// The most one hold blocks, in the tariff's currency; nil for no cap.
    public var cap: Decimal?
    /// The power assumed where the EVSE's is not known, kW.
    public var defaultPowerKW: Decimal
    /// How long a hold placed by an Authorize waits for its transaction before it is released.
    public var unattachedSeconds: Int

    public init(minutes: Int = 60, cap: Decimal? = nil, defaultPowerKW: Decimal = 22, unattachedSeconds: Int = 900) {
        self.minutes = minutes
        self.cap = cap
        self.defaultPowerKW = defaultPowerKW
        self.unattachedSeconds = unattachedSeconds
    }
}

public enum HoldSizing {
    /// The hold for a session of `minutes` from `start` at `powerW` (nil: the policy's default), or nil when the
    /// tariff makes it free. `minutes` is 1 ... 7 days.
    public static func amount(tariff: Tariff, timeZone: TimeZone, start: Date, minutes: Int, powerW: Int64?, policy: HoldPolicy) throws -> Decimal? {
        guard (1...Int(PlannedSession.maximumSeconds / 60)).contains(minutes) else {
            throw OCPIFieldError(path: "minutes", reason: "must be between 1 and \(PlannedSession.maximumSeconds / 60)")
        }
        let kW = powerW.flatMap { $0 > 0 && $0 <= 10_000_000 ? Decimal($0) / 1000 : nil } ?? policy.defaultPowerKW
        let energy = (kW * Decimal(minutes) / 60).rounded(3, .up)
        let totals = try PricingEngine.estimate(
            PlannedSession(start: OCPIDateTime(start), chargingSeconds: Int64(minutes) * 60, energy: energy), tariff: tariff, timeZone: timeZone
        )
        var amount = (totals.totalCost.inclVat ?? totals.totalCost.exclVat).rounded(2, .up)
        if let cap = policy.cap, amount > cap { amount = cap }
        return amount > 0 ? amount : nil
    }
}

extension MeteredSession {
    /// The session's usage and its totals under `tariff`: what a CDR says and what a capture takes.
    public func priced(tariff: Tariff, timeZone: TimeZone, currency: String?) throws -> (usage: CDRUsage, totals: CDRTotals) {
        let periods = chargingPeriods(tariff: tariff, timeZone: timeZone)
        let usage = CDRUsage(startDateTime: OCPIDateTime(seconds: start.seconds), endDateTime: OCPIDateTime(seconds: max(end.seconds, start.seconds)),
                             currency: currency, chargingPeriods: periods)
        return (usage, try PricingEngine.price(usage, tariff: tariff, timeZone: timeZone))
    }
}
