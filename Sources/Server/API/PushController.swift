import Foundation
import Hummingbird
import Storage

/// `/api/v1/ocpi/pushes`: what was pushed to OCPI partners, what waits, and the dead letters, which an admin
/// replays once the cause is mended.
struct PushController: Sendable {
    let pushes: PushRepository

    func addRoutes(to group: RouterGroup<AdminContext>) {
        group.get("ocpi/pushes", use: list)
        group.get("ocpi/pushes/{id}", use: get)
        group.post("ocpi/pushes/{id}/replay", use: replay)
    }

    struct PushView: Codable, ResponseEncodable, Sendable {
        var id: Int64
        var partnerId: Int64
        var module: String
        var method: String
        var target: String
        var state: PushRepository.State
        var attempts: Int
        var lastError: String?
        var requestId: String
        var createdAt: Date
        var nextAttemptAt: Date
        var deliveredAt: Date?

        /// Every key, `null` when empty: a client sees the same shape for every push.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(partnerId, forKey: .partnerId)
            try c.encode(module, forKey: .module)
            try c.encode(method, forKey: .method)
            try c.encode(target, forKey: .target)
            try c.encode(state, forKey: .state)
            try c.encode(attempts, forKey: .attempts)
            try c.encode(lastError, forKey: .lastError)
            try c.encode(requestId, forKey: .requestId)
            try c.encode(createdAt, forKey: .createdAt)
            try c.encode(nextAttemptAt, forKey: .nextAttemptAt)
            try c.encode(deliveredAt, forKey: .deliveredAt)
        }

        init(_ p: PushRepository.Push) {
            id = p.id
            partnerId = p.partnerId
            module = p.module
            method = p.method
            target = p.target
            state = p.state
            attempts = p.attempts
            lastError = p.lastError
            requestId = p.requestId
            createdAt = p.createdAt
            nextAttemptAt = p.nextAttemptAt
            deliveredAt = p.deliveredAt
        }
    }

    struct ListOf: Codable, ResponseEncodable, Sendable { var items: [PushView] }

    @Sendable func list(_ request: Request, context: AdminContext) async throws -> ListOf {
        let q = request.uri.queryParameters
        var state: PushRepository.State?
        if let raw = q.get("state") {
            guard let s = PushRepository.State(rawValue: raw) else {
                throw Problem(.badRequest, "Invalid state", "state: one of \(PushRepository.State.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            state = s
        }
        let partnerId = try Self.positive(q.get("partnerId"), "partnerId")
        let after = try Self.positive(q.get("after"), "after") ?? 0
        let limit = try Self.positive(q.get("limit"), "limit").map { Int(min($0, 1000)) } ?? 100
        return ListOf(items: try await pushes.list(state: state, partnerId: partnerId, afterId: after, limit: limit).map(PushView.init))
    }

    @Sendable func get(_ request: Request, context: AdminContext) async throws -> PushView {
        let id = try Self.id(context)
        guard let p = try await pushes.push(id: id) else { throw Self.noSuch(id) }
        return PushView(p)
    }

    @Sendable func replay(_ request: Request, context: AdminContext) async throws -> PushView {
        let id = try Self.id(context)
        context.audit.set(action: "ReplayOCPIPush", target: String(id))
        switch try await pushes.replay(id: id) {
        case .replayed(let p): return PushView(p)
        case .notFound: throw Self.noSuch(id)
        case .notDead(let state): throw Problem(.conflict, "Not a dead letter", "push \(id) is \(state.rawValue); only a dead letter is replayed")
        }
    }

    static func positive(_ raw: String?, _ name: String) throws -> Int64? {
        guard let raw else { return nil }
        guard let n = Int64(raw), n > 0 else { throw Problem(.badRequest, "Invalid \(name)", "\(name) is a positive integer") }
        return n
    }

    static func id(_ context: AdminContext) throws -> Int64 {
        guard let id = Int64(try context.parameters.require("id")), id > 0 else { throw Problem(.badRequest, "Invalid push id", "a push id is a positive integer") }
        return id
    }

    static func noSuch(_ id: Int64) -> Problem { Problem(.notFound, "No such push", "no OCPI push \(id)") }
}
