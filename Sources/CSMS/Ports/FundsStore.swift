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
    /// Gives a hold to a transaction; with a basis (the EVSE the transaction uses), its tariff snapshot becomes that
    /// EVSE's.
    func attachHold(id: Int64, transactionId: Int64, basis: HoldBasis?) async throws
    /// The live bookings (state booked or reserved) of this station whose slot holds `now`, of this EVSE when given.
    func bookings(stationId: String, evseId: Int?, now: Date) async throws -> [ActiveBooking]
    /// Marks a booking used by a transaction and gives that transaction the booking's hold; false when the booking
    /// was no longer open (cancelled meanwhile) or its hold was gone.
    func useBooking(id: Int64, transactionId: Int64) async throws -> Bool
    /// Inserts a booking; throws `BookingService.Refusal.overlap` when a live booking of the EVSE overlaps it.
    func insertBooking(_ booking: NewBooking) async throws -> Int64
    /// Links a booking and its hold both ways.
    func linkBookingHold(bookingId: Int64, holdId: Int64) async throws
    /// The sharing calendar (its opening times) and host of the station's location, when the location has a host:
    /// a private location, public only in its windows. Nil for an operator's location.
    func sharing(stationId: String) async throws -> (calendar: SharingCalendar, host: String?)?
}

public struct ActiveBooking: Sendable, Hashable {
    public var id: Int64
    public var evseId: Int
    public var expectedType: String
    public var expectedValue: String

    public init(id: Int64, evseId: Int, expectedType: String, expectedValue: String) {
        self.id = id
        self.evseId = evseId
        self.expectedType = expectedType
        self.expectedValue = expectedValue
    }

    /// Whether `identity` is the one the booking expects (a MAC address in any case and with any separator).
    public func expects(_ identity: String) -> Bool {
        guard expectedType == "mac" else { return identity == expectedValue }
        func norm(_ s: String) -> String { s.lowercased().filter { $0.isHexDigit } }
        return norm(identity) == norm(expectedValue) && !norm(identity).isEmpty
    }
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

public struct NewBooking: Sendable, Hashable {
    public var stationId: String
    public var evseId: Int
    public var driverId: String
    /// A roaming partner's booking (OCPI RESERVE_NOW): the partner and its reservation id; no driver, no hold.
    public var partnerId: Int64?
    public var ocpiReservationId: String?
    public var idToken: String
    public var expectedType: String
    public var expectedValue: String
    public var start: Date
    public var end: Date

    public init(stationId: String, evseId: Int, driverId: String, idToken: String, expectedType: String, expectedValue: String, start: Date, end: Date,
                partnerId: Int64? = nil, ocpiReservationId: String? = nil) {
        self.partnerId = partnerId
        self.ocpiReservationId = ocpiReservationId
        self.stationId = stationId
        self.evseId = evseId
        self.driverId = driverId
        self.idToken = idToken
        self.expectedType = expectedType
        self.expectedValue = expectedValue
        self.start = start
        self.end = end
    }
}
