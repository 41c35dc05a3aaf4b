import CSMS
import Foundation
import Logging
import OCPP
import Storage

/// Turns one text message from a station into the reply to send, if any: frame decoding, schema
/// validation, the version adapter inside a group-committed transaction, and the CALLRESULT after commit.
struct InboundProcessor: Sendable {
    let runner: any TransactionRunner
    let adapters: [OCPPVersion: any InboundAdapter]

    /// Actions a station that is not (yet) accepted may send.
    static let allowedBeforeAcceptance: Set<String> = ["BootNotification", "Heartbeat"]

    func process(_ text: String, session: StationSession) async -> String? {
        let version = session.version
        switch Frame.decode(text) {
        case .failure(let error):
            session.logger.info("malformed frame", metadata: ["ocpp.msg.id": "\(error.messageId ?? "-")", "ocpp.error": "\(error.reason)"])
            return error.callError(version: version)?.serialized

        case .success(.callResult(let id, let payload)):
            if await !session.received(id: id, .result(payload)) {
                session.logger.notice("CALLRESULT for an unknown message id ignored", metadata: ["ocpp.msg.id": "\(id)"])
            }
            return nil

        case .success(.callError(let id, let code, let description, let details)):
            if await !session.received(id: id, .error(code: code, description: description, details: details)) {
                session.logger.notice("CALLERROR for an unknown message id ignored", metadata: ["ocpp.msg.id": "\(id)"])
            }
            return nil

        case .success(.call(let id, let action, let payload)):
            if let earlier = await session.rememberedReply(to: id) {
                session.logger.info("repeated CALL id answered again without applying it", metadata: ["ocpp.msg.id": "\(id)"])
                return earlier
            }
            let reply = await answer(id: id, action: action, payload: payload, session: session)
            await session.remember(reply: reply.serialized, to: id)
            return reply.serialized
        }
    }

    private func answer(id: String, action: String, payload: JSONValue, session: StationSession) async -> Frame {
        let version = session.version
        guard let schema = OCPPSchemas.schema(version, action: action, .request) else {
            return .error(id: id, .notImplemented, "unknown action '\(action.prefix(40))'", version: version)
        }
        guard let adapter = adapters[version], adapter.handledActions.contains(action) else {
            return .error(id: id, .notSupported, "\(action) is not supported", version: version)
        }
        if let violation = schema.validate(payload) {
            return .error(id: id, violation.code, violation.description, version: version)
        }
        let status = await session.registrationStatus
        if status != .accepted, !Self.allowedBeforeAcceptance.contains(action) {
            return .error(id: id, .securityError, "the station is \(status.rawValue); only BootNotification is accepted", version: version)
        }
        let stationId = session.stationId
        do {
            let now = Date()
            let result = try await runner.perform { uow in
                try await adapter.handle(action: action, payload: payload, stationId: stationId, uow: uow, now: now)
            }
            if action == "BootNotification", let s = result["status"]?.stringValue, let status = RegistrationStatus(rawValue: s) {
                await session.setRegistrationStatus(status)
            }
            return .callResult(id: id, payload: result)
        } catch let rejection as InboundRejection {
            return .error(id: id, rejection.code, rejection.reason, version: version)
        } catch {
            session.logger.error("could not apply \(action)", metadata: ["ocpp.msg.id": "\(id)", "error.type": "\(String(reflecting: error))"])
            return .error(id: id, .internalError, "the message could not be stored; send it again", version: version)
        }
    }
}
