public import Foundation
public import OCPP

/// Everything between a decoded CALL and its answer: the schema, the admission rule, the version
/// adapter inside one committed unit of work, and the CALLERROR each failure deserves. The server's
/// socket loop and the fuzzer (`voltaic-fuzz`) both go through here.
public struct InboundDispatcher: Sendable {
    public let runner: any TransactionRunner
    public let adapters: [OCPPVersion: any InboundAdapter]
    /// How long the reply to a non-idempotent CALL is kept for a replay with the same id and payload.
    public var replayWindow: Duration

    public init(runner: any TransactionRunner, adapters: [OCPPVersion: any InboundAdapter], replayWindow: Duration = .seconds(900)) {
        self.runner = runner
        self.adapters = adapters
        self.replayWindow = replayWindow
    }

    /// Actions a station that is not (yet) accepted may send.
    public static let allowedBeforeAcceptance: Set<String> = ["BootNotification", "Heartbeat"]

    /// Actions taken only over a connection that proved security profile 2 or 3 (TLS and the station's password, or its
    /// client certificate): a CSR is signed only for a station authenticated over a confidential channel, or a password
    /// read off plain ws:// (or no password at all) would buy a client certificate that locks the real station out.
    public static let needTLS: Set<String> = ["SignCertificate"]

    /// Actions whose effect is not idempotent by content: each is kept verbatim or appends an event.
    /// Their committed replies are kept (`inbound_replies`), so that a replay is answered, not applied.
    /// Everything else is idempotent in the domain itself (status history, meter values, seqNo, starts).
    public static let replayGuarded: Set<String> = [
        "BootNotification", "DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
        "SecurityEventNotification", "LogStatusNotification", "SignedFirmwareStatusNotification", "NotifyReport",
        "NotifyEvent", "ReservationStatusUpdate", "SignCertificate", "Get15118EVCertificate", "GetCertificateStatus",
    ]

    public struct Answer: Sendable {
        public var frame: Frame
        /// The work committed: only such a reply may be given again for a repeated id.
        public var committed: Bool
        /// The registration a BootNotification's reply gave, for the session to adopt.
        public var registration: RegistrationStatus?
        /// Why the CALL failed, for the log (never sent: the CALLERROR says what the station may know).
        public var failure: String?
    }

    /// `securityProfile` is what the connection proved (0 to 3).
    public func answer(
        id: String, action: String, payload: JSONValue, version: OCPPVersion, stationId: String, registration: RegistrationStatus, now: Date,
        securityProfile: Int = 3
    ) async -> Answer {
        func refuse(_ code: RPCErrorCode, _ description: String, failure: String? = nil) -> Answer {
            Answer(frame: .error(id: id, code, description, version: version), committed: false, registration: nil, failure: failure)
        }
        guard let schema = OCPPSchemas.schema(version, action: action, .request) else {
            return refuse(.notImplemented, "unknown action '\(action.prefix(40))'")
        }
        guard let adapter = adapters[version], adapter.handledActions.contains(action) else {
            return refuse(.notSupported, "\(action) is not supported")
        }
        if let violation = schema.validate(payload) {
            return refuse(violation.code, violation.description)
        }
        // PostgreSQL text cannot hold U+0000: refused here, naming the field, not failed in the database.
        if let path = payload.pathOfNUL() {
            return refuse(.propertyConstraintViolation, "\(path) contains a NUL character")
        }
        if registration != .accepted, !Self.allowedBeforeAcceptance.contains(action) {
            return refuse(.securityError, "the station is \(registration.rawValue); only BootNotification is accepted")
        }
        if Self.needTLS.contains(action), securityProfile < 2 {
            return refuse(.securityError, "\(action) needs a connection at security profile 2 or 3 (TLS); this one is at \(securityProfile)")
        }
        if let reply = try? adapter.immediate(action: action, now: now) {
            // Not committed work: a repeated id gets a fresh answer, not this one.
            return Answer(frame: .callResult(id: id, payload: reply), committed: false, registration: nil, failure: nil)
        }
        let guarded = Self.replayGuarded.contains(action)
        let window = replayWindow
        let apply: PreparedCall
        do {
            apply = try adapter.prepare(action: action, payload: payload, stationId: stationId, now: now)
        } catch let rejection as InboundRejection {
            return refuse(rejection.code, rejection.reason)
        } catch {
            return refuse(.formatViolation, "the payload cannot be read", failure: String(describing: error))
        }
        do {
            // Only the writes sit inside the transaction.
            let result: JSONValue
            var prepared = apply
            if case .checked(let check) = apply {
                // A replay is answered as before without asking again (a contract pool's Install may not be repeatable).
                if guarded, let earlier = try await runner.read({ uow in
                    try await uow.committedReply(stationId: stationId, messageId: id, action: action, payload: payload, within: window)
                }) {
                    // Read, not committed now: the kept reply is in the database already, and this answer made no commit.
                    return Answer(frame: .callResult(id: id, payload: earlier), committed: false, registration: nil, failure: nil)
                }
                prepared = .writes(await check())
            }
            switch prepared {
            case .checked:
                throw StoreFailure.unavailable("a checked call decided on another check")
            case .writes(let writes):
                result = try await runner.perform { uow in
                    if guarded, let earlier = try await uow.committedReply(stationId: stationId, messageId: id, action: action, payload: payload, within: window) {
                        return earlier
                    }
                    let reply = try await writes(uow)
                    if guarded { try await uow.recordReply(stationId: stationId, messageId: id, action: action, payload: payload, reply: reply) }
                    return reply
                }
            case .bulk(let call):
                let key = guarded ? ReplyKey(stationId: stationId, messageId: id, action: action, payload: payload) : nil
                result = try await runner.perform(Self.work(call, window: window), GuardedInput(key: key, input: call.input))
            }
            let status = action == "BootNotification" ? result["status"]?.stringValue.flatMap(RegistrationStatus.init(rawValue:)) : nil
            return Answer(frame: .callResult(id: id, payload: result), committed: true, registration: status, failure: nil)
        } catch let rejection as InboundRejection {
            return refuse(rejection.code, rejection.reason)
        } catch StoreFailure.rejected(let why) {
            return refuse(.propertyConstraintViolation, "a value cannot be stored: \(why)", failure: why)
        } catch {
            return refuse(.internalError, "the message could not be stored; send it again", failure: String(describing: error))
        }
    }
}

extension InboundDispatcher {
    /// A bulk CALL's input, with its reply key when the action is replay-guarded.
    struct GuardedInput: Sendable {
        var key: ReplyKey?
        var input: any Sendable
    }

    /// A bulk call's writes with the reply guard around them, for a whole batch: the replies kept for
    /// its replayed CALLs are read in one statement, the others applied together, and their replies
    /// kept in one statement. A CALL that comes twice in one batch (a station that resent it on a new
    /// connection before the first was answered) is applied once, and both get its reply.
    static func work(_ call: BulkCall, window: Duration) -> BulkWork<GuardedInput, JSONValue> {
        BulkWork(name: call.name) { uow, inputs in
            var replies = [JSONValue?](repeating: nil, count: inputs.count)
            let keyed = inputs.indices.filter { inputs[$0].key != nil }
            if !keyed.isEmpty {
                let kept = try await uow.committedReplies(keyed.compactMap { inputs[$0].key }, within: window)
                for (i, reply) in zip(keyed, kept) { replies[i] = reply }
            }
            var first: [ReplyKey: Int] = [:]
            var fresh: [Int] = []
            var again: [(Int, Int)] = []
            for i in inputs.indices where replies[i] == nil {
                if let key = inputs[i].key {
                    if let j = first[key] {
                        again.append((i, j))
                        continue
                    }
                    first[key] = i
                }
                fresh.append(i)
            }
            let made = try await call.apply(uow, fresh.map { inputs[$0].input })
            guard made.count == fresh.count else { throw StoreFailure.unavailable("\(call.name) made \(made.count) replies for \(fresh.count) calls") }
            var keep: [(ReplyKey, JSONValue)] = []
            for (i, reply) in zip(fresh, made) {
                replies[i] = reply
                if let key = inputs[i].key { keep.append((key, reply)) }
            }
            for (i, j) in again { replies[i] = replies[j] }
            if !keep.isEmpty { try await uow.recordReplies(keep) }
            let out = replies.compactMap { $0 }
            guard out.count == inputs.count else { throw StoreFailure.unavailable("\(call.name) left a call without a reply") }
            return out
        }
    }
}

extension JSONValue {
    /// The path of the first string (or key) that contains U+0000, if any.
    public func pathOfNUL(_ prefix: String = "") -> String? {
        switch self {
        case .string(let s): return s.unicodeScalars.contains("\u{0}") ? (prefix.isEmpty ? "payload" : prefix) : nil
        case .array(let items):
            for (i, item) in items.enumerated() {
                if let p = item.pathOfNUL("\(prefix)[\(i)]") { return p }
            }
            return nil
        case .object(let fields):
            for key in fields.keys.sorted() {
                let path = prefix.isEmpty ? key : "\(prefix).\(key)"
                if key.unicodeScalars.contains("\u{0}") { return path.replacingOccurrences(of: "\u{0}", with: "\\u0000") }
                if let p = fields[key]!.pathOfNUL(path) { return p }
            }
            return nil
        default: return nil
        }
    }
}
