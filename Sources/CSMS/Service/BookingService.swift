public import Foundation
import OCPI
public import Settlement

/// Booking a future slot of one EVSE: the driver's token pays, the slot must lie in the location's sharing windows
/// (unless the driver is its host), and the price of the slot (charging at the EVSE's power for the whole slot, plus
/// the reservation) is held on the driver's account. PostgreSQL refuses overlapping bookings itself.
public struct BookingService: Sendable {
    public var policy: HoldPolicy

    public init(policy: HoldPolicy = HoldPolicy()) {
        self.policy = policy
    }

    public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        case invalid(field: String, reason: String)
        case noSuchDriver
        case notTheDriversToken
        case notBookable
        case outsideSharingWindows
        case overlap
        case noCredit(needed: Decimal, available: Decimal)

        public var description: String {
            switch self {
            case .invalid(let f, let r): "\(f): \(r)"
            case .noSuchDriver: "no such driver"
            case .notTheDriversToken: "idToken: not a token of this driver"
            case .notBookable: "the EVSE is not placed at a location with a tariff"
            case .outsideSharingWindows: "the slot is not within the location's sharing windows"
            case .overlap: "the EVSE is already booked for part of this slot"
            case .noCredit(let needed, let available): "insufficient funds: the slot needs \(Amounts.text(needed)) held, \(Amounts.text(available)) is available"
            }
        }
    }

    public static let expectedTypes: Set<String> = ["token", "emaid", "mac"]

    /// A roaming partner's booking (OCPI RESERVE_NOW) for its token: the EVSE is reserved for that token now until
    /// the expiry; no funds are held (the eMSP pays by the CDR). Sharing windows and overlaps apply as to anyone.
    public func bookRoaming(_ uow: any UnitOfWork, _ b: NewBooking, now: Date) async throws -> Int64 {
        guard let store = uow.funds else { throw Refusal.notBookable }
        guard b.partnerId != nil, b.end > now, b.end > b.start else { throw Refusal.invalid(field: "expiry_date", reason: "must be in the future") }
        if let sharing = try await store.sharing(stationId: b.stationId), !sharing.calendar.covers(from: b.start, to: b.end) {
            throw Refusal.outsideSharingWindows
        }
        return try await store.insertBooking(b)
    }

    /// Books and holds; returns the booking's id and the amount held.
    public func book(_ uow: any UnitOfWork, _ b: NewBooking, now: Date) async throws -> (id: Int64, held: Decimal) {
        guard let store = uow.funds else { throw Refusal.notBookable }
        guard b.end > b.start else { throw Refusal.invalid(field: "minutes", reason: "must be at least 1") }
        guard b.end > now else { throw Refusal.invalid(field: "start", reason: "the slot is over") }
        guard Self.expectedTypes.contains(b.expectedType) else { throw Refusal.invalid(field: "expected.type", reason: "one of token, emaid, mac") }
        guard let driver = try await store.driver(ofToken: b.idToken) else { throw Refusal.notTheDriversToken }
        guard driver.driverId == b.driverId else { throw Refusal.notTheDriversToken }
        guard let basis = try await store.holdBasis(stationId: b.stationId, evseId: b.evseId) else { throw Refusal.notBookable }
        if let sharing = try await store.sharing(stationId: b.stationId), sharing.host != b.driverId, !sharing.calendar.covers(from: b.start, to: b.end) {
            throw Refusal.outsideSharingWindows
        }
        let id = try await store.insertBooking(b)
        guard !driver.postpaid else { return (id, 0) }
        let minutes = Int((b.end.timeIntervalSince(b.start) / 60).rounded(.up))
        let charging = try HoldSizing.amount(tariff: basis.tariff, timeZone: basis.timeZone, start: b.start, minutes: minutes, powerW: basis.powerW,
                                             policy: HoldPolicy(minutes: minutes, cap: nil, defaultPowerKW: policy.defaultPowerKW)) ?? 0
        let reservation = try ReservationPricing.fee(tariff: basis.tariff, timeZone: basis.timeZone, from: b.start, seconds: Int64(b.end.timeIntervalSince(b.start)))
        var amount = Amounts.cents(charging + reservation)
        if amount < charging + reservation { amount += Decimal(string: "0.01")! }
        if let cap = policy.cap, amount > cap { amount = cap }
        guard amount > 0 else { return (id, 0) }
        let hold = NewHold(driverId: driver.driverId, currency: basis.tariff.currency, amount: amount, idToken: b.idToken, stationId: b.stationId,
                           transactionId: nil, basis: basis, expiresAt: nil)
        switch try await store.placeHold(hold) {
        case .placed(let holdId):
            try await store.linkBookingHold(bookingId: id, holdId: holdId)
            return (id, amount)
        case .insufficient(let available):
            throw Refusal.noCredit(needed: amount, available: available)
        }
    }
}
