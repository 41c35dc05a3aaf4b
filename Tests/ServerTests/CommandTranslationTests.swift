import OCPI
import OCPP
@testable import Server
import Testing

/// OCPI commands as OCPP CALLs of each version, and the answers as OCPI results.
@Suite struct CommandTranslationTests {
    @Test func startSessionPerVersion() throws {
        let v16 = try CommandTranslation.startSession(version: "ocpp1.6", evseId: 2, uid: "04AABB", type: .rfid, remoteStartId: 7)
        #expect(v16 == .init(action: "RemoteStartTransaction", payload: .object(["connectorId": .number(JSONNumber(2)), "idTag": .string("04AABB")])))
        let v201 = try CommandTranslation.startSession(version: "ocpp2.0.1", evseId: 2, uid: "APP-1", type: .appUser, remoteStartId: 7)
        #expect(v201.action == "RequestStartTransaction")
        #expect(v201.payload["remoteStartId"] == .number(JSONNumber(7)))
        #expect(v201.payload["idToken"]?["type"]?.stringValue == "Central")
        // 1.6's idTag holds 20 characters: a longer uid cannot be sent, and is refused rather than cut.
        #expect(throws: CommandTranslation.Refusal.self) {
            try CommandTranslation.startSession(version: "ocpp1.6", evseId: 1, uid: String(repeating: "A", count: 21), type: .rfid, remoteStartId: 1)
        }
    }

    @Test func stopAndUnlockPerVersion() {
        #expect(CommandTranslation.stopSession(version: "ocpp1.6", transactionId: 42, transactionUID: "42").payload["transactionId"] == .number(JSONNumber(42)))
        #expect(CommandTranslation.stopSession(version: "ocpp2.0.1", transactionId: 42, transactionUID: "tx-a").payload["transactionId"] == .string("tx-a"))
        #expect(CommandTranslation.unlock(version: "ocpp1.6", evseId: 3, connectorId: 1).payload == .object(["connectorId": .number(JSONNumber(3))]))
        #expect(CommandTranslation.unlock(version: "ocpp2.0.1", evseId: 3, connectorId: 2).payload["connectorId"] == .number(JSONNumber(2)))
    }

    @Test(arguments: [
        (CommandType.startSession, "Accepted", CommandResultType.accepted), (.startSession, "Rejected", .rejected),
        (.stopSession, "Accepted", .accepted), (.stopSession, "Rejected", .rejected),
        (.unlockConnector, "Unlocked", .accepted), (.unlockConnector, "UnlockFailed", .failed), (.unlockConnector, "NotSupported", .notSupported),
        (.unlockConnector, "OngoingAuthorizedTransaction", .evseOccupied), (.unlockConnector, "UnknownConnector", .failed),
    ])
    func answers(command: CommandType, status: String, expected: CommandResultType) {
        #expect(CommandTranslation.result(command, answer: .object(["status": .string(status)])).result == expected)
    }

    @Test func callErrors() {
        #expect(CommandTranslation.result(callError: "NotImplemented").result == .notSupported)
        #expect(CommandTranslation.result(callError: "InternalError").result == .failed)
    }
}
