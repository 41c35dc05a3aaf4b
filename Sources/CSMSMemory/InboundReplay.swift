import CSMS
public import Foundation
public import OCPP

/// One fixed world to replay scripts in, and the checks every reply must pass. The fuzzer and the replay
/// tests share it, so a saved input fails the test exactly as it failed the fuzzer.
///
/// The world: station `FUZZ-CS-1`, accepted; tokens `TOKEN-OK`, `TOKEN-BLOCKED`, `TOKEN-EXPIRED`,
/// `TOKEN-MEMBER` (in group `FLEET`) and `FLEET`; reservation 1 (TOKEN-OK on EVSE 1, open), 2 (TOKEN-OK on
/// EVSE 2, past its time) and 3 (TOKEN-MEMBER, any EVSE, pending); the clock stopped at 2026-01-01T12:00:00Z.
public enum InboundReplay {
    public static let stationId = "FUZZ-CS-1"
    public static let now = Date(timeIntervalSince1970: 1_767_268_800)

    public struct Step: Sendable {
        public var frame: String
        public var outcome: InboundOutcome
        /// Why this answer is wrong; empty when it is fine.
        public var problems: [Problem]
    }

    /// A fresh database holding the fixed world.
    public static func database() async throws -> InMemoryDatabase {
        let clock = now
        let database = InMemoryDatabase(clock: { clock })
        try await InMemoryTransactionRunner(database: database).perform { uow in
            try await uow.createStation(id: stationId, registrationStatus: .accepted)
        }
        let hour: TimeInterval = 3600
        try database.insertToken(IdToken(value: "TOKEN-OK", type: "ISO14443", createdAt: now, updatedAt: now))
        try database.insertToken(IdToken(value: "TOKEN-BLOCKED", status: .blocked, createdAt: now, updatedAt: now))
        try database.insertToken(IdToken(value: "TOKEN-EXPIRED", expiresAt: now - hour, createdAt: now, updatedAt: now))
        try database.insertToken(IdToken(value: "TOKEN-MEMBER", groupId: "FLEET", createdAt: now, updatedAt: now))
        try database.insertToken(IdToken(value: "FLEET", expiresAt: now + 24 * hour, createdAt: now, updatedAt: now))
        _ = try database.insertReservation(stationId: stationId, evseId: 1, idToken: "TOKEN-OK", expiresAt: now + hour, status: .accepted)
        _ = try database.insertReservation(stationId: stationId, evseId: 2, idToken: "TOKEN-OK", expiresAt: now - hour, status: .accepted)
        _ = try database.insertReservation(stationId: stationId, evseId: nil, idToken: "TOKEN-MEMBER", expiresAt: now + hour, status: .pending)
        return database
    }

    /// Plays `script` from the first frame to the last on a fresh database, over the in-memory runner.
    public static func run(_ script: InboundScript) async throws -> [Step] {
        let runner = InMemoryTransactionRunner(database: try await database())
        return await run(script, pipeline: InboundPipeline(runner: runner))
    }

    /// Plays `script` through `pipeline`, as one connection of the fixed station.
    public static func run(_ script: InboundScript, pipeline: InboundPipeline) async -> [Step] {
        var session = InboundSession(stationId: stationId, version: script.version, registrationStatus: .accepted)
        var steps: [Step] = []
        for frame in script.frames {
            let outcome = await pipeline.process(frame, session: &session, now: now)
            steps.append(Step(frame: frame, outcome: outcome, problems: problems(frame: frame, outcome: outcome, version: script.version)))
        }
        return steps
    }

    /// One way an answer is wrong. `kind` names the class of defect (`trap` never appears: a trap ends the
    /// process), so that a fuzzing run can tolerate a class already reported and look for others.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// `database:SQLSTATE`, `apply-error`, `no-reply`, `unexpected-reply`, `reply-shape`, `reply-id` or `response-schema:Action`.
        public var kind: String
        public var message: String

        public var description: String { "[\(kind)] \(message)" }
    }

    /// Every CALL, and every unreadable frame that may be answered, gets one CALLRESULT or CALLERROR with
    /// its id; a CALLRESULT passes the action's response schema; nothing the station sent makes the
    /// database fail or the adapter throw anything but a rejection.
    public static func problems(frame: String, outcome: InboundOutcome, version: OCPPVersion) -> [Problem] {
        var problems: [Problem] = []
        let expectedId: String?
        let answerable: Bool
        switch Frame.decode(frame) {
        case .success(.call(let id, _, _)): (expectedId, answerable) = (id, true)
        case .success: (expectedId, answerable) = (nil, false)
        case .failure(let error): (expectedId, answerable) = (error.messageId ?? Frame.unreadableMessageId, error.answerable)
        }
        if let failure = outcome.failure {
            if let rejection = failure as? DatabaseRejection {
                problems.append(Problem(kind: "database:\(rejection.code)", message: "the database would reject it: \(rejection)"))
            } else {
                problems.append(Problem(kind: "apply-error", message: "could not be applied: \(String(reflecting: failure))"))
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
            // A repeated id gets the earlier reply, checked when it was first sent.
            guard !outcome.repeated, let action = outcome.call?.action else { break }
            guard let schema = OCPPSchemas.schema(version, action: action, .response) else {
                problems.append(Problem(kind: "response-schema:\(action.prefix(40))", message: "a CALLRESULT for \(action.prefix(40)), which has no response schema"))
                break
            }
            if let violation = schema.validate(items[2]) {
                problems.append(Problem(kind: "response-schema:\(action)", message: "the \(action) response breaks its schema: \(violation.description)"))
            }
        case ("4", 5):
            guard case .string = items[2], case .string = items[3], case .object = items[4] else {
                problems.append(Problem(kind: "reply-shape", message: "a CALLERROR that is not [4, id, code, description, details]"))
                break
            }
        default:
            problems.append(Problem(kind: "reply-shape", message: "the reply is neither a CALLRESULT nor a CALLERROR"))
        }
        return problems
    }
}
