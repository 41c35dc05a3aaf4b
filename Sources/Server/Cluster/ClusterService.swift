import Foundation
import HTTPTypes
import Logging
import NIOWebSocket
import OCPP
import PostgresNIO
import ServiceLifecycle
import Storage
import Synchronization

/// This node's place among the nodes that share one PostgreSQL (no other broker):
/// - a lease (`nodes`) renewed every 5 s; a node whose lease lapses is dead, and any node's sweep marks its
///   stations offline and fails the calls asked of it;
/// - LISTEN on channel `voltaic` (one pooled connection held for it): `taken` (another node holds a station now:
///   the old socket here is closed), `call` (make a CALL for another node), `answer` (a call asked elsewhere was
///   answered);
/// - on shutdown, the stations' sockets are closed with 1012 (they reconnect, through the load balancer, to
///   another node), then the node leaves: what it held is offline, its lease is gone.
final class ClusterNode: Service, Sendable {
    let id: String
    let name: String
    let repository: ClusterRepository
    let registry: StationRegistry
    let dispatcher: Mutex<CommandDispatcher?> = Mutex(nil)
    let logger: Logger
    let ready: StartupGate
    let databaseTimeout: Duration
    let lease: Duration = .seconds(15)
    private let waiters = Mutex<[UUID: CheckedContinuation<Void, Never>]>([:])

    init(id: String, name: String, repository: ClusterRepository, registry: StationRegistry, databaseTimeout: Duration, logger: Logger, ready: StartupGate) {
        self.id = id
        self.name = name
        self.repository = repository
        self.registry = registry
        self.databaseTimeout = databaseTimeout
        self.logger = logger
        self.ready = ready
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await self.ready.wait()
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.leaseLoop() }
                group.addTask { await self.listenLoop() }
                group.addTask { await self.takeLoop() }
            }
        }
        await shutdown()
    }

    /// Registers the lease before anything is accepted (called from `beforeServerStarts`).
    func join() async throws {
        try await Deadline.run(within: databaseTimeout) { [repository, id, name, lease] in try await repository.renew(node: id, name: name, lease: lease) }
    }

    func leaseLoop() async {
        var lastSweep = ContinuousClock.now
        while !Task.isCancelled {
            do {
                try await Deadline.run(within: databaseTimeout) { [repository, id, name, lease] in try await repository.renew(node: id, name: name, lease: lease) }
                let mine = Array(registry.connectedIds)
                let back = try await Deadline.run(within: databaseTimeout) { [repository, id] in try await repository.reassert(node: id, stationIds: mine) }
                if back > 0 { logger.notice("stations this node holds written back as held here", metadata: ["stations": "\(back)"]) }
                if ContinuousClock.now - lastSweep >= .seconds(5) {
                    lastSweep = .now
                    let swept = try await Deadline.run(within: databaseTimeout) { [repository] in try await repository.sweep() }
                    if swept.stationsOffline > 0 || swept.callsFailed > 0 {
                        logger.notice("dead nodes swept", metadata: ["stations.offline": "\(swept.stationsOffline)", "calls.failed": "\(swept.callsFailed)"])
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("node lease not renewed", metadata: ["error": "\(String(reflecting: error).prefix(200))"])
            }
            try? await Task.sleep(for: .seconds(5))
        }
    }

    func listenLoop() async {
        while !Task.isCancelled {
            do {
                try await repository.listenClient.withConnection { conn in
                    try await conn.listen(on: ClusterRepository.channel) { notifications in
                        // Whatever was missed while not listening.
                        self.takeSoon()
                        for try await n in notifications { self.handle(n.payload) }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("LISTEN lost; listening again", metadata: ["error": "\(String(reflecting: error).prefix(200))"])
                for id in waiters.withLock({ Array($0.keys) }) { wake(id) }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    struct Note: Decodable {
        var kind: String
        var node: String?
        var station: String?
        var id: UUID?
    }

    func handle(_ payload: String) {
        guard let note = try? JSONDecoder().decode(Note.self, from: Data(payload.utf8)) else { return }
        switch note.kind {
        case "taken":
            guard let station = note.station, let node = note.node, node != id, let session = registry.session(station) else { return }
            // Notifications may arrive late: the station may have come back here since. PostgreSQL says who holds it.
            Task {
                let holder = try? await Deadline.run(within: databaseTimeout) { [repository] in try await repository.currentHolder(of: station) }
                guard let holder, holder != id, self.registry.session(station) === session else { return }
                logger.notice("station taken by another node; closing its socket here", metadata: ["ocpp.station.id": "\(station)", "node": "\(node)"])
                await session.close(code: .policyViolation, reason: "replaced by a connection on another node")
            }
        case "call":
            guard note.node == id else { return }
            takeSoon(id: note.id)
        case "answer":
            guard note.node == id, let callId = note.id else { return }
            wake(callId)
        default:
            return
        }
    }

    private let taking = Mutex<Bool>(false)

    /// Takes the calls asked of this node (on a notification, and every 2 s in case one was missed).
    func takeSoon(id callId: UUID? = nil) {
        Task { await self.takeCalls(id: callId) }
    }

    func takeLoop() async {
        while !Task.isCancelled {
            await takeCalls(id: nil)
            try? await Task.sleep(for: .seconds(2))
        }
    }

    func takeCalls(id callId: UUID?) async {
        guard let dispatcher = dispatcher.withLock({ $0 }) else { return }
        let calls: [ClusterRepository.NodeCall]
        do {
            calls = try await Deadline.run(within: databaseTimeout) { [repository, id] in try await repository.take(node: id, id: callId) }
        } catch {
            logger.warning("calls asked of this node not taken", metadata: ["error": "\(String(reflecting: error).prefix(200))"])
            return
        }
        for call in calls {
            Task {
                let answer: RemoteAnswer
                if call.deadline <= Date() {
                    answer = RemoteAnswer(problem: .init(status: 504, title: "Station did not answer", detail: "the call's deadline passed before it was made"))
                } else if let payload = try? JSONParser.parse(Array(call.payload.utf8)) {
                    do throws(Problem) {
                        answer = RemoteAnswer(try await dispatcher.send(stationId: call.stationId, action: call.action, payload: payload, forward: false))
                    } catch {
                        answer = RemoteAnswer(problem: .init(status: Int(error.status.code), title: error.title, detail: error.detail))
                    }
                } else {
                    answer = RemoteAnswer(problem: .init(status: 400, title: "Invalid command payload", detail: "not JSON"))
                }
                do {
                    let text = String(decoding: try JSONEncoder().encode(answer), as: UTF8.self)
                    try await Deadline.run(within: databaseTimeout) { [repository] in try await repository.answer(call, with: text) }
                } catch {
                    logger.warning("a call's answer for another node was not recorded", metadata: ["call.id": "\(call.id)", "error": "\(error)"])
                }
            }
        }
    }

    // MARK: Asking another node

    /// Makes a CALL through the node that holds the station: nil when no live node holds it.
    func forward(stationId: String, action: String, payload: JSONValue, within: Duration) async throws(Problem) -> CommandDispatcher.Answer? {
        let holder: (node: String, alive: Bool)?
        do {
            holder = try await Deadline.run(within: databaseTimeout) { [repository] in try await repository.holder(of: stationId) }
        } catch {
            throw Problem(.serviceUnavailable, "Database unavailable", "the station's node could not be looked up")
        }
        guard let holder, holder.alive, holder.node != id else { return nil }
        let callId = UUID()
        do {
            try await Deadline.run(within: databaseTimeout) { [repository, id] in
                try await repository.ask(id: callId, stationId: stationId, origin: id, target: holder.node, action: action, payload: payload.serialized, within: within)
            }
        } catch {
            throw Problem(.serviceUnavailable, "Database unavailable", "the call could not be handed to the station's node")
        }
        // The holder's call may take `within`; a second more for the answer to travel. Past it the caller is told the
        // station did not answer (504), well inside the API's own deadline.
        let deadline = ContinuousClock.now + within + .seconds(1)
        while ContinuousClock.now < deadline {
            if let text = try? await repository.answer(of: callId),
               let answer = try? JSONDecoder().decode(RemoteAnswer.self, from: Data(text.utf8)) {
                return try answer.dispatcherAnswer()
            }
            await wait(callId, upTo: .milliseconds(500))
        }
        throw Problem(.gatewayTimeout, "Station did not answer", "\(action) to '\(stationId)' (held by another node) timed out")
    }

    private func wait(_ callId: UUID, upTo limit: Duration) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            waiters.withLock { $0[callId] = c }
            Task {
                try? await Task.sleep(for: limit)
                self.wake(callId)
            }
        }
    }

    private func wake(_ callId: UUID) {
        waiters.withLock { $0.removeValue(forKey: callId) }?.resume()
    }

    // MARK: Leaving

    func shutdown() async {
        let sessions = registry.connectedIds.compactMap { registry.session($0) }
        logger.notice("leaving the cluster: closing station sockets", metadata: ["stations": "\(sessions.count)"])
        await withTaskGroup(of: Void.self) { group in
            for s in sessions { group.addTask { await s.close(code: .unknown(1012), reason: "service restart; reconnect") } }
        }
        do {
            try await Deadline.run(within: databaseTimeout) { [repository, id] in try await repository.leave(node: id) }
        } catch {
            logger.warning("could not leave the cluster cleanly; the lease lapses instead", metadata: ["error": "\(error)"])
        }
    }
}

/// A call's outcome as it travels between nodes.
struct RemoteAnswer: Codable {
    struct Failure: Codable {
        var code: String
        var description: String
        var details: String
    }

    struct Trouble: Codable {
        var status: Int
        var title: String
        var detail: String?
    }

    var version: String?
    var result: String?
    var error: Failure?
    var responseViolation: String?
    var problem: Trouble?

    init(problem: Trouble) { self.problem = problem }

    init(_ a: CommandDispatcher.Answer) {
        version = a.version.rawValue
        responseViolation = a.responseViolation
        switch a.answer {
        case .result(let r): result = r.serialized
        case .error(let code, let description, let details): error = Failure(code: code, description: description, details: details.serialized)
        }
    }

    func dispatcherAnswer() throws(Problem) -> CommandDispatcher.Answer {
        if let problem {
            throw Problem(HTTPResponse.Status(code: problem.status), problem.title, problem.detail)
        }
        guard let version = version.flatMap(OCPPVersion.init(rawValue:)) else { throw Problem(.badGateway, "Invalid answer", "the station's node answered without a version") }
        if let result, let value = try? JSONParser.parse(Array(result.utf8)) {
            return .init(version: version, answer: .result(value), responseViolation: responseViolation)
        }
        if let error {
            let details = (try? JSONParser.parse(Array(error.details.utf8))) ?? .object([:])
            return .init(version: version, answer: .error(code: error.code, description: error.description, details: details), responseViolation: nil)
        }
        throw Problem(.badGateway, "Invalid answer", "the station's node answered nothing")
    }
}
