public import Foundation
import OCPI
public import Settlement

/// Funds holds before charging: a ledger driver's token is accepted only once the pricing engine's estimate of the
/// session is blocked on their account (NoCredit otherwise). A token of no ledger driver, a postpaid driver's, or
/// one at an EVSE without a tariff is decided by the token rules alone.
public struct FundsService: Sendable {
    public var policy: HoldPolicy

    public init(policy: HoldPolicy = HoldPolicy()) {
        self.policy = policy
    }

    /// During a booked slot the EVSE belongs to the booked identity (an RFID/app token, an eMAID or the car's MAC
    /// address), whether the token rules know it or not: `.accepted` for it (with a transaction, the booking is used
    /// and its hold becomes the transaction's), `.invalid` for anyone else at that EVSE. Nil when no booking applies.
    public func booking(_ uow: any UnitOfWork, identity: String, stationId: String, evseId: Int?, transactionId: Int64?, now: Date) async throws -> AuthorizationStatus? {
        guard let store = uow.funds else { return nil }
        let evse = evseId == 0 ? nil : evseId
        let live = try await store.bookings(stationId: stationId, evseId: evse, now: now)
        guard !live.isEmpty else { return nil }
        if let mine = live.first(where: { $0.expects(identity) }) {
            // A booking cancelled while the car started is not taken: the token's own rules and funds decide.
            if let transactionId, try await !store.useBooking(id: mine.id, transactionId: transactionId) { return nil }
            return .accepted
        }
        return evse == nil ? nil : .invalid
    }

    /// `.accepted` when the session may go on (a hold exists or none is needed), `.notAtThisTime` outside a private
    /// location's sharing windows for anyone but its host, `.noCredit` when the driver's funds do not cover the
    /// hold. With a transaction, the hold is (or becomes) that transaction's.
    public func gate(_ uow: any UnitOfWork, idToken: String, stationId: String, evseId: Int?, transactionId: Int64?, now: Date) async throws -> AuthorizationStatus {
        guard let store = uow.funds else { return .accepted }
        let driver = try await store.driver(ofToken: idToken)
        if let sharing = try await store.sharing(stationId: stationId), !sharing.calendar.isOpen(at: now), driver == nil || driver?.driverId != sharing.host {
            return .notAtThisTime
        }
        guard let driver, !driver.postpaid else { return .accepted }
        if let transactionId, try await store.hasHold(transactionId: transactionId) { return .accepted }
        if let open = try await store.openHold(idToken: idToken, stationId: stationId, now: now) {
            if let transactionId {
                let basis = (evseId ?? 0) > 0 ? try await store.holdBasis(stationId: stationId, evseId: evseId) : nil
                try await store.attachHold(id: open, transactionId: transactionId, basis: basis)
            }
            return .accepted
        }
        guard let basis = try await store.holdBasis(stationId: stationId, evseId: evseId == 0 ? nil : evseId),
              let amount = try HoldSizing.amount(tariff: basis.tariff, timeZone: basis.timeZone, start: now, minutes: policy.minutes, powerW: basis.powerW, policy: policy)
        else { return .accepted }  // free here: nothing to hold
        let hold = NewHold(
            driverId: driver.driverId, currency: basis.tariff.currency, amount: amount, idToken: idToken, stationId: stationId, transactionId: transactionId,
            basis: basis, expiresAt: transactionId == nil ? now.addingTimeInterval(TimeInterval(policy.unattachedSeconds)) : nil
        )
        switch try await store.placeHold(hold) {
        case .placed: return .accepted
        case .insufficient: return .noCredit
        }
    }
}
