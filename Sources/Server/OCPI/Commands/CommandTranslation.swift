import OCPI
import OCPP

/// OCPI commands as OCPP CALLs, and the stations' answers as OCPI command results (research §14.4). Pure.
enum CommandTranslation {
    struct Call: Equatable {
        var action: String
        var payload: JSONValue
    }

    enum Refusal: Error, Equatable {
        case rejected(String)
    }

    static func isV16(_ version: String?) -> Bool { version == OCPPVersion.v16.rawValue }

    /// START_SESSION: RemoteStartTransaction (1.6) or RequestStartTransaction (2.0.1) with the token's uid.
    static func startSession(version: String?, evseId: Int, uid: String, type: TokenType, remoteStartId: Int) throws(Refusal) -> Call {
        if isV16(version) {
            guard uid.utf8.count <= 20 else { throw .rejected("the token's uid is longer than an OCPP 1.6 idTag (20 characters)") }
            return Call(action: "RemoteStartTransaction", payload: .object(["connectorId": .number(JSONNumber(evseId)), "idTag": .string(uid)]))
        }
        // An RFID card's uid is its ISO 14443 id; any other token is known to the CSMS alone (Central).
        let tokenType = idTokenType(type)
        return Call(action: "RequestStartTransaction", payload: .object([
            "evseId": .number(JSONNumber(evseId)), "remoteStartId": .number(JSONNumber(remoteStartId)),
            "idToken": .object(["idToken": .string(uid), "type": .string(tokenType)]),
        ]))
    }

    /// STOP_SESSION: RemoteStopTransaction (1.6, the integer id) or RequestStopTransaction (2.0.1, the string id).
    static func stopSession(version: String?, transactionId: Int64, transactionUID: String) -> Call {
        if isV16(version) {
            return Call(action: "RemoteStopTransaction", payload: .object(["transactionId": .number(JSONNumber(transactionId))]))
        }
        return Call(action: "RequestStopTransaction", payload: .object(["transactionId": .string(transactionUID)]))
    }

    /// UNLOCK_CONNECTOR: a 1.6 connector is its EVSE; 2.0.1 names both.
    static func unlock(version: String?, evseId: Int, connectorId: Int) -> Call {
        if isV16(version) { return Call(action: "UnlockConnector", payload: .object(["connectorId": .number(JSONNumber(evseId))])) }
        return Call(action: "UnlockConnector", payload: .object(["evseId": .number(JSONNumber(evseId)), "connectorId": .number(JSONNumber(connectorId))]))
    }

    /// ReserveNow for an identity on the EVSE until the expiry, with the CSMS's reservation id: an OCPI RESERVE_NOW's
    /// token, or a booking's expected identity. `idTokenType` is 2.0.1's IdTokenEnumType (1.6 has none).
    static func reserveNow(version: String?, evseId: Int, uid: String, idTokenType: String, expiry: OCPIDateTime, reservationId: Int) throws(Refusal) -> Call {
        if isV16(version) {
            guard uid.utf8.count <= 20 else { throw .rejected("the token's uid is longer than an OCPP 1.6 idTag (20 characters)") }
            return Call(action: "ReserveNow", payload: .object([
                "connectorId": .number(JSONNumber(evseId)), "expiryDate": .string(expiry.description), "idTag": .string(uid),
                "reservationId": .number(JSONNumber(reservationId)),
            ]))
        }
        return Call(action: "ReserveNow", payload: .object([
            "id": .number(JSONNumber(reservationId)), "expiryDateTime": .string(expiry.description), "evseId": .number(JSONNumber(evseId)),
            "idToken": .object(["idToken": .string(uid), "type": .string(idTokenType)]),
        ]))
    }

    /// 2.0.1's IdTokenEnumType of an OCPI token: an RFID card's uid is its ISO 14443 id; any other is the CSMS's.
    static func idTokenType(_ type: TokenType) -> String { type == .rfid ? "ISO14443" : "Central" }

    /// CANCEL_RESERVATION: CancelReservation of the CSMS's reservation id (the same field name in both versions).
    static func cancelReservation(reservationId: Int) -> Call {
        Call(action: "CancelReservation", payload: .object(["reservationId": .number(JSONNumber(reservationId))]))
    }

    /// The result of a CALL the station answered.
    static func result(_ command: CommandType, answer: JSONValue) -> CommandResult {
        let status = answer["status"]?.stringValue ?? ""
        let said = "the charger answered \(status.isEmpty ? "without a status" : status)"
        switch (command, status) {
        case (_, "Accepted"), (.unlockConnector, "Unlocked"): return CommandResult(result: .accepted)
        case (.unlockConnector, "UnlockFailed"): return CommandResult(result: .failed, message: said)
        case (.unlockConnector, "NotSupported"): return CommandResult(result: .notSupported, message: said)
        case (.unlockConnector, "OngoingAuthorizedTransaction"), (.reserveNow, "Occupied"): return CommandResult(result: .evseOccupied, message: said)
        case (.reserveNow, "Faulted"), (.reserveNow, "Unavailable"): return CommandResult(result: .evseInoperative, message: said)
        case (.cancelReservation, "Rejected"): return CommandResult(result: .unknownReservation, message: said)
        case (_, "Rejected"): return CommandResult(result: .rejected, message: said)
        default: return CommandResult(result: .failed, message: said)
        }
    }

    /// The result of a CALL the station refused with a CALLERROR.
    static func result(callError code: String) -> CommandResult {
        switch code {
        case "NotSupported", "NotImplemented": CommandResult(result: .notSupported, message: "the charger does not support it (\(code))")
        default: CommandResult(result: .failed, message: "the charger answered \(code)")
        }
    }
}
