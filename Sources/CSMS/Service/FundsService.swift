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

    /// `.accepted` when the session may go on (a hold exists or none is needed), `.noCredit` when the driver's funds
    /// do not cover the hold. With a transaction, the hold is (or becomes) that transaction's.
    public func gate(_ uow: any UnitOfWork, idToken: String, stationId: String, evseId: Int?, transactionId: Int64?, now: Date) async throws -> AuthorizationStatus {
        guard let store = uow.funds, let driver = try await store.driver(ofToken: idToken), !driver.postpaid else { return .accepted }
        if let transactionId, try await store.hasHold(transactionId: transactionId) { return .accepted }
        if let open = try await store.openHold(idToken: idToken, stationId: stationId, now: now) {
            if let transactionId { try await store.attachHold(id: open, transactionId: transactionId) }
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
