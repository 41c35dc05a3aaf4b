public import Foundation

public enum CommandType: String, Codable, Sendable, CaseIterable {
    case cancelReservation = "CANCEL_RESERVATION", reserveNow = "RESERVE_NOW", startSession = "START_SESSION"
    case stopSession = "STOP_SESSION", unlockConnector = "UNLOCK_CONNECTOR"
}

/// The CPO's immediate answer to a command: whether it will be tried, and how long the eMSP should wait for its result.
public enum CommandResponseType: String, Codable, Sendable, CaseIterable {
    case notSupported = "NOT_SUPPORTED", rejected = "REJECTED", accepted = "ACCEPTED", unknownSession = "UNKNOWN_SESSION"
}

/// What became of a command, POSTed to the eMSP's `response_url` once the station answered (or did not).
public enum CommandResultType: String, Codable, Sendable, CaseIterable {
    case accepted = "ACCEPTED", canceledReservation = "CANCELED_RESERVATION", evseOccupied = "EVSE_OCCUPIED"
    case evseInoperative = "EVSE_INOPERATIVE", failed = "FAILED", notSupported = "NOT_SUPPORTED", rejected = "REJECTED"
    case timeout = "TIMEOUT", unknownReservation = "UNKNOWN_RESERVATION"
}

public struct CommandResponse: Hashable, Sendable, Encodable {
    public var result: CommandResponseType
    /// Seconds the eMSP should wait for the CommandResult.
    public var timeout: Int
    public var message: [DisplayText]

    public init(result: CommandResponseType, timeout: Int, message: String? = nil) {
        self.result = result
        self.timeout = timeout
        self.message = message.map { [DisplayText(language: "en", text: String($0.prefix(512)))] } ?? []
    }

    enum CodingKeys: String, CodingKey { case result, timeout, message }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(result, forKey: .result)
        try c.encode(timeout, forKey: .timeout)
        if !message.isEmpty { try c.encode(message, forKey: .message) }
    }
}

public struct CommandResult: Hashable, Sendable, Encodable {
    public var result: CommandResultType
    public var message: [DisplayText]

    public init(result: CommandResultType, message: String? = nil) {
        self.result = result
        self.message = message.map { [DisplayText(language: "en", text: String($0.prefix(512)))] } ?? []
    }

    enum CodingKeys: String, CodingKey { case result, message }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(result, forKey: .result)
        if !message.isEmpty { try c.encode(message, forKey: .message) }
    }
}

/// START_SESSION: start charging with the eMSP's token at a location (and EVSE, when given).
public struct StartSession: Hashable, Sendable, Decodable {
    public var responseURL: String
    public var token: Token
    public var locationId: String
    public var evseUID: String?
    public var connectorId: String?
    public var authorizationReference: String?

    enum CodingKeys: String, CodingKey {
        case responseURL = "response_url", token, locationId = "location_id", evseUID = "evse_uid", connectorId = "connector_id"
        case authorizationReference = "authorization_reference"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        responseURL = try c.decodeURL(.responseURL)
        token = try c.decode(Token.self, forKey: .token)
        locationId = try c.decode(.locationId, ciString: 36)
        evseUID = try c.decodeIfPresent(.evseUID, ciString: 36)
        connectorId = try c.decodeIfPresent(.connectorId, ciString: 36)
        if connectorId != nil, evseUID == nil {
            throw OCPIFieldError(c.codingPath + [CodingKeys.connectorId], "may only be given with evse_uid")
        }
        authorizationReference = try c.decodeIfPresent(.authorizationReference, ciString: 36)
    }
}

/// STOP_SESSION: stop a session the eMSP's token is charging in.
public struct StopSession: Hashable, Sendable, Decodable {
    public var responseURL: String
    public var sessionId: String

    enum CodingKeys: String, CodingKey { case responseURL = "response_url", sessionId = "session_id" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        responseURL = try c.decodeURL(.responseURL)
        sessionId = try c.decode(.sessionId, ciString: 36)
    }
}

/// UNLOCK_CONNECTOR: release a cable stuck in a connector.
public struct UnlockConnector: Hashable, Sendable, Decodable {
    public var responseURL: String
    public var locationId: String
    public var evseUID: String
    public var connectorId: String

    enum CodingKeys: String, CodingKey { case responseURL = "response_url", locationId = "location_id", evseUID = "evse_uid", connectorId = "connector_id" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        responseURL = try c.decodeURL(.responseURL)
        locationId = try c.decode(.locationId, ciString: 36)
        evseUID = try c.decode(.evseUID, ciString: 36)
        connectorId = try c.decode(.connectorId, ciString: 36)
    }
}

/// RESERVE_NOW: reserve an EVSE (or any EVSE of a location) for the token until `expiry_date`. A new RESERVE_NOW with
/// the same reservation id replaces the reservation.
public struct ReserveNow: Hashable, Sendable, Decodable {
    public var responseURL: String
    public var token: Token
    public var expiryDate: OCPIDateTime
    public var reservationId: String
    public var locationId: String
    public var evseUID: String?
    public var authorizationReference: String?

    enum CodingKeys: String, CodingKey {
        case responseURL = "response_url", token, expiryDate = "expiry_date", reservationId = "reservation_id", locationId = "location_id"
        case evseUID = "evse_uid", authorizationReference = "authorization_reference"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        responseURL = try c.decodeURL(.responseURL)
        token = try c.decode(Token.self, forKey: .token)
        expiryDate = try c.decode(OCPIDateTime.self, forKey: .expiryDate)
        reservationId = try c.decode(.reservationId, ciString: 36)
        locationId = try c.decode(.locationId, ciString: 36)
        evseUID = try c.decodeIfPresent(.evseUID, ciString: 36)
        authorizationReference = try c.decodeIfPresent(.authorizationReference, ciString: 36)
    }
}

/// CANCEL_RESERVATION: cancel the reservation of this id.
public struct CancelReservation: Hashable, Sendable, Decodable {
    public var responseURL: String
    public var reservationId: String

    enum CodingKeys: String, CodingKey { case responseURL = "response_url", reservationId = "reservation_id" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        responseURL = try c.decodeURL(.responseURL)
        reservationId = try c.decode(.reservationId, ciString: 36)
    }
}
