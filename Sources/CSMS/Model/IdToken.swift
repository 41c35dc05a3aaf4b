public import Foundation

/// The verdict on an id token, named as both OCPP versions name it.
public enum AuthorizationStatus: String, Sendable, Codable, Hashable {
    case accepted = "Accepted"
    case blocked = "Blocked"
    case expired = "Expired"
    case invalid = "Invalid"
    case concurrentTx = "ConcurrentTx"
    // 2.0.1 adds these; 1.6 reports them as Invalid or Blocked.
    case noCredit = "NoCredit"
    case notAllowedTypeEVSE = "NotAllowedTypeEVSE"
    case notAtThisLocation = "NotAtThisLocation"
    case notAtThisTime = "NotAtThisTime"
    case unknown = "Unknown"
}

/// An RFID card, app token or other identifier a driver presents.
public struct IdToken: Sendable, Codable, Hashable {
    public var value: String
    public var type: String
    public var status: AuthorizationStatus
    public var expiresAt: Date?
    public var groupId: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(value: String, type: String = "Central", status: AuthorizationStatus = .accepted, expiresAt: Date? = nil, groupId: String? = nil, createdAt: Date = Date(), updatedAt: Date = Date()) {
        self.value = value
        self.type = type
        self.status = status
        self.expiresAt = expiresAt
        self.groupId = groupId
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// The answer to an authorization question.
public struct AuthorizationInfo: Sendable, Hashable {
    public var status: AuthorizationStatus
    public var expiresAt: Date?
    public var groupId: String?

    public init(status: AuthorizationStatus, expiresAt: Date? = nil, groupId: String? = nil) {
        self.status = status
        self.expiresAt = expiresAt
        self.groupId = groupId
    }
}
