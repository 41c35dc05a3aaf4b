import CSMS
import Foundation
import Logging
import OCPP
import Storage

/// Turns one text message from a station into the reply to send, if any: frame decoding, answers to our
/// own calls, the session's cache of recent committed replies, and `InboundDispatcher` for the rest.
struct InboundProcessor: Sendable {
    let dispatcher: InboundDispatcher
    /// Every frame says the station is alive; the time is written behind.
    let liveness: any StationLiveness
    var metrics: ServerMetrics?

    /// The answer when the frame budget is spent: a CALL gets InternalError, anything else is dropped
    /// (answers to our own calls then time out, as they would on a lost frame).
    func busy(_ text: String, session: StationSession) -> String? {
        guard case .success(.call(let id, _, _)) = Frame.decode(text) else { return nil }
        session.logger.warning("frame budget spent; CALL refused", metadata: ["ocpp.msg.id": "\(id)"])
        return Frame.error(id: id, .internalError, "the server is busy; send it again", version: session.version).serialized
    }

    func process(_ text: String, session: StationSession) async -> String? {
        let version = session.version
        let now = Date()
        liveness.seen(stationId: session.stationId, at: now)
        switch Frame.decode(text) {
        case .failure(let error):
            session.logger.debug("malformed frame", metadata: ["ocpp.msg.id": "\(error.messageId ?? "-")", "ocpp.error": "\(error.reason)"])
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
            let began = ContinuousClock.now
            if let earlier = session.rememberedReply(to: id, action: action) {
                session.logger.debug("repeated CALL id answered again without applying it", metadata: ["ocpp.msg.id": "\(id)"])
                metrics?.call(action: action, version: version, result: "replayed", duration: .now - began)
                return earlier
            }
            let answer = await dispatcher.answer(
                id: id, action: action, payload: payload, version: version, stationId: session.stationId,
                registration: session.registrationStatus, now: now, securityProfile: session.securityProfile
            )
            if let failure = answer.failure {
                session.logger.error("could not apply \(action)", metadata: ["ocpp.msg.id": "\(id)", "error": "\(failure)"])
            }
            if let status = answer.registration { session.setRegistrationStatus(status) }
            metrics?.call(action: action, version: version, result: Self.result(answer.frame), duration: .now - began)
            let reply = answer.frame.serialized
            // Only what committed is given again: a failure ("send it again") must let the retry through.
            if answer.committed { session.remember(reply: reply, to: id, action: action) }
            return reply
        }
    }

    /// `ok`, or the CALLERROR code (one of the version's few).
    static func result(_ frame: Frame) -> String {
        if case .callError(_, let code, _, _) = frame { return code }
        return "ok"
    }
}
