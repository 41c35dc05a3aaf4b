public import CSMS
public import Foundation
public import OCPP

/// One fixed world to replay scripts in, and the checks every answer must pass. The fuzzer and the replay
/// tests share it, so a saved input fails the test exactly as it failed the fuzzer.
///
/// The world: stations `FUZZ-CS-1` (Accepted), `FUZZ-CS-P` (Pending) and `FUZZ-CS-R` (Rejected); a script
/// speaks as the one its header names (Accepted unless it says `pending` or `rejected`). Tokens `TOKEN-OK`,
/// `TOKEN-BLOCKED`, `TOKEN-EXPIRED`, `TOKEN-MEMBER` (in group `FLEET`) and `FLEET`; reservations on
/// FUZZ-CS-1: 1 (TOKEN-OK on EVSE 1, open), 2 (TOKEN-OK on EVSE 2, past its time) and 3 (TOKEN-MEMBER,
/// any EVSE, pending). The clock starts at 2026-01-01T12:00:00Z and moves only by a script's directives.
public enum InboundReplay {
    public static let stationId = "FUZZ-CS-1"
    public static let now = Date(timeIntervalSince1970: 1_767_268_800)
    /// Server's default `--stale-transaction-after`.
    public static let staleAfter: TimeInterval = 72 * 3600
    public static let service = ChargingService()
    public static let longGroup = "FLEET-GROUP-WITH-A-36-CHARACTER-NAME"

    public static func stationId(for registration: RegistrationStatus) -> String {
        switch registration {
        case .accepted: stationId
        case .pending: "FUZZ-CS-P"
        case .rejected: "FUZZ-CS-R"
        }
    }

    /// The world, built once; each run plays on its own copy.
    public static let world: InMemoryDatabase = {
        do {
            let database = InMemoryDatabase(now: now)
            try database.insertStation(id: stationId, registrationStatus: .accepted)
            try database.insertStation(id: Self.stationId(for: .pending), registrationStatus: .pending)
            try database.insertStation(id: Self.stationId(for: .rejected), registrationStatus: .rejected)
            let hour: TimeInterval = 3600
            try database.insertToken(IdToken(value: "TOKEN-OK", type: "ISO14443", createdAt: now, updatedAt: now))
            try database.insertToken(IdToken(value: "TOKEN-BLOCKED", status: .blocked, createdAt: now, updatedAt: now))
            try database.insertToken(IdToken(value: "TOKEN-EXPIRED", expiresAt: now - hour, createdAt: now, updatedAt: now))
            try database.insertToken(IdToken(value: "TOKEN-MEMBER", groupId: "FLEET", createdAt: now, updatedAt: now))
            try database.insertToken(IdToken(value: "FLEET", expiresAt: now + 24 * hour, createdAt: now, updatedAt: now))
            // As long a group id as the admin API takes (36 characters: 2.0.1's idToken), more than 1.6's CiString20.
            try database.insertToken(IdToken(value: "TOKEN-LONGGROUP", groupId: longGroup, createdAt: now, updatedAt: now))
            _ = try database.insertReservation(stationId: stationId, evseId: 1, idToken: "TOKEN-OK", expiresAt: now + hour, status: .accepted)
            _ = try database.insertReservation(stationId: stationId, evseId: 2, idToken: "TOKEN-OK", expiresAt: now - hour, status: .accepted)
            _ = try database.insertReservation(stationId: stationId, evseId: nil, idToken: "TOKEN-MEMBER", expiresAt: now + hour, status: .pending)
            return database
        } catch {
            fatalError("the replay world cannot be built: \(error)")
        }
    }()

    /// A fresh copy of the world.
    public static func database() -> InMemoryDatabase { InMemoryDatabase(copying: world) }

    /// The dispatcher the server builds (Application+build.swift), over `runner`.
    public static func dispatcher(runner: any TransactionRunner) -> InboundDispatcher {
        InboundDispatcher(runner: runner, adapters: [.v16: OCPP16Adapter(service: service), .v201: OCPP201Adapter(service: service)])
    }

    public struct Step: Sendable {
        public var frame: String
        /// Nil for a directive line.
        public var outcome: InboundConnection.Outcome?
        /// Why this answer is wrong; empty when it is fine.
        public var problems: [Problem]
    }

    /// One way an answer is wrong. `kind` names the class of defect (a trap never appears: it ends the
    /// process), so that a fuzzing run can tolerate a class already reported and look for others.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// `no-reply`, `unexpected-reply`, `reply-shape`, `reply-id`, `error-code`, `response-schema:Action`,
        /// `internal-error`, `prepare-error`, `committed-callerror`, `commit-mismatch`, `replay-guard`,
        /// `anomaly`, `maintenance` or `invariant:...`.
        public var kind: String
        public var message: String

        public var description: String { "[\(kind)] \(message)" }
    }

    /// Plays `script` from the first line to the last on a fresh copy of the world, over the in-memory runner.
    public static func run(_ script: InboundScript) async -> [Step] {
        await run(script, on: database())
    }

    /// Plays `script` on `database` (a copy of the world), which is left as the script left it.
    public static func run(_ script: InboundScript, on database: InMemoryDatabase) async -> [Step] {
        let runner = InMemoryTransactionRunner(database: database)
        let dispatcher = dispatcher(runner: runner)
        let stationId = stationId(for: script.registration)
        var connection = InboundConnection(dispatcher: dispatcher, stationId: stationId, version: script.version, registrationStatus: script.registration)
        var guarded: [GuardKey: (reply: String, at: Date)] = [:]
        var steps: [Step] = []
        steps.reserveCapacity(script.frames.count)
        for line in script.frames {
            let commits = database.commits
            let anomalies = database.anomalies.count
            var problems: [Problem] = []
            var outcome: InboundConnection.Outcome?
            if let directive = InboundScript.Directive(rawValue: line) {
                switch directive {
                case .reconnect:
                    let status = database.registrationStatus(stationId: stationId) ?? .rejected
                    connection = InboundConnection(dispatcher: dispatcher, stationId: stationId, version: script.version, registrationStatus: status)
                case .soon: database.advance(by: 60)
                case .later: database.advance(by: 73 * 3600)
                case .maintenance: problems += await maintenance(runner: runner, window: dispatcher.replayWindow, now: database.now)
                }
            } else {
                let now = database.now
                let answered = await connection.process(line, now: now)
                outcome = answered
                problems += Self.problems(frame: line, outcome: answered, version: script.version)
                problems += commitProblems(answered, commitsBefore: commits, commitsAfter: database.commits)
                problems += replayProblems(answered, guarded: &guarded, window: dispatcher.replayWindow, now: now)
            }
            problems += database.anomalies.dropFirst(anomalies).map { Problem(kind: "anomaly", message: $0) }
            problems += invariantProblems(database.transactions)
            steps.append(Step(frame: line, outcome: outcome, problems: problems))
        }
        return steps
    }

    /// What Server's Maintenance.runOnce does, with the default stale policy.
    static func maintenance(runner: InMemoryTransactionRunner, window: Duration, now: Date) async -> [Problem] {
        do {
            _ = try await runner.perform { uow in try await uow.purgeReplies(before: now.addingTimeInterval(-Double(window.components.seconds))) }
            _ = try await runner.perform { uow in try await service.endStaleTransactions(uow, before: now.addingTimeInterval(-staleAfter), now: now) }
            return []
        } catch {
            return [Problem(kind: "maintenance", message: "the maintenance pass failed: \(String(reflecting: error))")]
        }
    }

    /// The CALLERROR codes each version defines (OCPP-J 1.6 §4.2.3, OCPP 2.0.1 part 4 §4.3), spelled as they are.
    public static let errorCodes: [OCPPVersion: Set<String>] = [
        .v16: [
            "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError", "FormationViolation",
            "PropertyConstraintViolation", "OccurenceConstraintViolation", "TypeConstraintViolation", "GenericError",
        ],
        .v201: [
            "FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported", "NotImplemented", "NotSupported",
            "OccurrenceConstraintViolation", "PropertyConstraintViolation", "ProtocolError", "RpcFrameworkError", "SecurityError",
            "TypeConstraintViolation",
        ],
    ]

    /// Every CALL, and every unreadable frame that may be answered, gets one CALLRESULT or CALLERROR with
    /// its id and a code of its version; a CALLRESULT passes the action's response schema; nothing the
    /// station sent makes the store fail as if it were down, or an adapter throw anything but a rejection.
    public static func problems(frame: String, outcome: InboundConnection.Outcome, version: OCPPVersion) -> [Problem] {
        var problems: [Problem] = []
        let expectedId: String?
        let answerable: Bool
        // What the frame was, as the connection decoded it (Frame.decode, whose own tests hold it to the RPC framing).
        if let call = outcome.call {
            (expectedId, answerable) = (call.id, true)
        } else if let error = outcome.frameError {
            (expectedId, answerable) = (error.messageId ?? Frame.unreadableMessageId, error.answerable)
        } else {
            (expectedId, answerable) = (nil, false)
        }
        if let answer = outcome.answer, let failure = answer.failure, case .callError(_, let code, _, _) = answer.frame {
            if code == "InternalError" {
                problems.append(Problem(kind: "internal-error", message: "the in-memory store is never down, yet: \(failure)"))
            } else if code != "PropertyConstraintViolation" || !failure.contains("SQLSTATE 2") {
                // A database refusal (class 22 or 23) is answered PropertyConstraintViolation by design.
                problems.append(Problem(kind: "prepare-error", message: "the adapter failed on a validated payload: \(failure)"))
            }
        }
        guard let reply = outcome.reply else {
            if answerable { problems.append(Problem(kind: "no-reply", message: "no reply to a frame that must be answered")) }
            return problems
        }
        if !answerable { problems.append(Problem(kind: "unexpected-reply", message: "a reply to a frame that must not be answered")) }
        // The reply's shape, read directly: Frame.decode would also refuse the over-long id that a
        // CALLERROR rightly echoes.
        guard case .success(.array(let items)) = Result(catching: { try JSONParser.parse(reply) }), items.count >= 3,
            case .number(let type) = items[0], case .string(let id) = items[1]
        else {
            problems.append(Problem(kind: "reply-shape", message: "the reply is not an RPC frame"))
            return problems
        }
        if id != expectedId { problems.append(Problem(kind: "reply-id", message: "the reply's id \(id.prefix(40)) answers \(expectedId?.prefix(40) ?? "nothing")")) }
        switch (type.text, items.count) {
        case ("3", 3):
            guard case .object = items[2] else {
                problems.append(Problem(kind: "reply-shape", message: "a CALLRESULT payload that is not an object"))
                break
            }
            guard let action = outcome.call?.action else {
                problems.append(Problem(kind: "reply-shape", message: "a CALLRESULT to a frame that is not a CALL"))
                break
            }
            guard let schema = OCPPSchemas.schema(version, action: action, .response) else {
                problems.append(Problem(kind: "response-schema:\(action.prefix(40))", message: "a CALLRESULT for \(action.prefix(40)), which has no response schema"))
                break
            }
            if let violation = schema.validate(items[2]) {
                problems.append(Problem(kind: "response-schema:\(action)", message: "the \(action) response breaks its schema: \(violation.description)"))
            }
        case ("4", 5):
            guard case .string(let code) = items[2], case .string = items[3], case .object = items[4] else {
                problems.append(Problem(kind: "reply-shape", message: "a CALLERROR that is not [4, id, code, description, details]"))
                break
            }
            if errorCodes[version]?.contains(code) != true {
                problems.append(Problem(kind: "error-code", message: "\(code.prefix(40)) is not a \(version.rawValue) CALLERROR code"))
            }
        default:
            problems.append(Problem(kind: "reply-shape", message: "the reply is neither a CALLRESULT nor a CALLERROR"))
        }
        return problems
    }

    /// A CALLERROR commits nothing; a CALLRESULT the dispatcher calls committed is exactly one commit, and
    /// one it answered without a transaction (Heartbeat) or the session answered from its cache is none.
    static func commitProblems(_ outcome: InboundConnection.Outcome, commitsBefore: Int, commitsAfter: Int) -> [Problem] {
        let commits = commitsAfter - commitsBefore
        guard let answer = outcome.answer else {
            return commits == 0 ? [] : [Problem(kind: "commit-mismatch", message: "\(commits) commit(s) for a frame the dispatcher never saw")]
        }
        switch answer.frame {
        case .callError:
            if commits != 0 || answer.committed {
                return [Problem(kind: "committed-callerror", message: "a CALLERROR after \(commits) commit(s), committed: \(answer.committed)")]
            }
        case .callResult:
            if commits != (answer.committed ? 1 : 0) {
                return [Problem(kind: "commit-mismatch", message: "a CALLRESULT (committed: \(answer.committed)) after \(commits) commit(s)")]
            }
        case .call:
            return [Problem(kind: "reply-shape", message: "the dispatcher answered with a CALL")]
        }
        return []
    }

    struct GuardKey: Hashable {
        var id: String
        var action: String
        var payload: String
    }

    /// A replay-guarded CALL sent again with the same id and payload within the window — after a reconnect,
    /// so that the session's cache does not answer it — gets the reply it got the first time.
    static func replayProblems(_ outcome: InboundConnection.Outcome, guarded: inout [GuardKey: (reply: String, at: Date)], window: Duration, now: Date) -> [Problem] {
        guard let answer = outcome.answer, answer.committed, case .callResult = answer.frame, let call = outcome.call,
            InboundDispatcher.replayGuarded.contains(call.action), let reply = outcome.reply
        else { return [] }
        let key = GuardKey(id: call.id, action: call.action, payload: call.payload.serialized)
        if let earlier = guarded[key], now.timeIntervalSince(earlier.at) < Double(window.components.seconds) {
            return earlier.reply == reply ? [] : [Problem(kind: "replay-guard", message: "a replay within the window was answered \(reply.prefix(300)), first \(earlier.reply.prefix(300))")]
        }
        guarded[key] = (reply, now)
        return []
    }

    /// What must hold of every stored transaction, whatever the station sent.
    static func invariantProblems(_ transactions: [ChargingTransaction]) -> [Problem] {
        var problems: [Problem] = []
        for tx in transactions {
            if tx.suspect != !tx.suspectReasons.isEmpty {
                problems.append(Problem(kind: "invariant:suspect", message: "transaction \(tx.id): suspect \(tx.suspect) with reasons \(tx.suspectReasons)"))
            }
            if tx.state == .ended, tx.stoppedAt == nil {
                problems.append(Problem(kind: "invariant:stopped", message: "transaction \(tx.id) ended with no stop time"))
            }
            if let energy = tx.energyWh, energy.magnitude > 2 * UInt64(WireLimits.maxRegisterWh) {
                problems.append(Problem(kind: "invariant:energy", message: "transaction \(tx.id) has energy \(energy) Wh, beyond any register difference"))
            }
        }
        return problems
    }
}
