public import Foundation

public enum ReservationStatus: String, Sendable, Codable, Hashable {
    /// Sent to the station, not yet answered.
    case pending = "Pending"
    case accepted = "Accepted"
    case rejected = "Rejected"
    case cancelled = "Cancelled"
    /// Consumed by a transaction.
    case used = "Used"
    case expired = "Expired"
}

/// A reserved EVSE (or station) for one token until `expiresAt`.
public struct Reservation: Sendable, Codable, Hashable {
    public var id: Int
    public var stationId: String
    public var evseId: Int?
    public var idToken: String
    public var expiresAt: Date
    public var status: ReservationStatus
    public var transactionId: Int64?
    public var createdAt: Date

    public init(id: Int, stationId: String, evseId: Int?, idToken: String, expiresAt: Date, status: ReservationStatus, transactionId: Int64? = nil, createdAt: Date = Date()) {
        self.id = id
        self.stationId = stationId
        self.evseId = evseId
        self.idToken = idToken
        self.expiresAt = expiresAt
        self.status = status
        self.transactionId = transactionId
        self.createdAt = createdAt
    }

    /// Only a reservation the station accepted can be consumed; a Pending one was never confirmed.
    public func isUsable(at now: Date) -> Bool {
        status == .accepted && expiresAt > now
    }
}
