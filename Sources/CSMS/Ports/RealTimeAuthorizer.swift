public import Foundation
public import OCPI

/// What a roaming token's eMSP answered when asked in real time whether it may charge here (OCPI tokens module,
/// `POST {tokens}/{uid}/authorize`): kept in the transaction of the message that asked, and read by the token rules
/// (a copy whose whitelist says to ask is decided by the answer of the last 15 minutes).
public struct RealTimeAuthorization: Sendable, Hashable {
    /// OCPI's AllowedType, or UNREACHABLE when the eMSP gave no answer in time.
    public enum Allowed: String, Sendable, Hashable, CaseIterable {
        case allowed = "ALLOWED", blocked = "BLOCKED", expired = "EXPIRED", noCredit = "NO_CREDIT", notAllowed = "NOT_ALLOWED"
        case unreachable = "UNREACHABLE"
    }

    public var partnerId: Int64
    /// The calling partner's parties (`CC-PID`), which the token it returns must belong to.
    public var parties: Set<String>
    public var tokenUID: String
    public var tokenType: TokenType
    public var stationId: String
    public var locationId: String?
    public var allowed: Allowed
    public var authorizationReference: String?
    /// The eMSP's Token, when it answered with one: kept as a PUT of it would keep it (a token Voltaic did not know
    /// becomes known, with its party and whitelist).
    public var token: Token?

    public init(partnerId: Int64, parties: Set<String>, tokenUID: String, tokenType: TokenType, stationId: String, locationId: String?,
                allowed: Allowed, authorizationReference: String?, token: Token?) {
        self.partnerId = partnerId
        self.parties = parties
        self.tokenUID = tokenUID
        self.tokenType = tokenType
        self.stationId = stationId
        self.locationId = locationId
        self.allowed = allowed
        self.authorizationReference = authorizationReference
        self.token = token
    }
}

/// Asks a token's eMSP before a station is told whether it may charge, where the token's copy says to ask (whitelist
/// NEVER, or ALLOWED_OFFLINE while the eMSP can be reached) or no copy exists. Runs outside any transaction, within a
/// bounded time. Nil: nothing to ask (the copy decides, or an answer of the last minutes still stands).
public protocol RealTimeAuthorizer: Sendable {
    func authorize(idToken: String, stationId: String, evseId: Int?) async -> RealTimeAuthorization?
}
