public import CSMS
public import Foundation
public import OCPP

/// What the server keeps per connection that changes how a frame is answered: the negotiated version, the
/// station's registration status, and the replies to recent CALL ids (StationSession's).
public struct InboundSession: Sendable {
    public static let rememberedReplies = 256

    public var stationId: String
    public var version: OCPPVersion
    public var registrationStatus: RegistrationStatus
    private var recentReplies: [String: String] = [:]
    private var recentOrder: [String] = []

    public init(stationId: String, version: OCPPVersion, registrationStatus: RegistrationStatus) {
        self.stationId = stationId
        self.version = version
        self.registrationStatus = registrationStatus
    }

    func rememberedReply(to id: String) -> String? { recentReplies[id] }

    mutating func remember(reply: String, to id: String) {
        if recentReplies.updateValue(reply, forKey: id) == nil {
            recentOrder.append(id)
            if recentOrder.count > Self.rememberedReplies {
                recentReplies[recentOrder.removeFirst()] = nil
            }
        }
    }
}

/// How one text frame was answered.
public struct InboundOutcome: Sendable {
    /// The frame to send back; nil for a CALLRESULT or CALLERROR from the station, which is never answered.
    public var reply: String?
    /// The CALL this answers, when the frame was a CALL.
    public var call: (id: String, action: String)?
    /// True when the reply is the one remembered for an earlier CALL with the same id.
    public var repeated = false
    /// What the runner threw when the answer is an InternalError: the reason the message could not be stored.
    public var failure: (any Error)?
}

/// Between a text frame and its reply, what Server's InboundProcessor does — frame decoding, the repeated-id
/// check, schema lookup, the handled check, validation, the acceptance gate, the adapter inside one unit of
/// work, the reply — over any `TransactionRunner`. The fuzzer and the replay tests drive it on the in-memory store.
public struct InboundPipeline: Sendable {
    public let runner: any TransactionRunner
    public let adapters: [OCPPVersion: any InboundAdapter]

    /// Actions a station that is not (yet) accepted may send.
    public static let allowedBeforeAcceptance: Set<String> = ["BootNotification", "Heartbeat"]

    public init(runner: any TransactionRunner, adapters: [OCPPVersion: any InboundAdapter]) {
        self.runner = runner
        self.adapters = adapters
    }

    /// The adapters the server builds (Application+build.swift).
    public init(runner: any TransactionRunner, service: ChargingService = ChargingService()) {
        self.init(runner: runner, adapters: [.v16: OCPP16Adapter(service: service), .v201: OCPP201Adapter(service: service)])
    }

    public func process(_ text: String, session: inout InboundSession, now: Date) async -> InboundOutcome {
        let version = session.version
        switch Frame.decode(text) {
        case .failure(let error):
            return InboundOutcome(reply: error.callError(version: version)?.serialized)
        case .success(.callResult), .success(.callError):
            // Answers to CSMS calls go to the session's pending calls; none are pending here.
            return InboundOutcome(reply: nil)
        case .success(.call(let id, let action, let payload)):
            if let earlier = session.rememberedReply(to: id) {
                return InboundOutcome(reply: earlier, call: (id, action), repeated: true)
            }
            let answered = await answer(id: id, action: action, payload: payload, session: &session, now: now)
            let reply = answered.frame.serialized
            session.remember(reply: reply, to: id)
            return InboundOutcome(reply: reply, call: (id, action), failure: answered.failure)
        }
    }

    private struct Answer {
        var frame: Frame
        var failure: (any Error)?
    }

    private func answer(id: String, action: String, payload: JSONValue, session: inout InboundSession, now: Date) async -> Answer {
        let version = session.version
        guard let schema = OCPPSchemas.schema(version, action: action, .request) else {
            return Answer(frame: .error(id: id, .notImplemented, "unknown action '\(action.prefix(40))'", version: version))
        }
        guard let adapter = adapters[version], adapter.handledActions.contains(action) else {
            return Answer(frame: .error(id: id, .notSupported, "\(action) is not supported", version: version))
        }
        if let violation = schema.validate(payload) {
            return Answer(frame: .error(id: id, violation.code, violation.description, version: version))
        }
        let status = session.registrationStatus
        if status != .accepted, !Self.allowedBeforeAcceptance.contains(action) {
            return Answer(frame: .error(id: id, .securityError, "the station is \(status.rawValue); only BootNotification is accepted", version: version))
        }
        let stationId = session.stationId
        do {
            let result = try await runner.perform { uow in
                try await adapter.handle(action: action, payload: payload, stationId: stationId, uow: uow, now: now)
            }
            if action == "BootNotification", let s = result["status"]?.stringValue, let status = RegistrationStatus(rawValue: s) {
                session.registrationStatus = status
            }
            return Answer(frame: .callResult(id: id, payload: result))
        } catch let rejection as InboundRejection {
            return Answer(frame: .error(id: id, rejection.code, rejection.reason, version: version))
        } catch {
            return Answer(frame: .error(id: id, .internalError, "the message could not be stored; send it again", version: version), failure: error)
        }
    }
}
