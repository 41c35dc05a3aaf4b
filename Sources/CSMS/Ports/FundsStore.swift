public import Foundation
public import OCPI
public import Settlement

/// What funds holds need from storage, inside the caller's unit of work. A store without a ledger (the in-memory
/// one) has none, and then no hold is ever asked for.
public protocol FundsStore: Sendable {
    /// The driver a token identifies, or nil when it is no ledger driver's token.
    func driver(ofToken idToken: String) async throws -> DriverLink?
    /// Whether this transaction already has its hold (a replayed start).
    func hasHold(transactionId: Int64) async throws -> Bool
    /// A hold of this token at this station that no transaction has taken yet and that has not lapsed.
    func openHold(idToken: String, stationId: String, now: Date) async throws -> Int64?
    /// What sizes a hold at this station (at this EVSE, or the station's most powerful one): nil when no tariff
    /// applies there.
    func holdBasis(stationId: String, evseId: Int?) async throws -> HoldBasis?
    /// Places the hold if the driver's balance covers it, and posts its journal entry.
    func placeHold(_ hold: NewHold) async throws -> HoldPlacement
    func attachHold(id: Int64, transactionId: Int64) async throws
}

public struct DriverLink: Sendable, Hashable {
    public var driverId: String
    public var postpaid: Bool

    public init(driverId: String, postpaid: Bool) {
        self.driverId = driverId
        self.postpaid = postpaid
    }
}

public struct HoldBasis: Sendable {
    public var tariff: Tariff
    /// The tariff as stored: the snapshot a capture is priced by.
    public var tariffJSON: String
    public var timeZone: TimeZone
    public var locationId: String
    /// The EVSE's power, W, when its connectors say.
    public var powerW: Int64?

    public init(tariff: Tariff, tariffJSON: String, timeZone: TimeZone, locationId: String, powerW: Int64?) {
        self.tariff = tariff
        self.tariffJSON = tariffJSON
        self.timeZone = timeZone
        self.locationId = locationId
        self.powerW = powerW
    }
}

public struct NewHold: Sendable {
    public var driverId: String
    public var currency: String
    public var amount: Decimal
    public var idToken: String
    public var stationId: String
    public var transactionId: Int64?
    public var basis: HoldBasis
    public var expiresAt: Date?

    public init(driverId: String, currency: String, amount: Decimal, idToken: String, stationId: String, transactionId: Int64?, basis: HoldBasis, expiresAt: Date?) {
        self.driverId = driverId
        self.currency = currency
        self.amount = amount
        self.idToken = idToken
        self.stationId = stationId
        self.transactionId = transactionId
        self.basis = basis
        self.expiresAt = expiresAt
    }
}

public enum HoldPlacement: Sendable, Hashable {
    case placed(id: Int64)
    /// The driver's available balance, short of the amount.
    case insufficient(available: Decimal)
}

extension UnitOfWork {
    public var funds: (any FundsStore)? { nil }
}
