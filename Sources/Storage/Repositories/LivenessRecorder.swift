public import CSMS
public import Foundation
public import Logging
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// A station's presence in the database: `last_seen_at`, and `online`/`connected_node`.
///
/// `last_seen_at` is written behind. A Heartbeat (and any frame) carries no data beyond "this station is
/// alive", so it is answered at once and its time is kept here, then written for every station seen, in
/// one statement, every `interval`. A write that fails keeps its times for the next one, and graceful
/// shutdown writes what is left. At most one interval of liveness is lost in a crash, never data.
///
/// Connects and disconnects are written at once but coalesced: while one write is in flight, the changes
/// that arrive wait, and the next write carries them all (the newest state per station). A storm of
/// reconnecting stations costs a few commits, not one each.
public final class LivenessRecorder: StationLiveness, Service {
    /// One caller's wait, ended once: by the write, or by the deadline if the write hangs.
    final class Waiter: Sendable {
        private let continuation: Mutex<CheckedContinuation<Void, Never>?>
        init(_ c: CheckedContinuation<Void, Never>) { continuation = Mutex(c) }
        func resume() { continuation.withLock { c in defer { c = nil }; return c }?.resume() }
    }

    struct Presence {
        var online: Bool
        var node: String?
        var at: Date
        /// The security profile a connection used (raising the station's, never lowering it), and its client
        /// certificate's fingerprint; -1 for a leave.
        var profile = -1
        var certificate: String?
    }
    private struct PresenceState {
        var pending: [String: Presence] = [:]
        /// Callers waiting for the write that carries their change.
        var committed: [Waiter] = []
        var waiter: CheckedContinuation<Void, Never>?
        var signalled = false
        /// The writer loop runs: only then is waiting for a write safe.
        var running = false
        var writes = 0
    }
    private let presence = Mutex(PresenceState())
    private let client: PostgresClient
    private let logger: Logger
    private let interval: Duration
    private let deadline: Duration
    private let pending = Mutex<[String: Date]>([:])

    public init(client: PostgresClient, logger: Logger, interval: Duration = .seconds(5), deadline: Duration = .seconds(5)) {
        self.client = client
        self.logger = logger
        self.interval = interval
        self.deadline = deadline
    }

    public func seen(stationId: String, at: Date) {
        pending.withLock { p in
            if let known = p[stationId], known >= at { return }
            p[stationId] = at
        }
    }

    /// Stations whose time waits to be written.
    public var backlog: Int { pending.withLock { $0.count } }

    /// A station connected to `node` (or, `online` false, left `node`): written with the next presence write.
    public func setPresence(stationId: String, online: Bool, node: String?, at: Date) {
        let waiter = presence.withLock { p -> CheckedContinuation<Void, Never>? in
            p.pending[stationId] = Presence(online: online, node: node, at: at)
            p.signalled = true
            defer { p.waiter = nil }
            return p.waiter
        }
        waiter?.resume()
    }

    /// Like `setPresence`, and returns once the write that carries it has ended (committed, or failed
    /// within the deadline: presence is not worth holding a station back for).
    public func setPresenceAndWait(stationId: String, online: Bool, node: String?, at: Date, profile: Int? = nil, certificate: String? = nil) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let mine = Waiter(c)
            let waiter = presence.withLock { p -> CheckedContinuation<Void, Never>? in
                p.pending[stationId] = Presence(online: online, node: node, at: at, profile: profile ?? -1, certificate: certificate)
                guard p.running else {
                    mine.resume()
                    return nil
                }
                p.committed.append(mine)
                // A write that hangs (a half-open connection ignores cancellation) must not hold the station.
                Task { [deadline] in
                    try? await Task.sleep(for: deadline)
                    mine.resume()
                }
                p.signalled = true
                defer { p.waiter = nil }
                return p.waiter
            }
            waiter?.resume()
        }
    }

    /// Whether the writer loop runs (before it does, a presence change is not waited for).
    public var isRunning: Bool { presence.withLock { $0.running } }

    /// Presence writes made since start (each carries every change that waited for it).
    public var presenceWrites: Int { presence.withLock { $0.writes } }

    /// Presence changes waiting to be written.
    public var presenceBacklog: Int { presence.withLock { $0.pending.count } }

    public func run() async throws {
        presence.withLock { $0.running = true }
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: self.interval) } catch { break }
                        await self.flush()
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        await self.nextPresenceSignal()
                        await self.flushPresence()
                    }
                }
            }
        }
        // From here no caller waits: the last write carries everyone who did.
        presence.withLock { $0.running = false }
        await flushPresence()
        await flush()
    }

    private func nextPresenceSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let ready = presence.withLock { p -> Bool in
                    if p.signalled || Task.isCancelled { p.signalled = false; return true }
                    p.waiter = c
                    return false
                }
                if ready { c.resume() }
            }
        } onCancel: {
            let waiter = presence.withLock { p in defer { p.waiter = nil }; return p.waiter }
            waiter?.resume()
        }
    }

    /// Writes every pending presence change, `chunk` stations per transaction in id order; a chunk that fails
    /// is kept for the next write, unless a newer change for the same station arrived meanwhile.
    public func flushPresence() async {
        let (batch, waiting) = presence.withLock { p in
            defer { p.pending = [:]; p.committed = [] }
            return (p.pending, p.committed)
        }
        defer { for w in waiting { w.resume() } }
        guard !batch.isEmpty else { return }
        presence.withLock { $0.writes += 1 }
        var failed = 0
        for ids in Self.chunks(of: batch.keys.sorted()) {
            let online = ids.map { batch[$0]!.online }
            let nodes = ids.map { batch[$0]!.node ?? "" }
            let times = ids.map { batch[$0]!.at }
            let profiles = ids.map { batch[$0]!.profile }
            let certificates = ids.map { batch[$0]!.certificate ?? "" }
            do {
                try await withDeadline(deadline) { [client, logger] in
                    try await client.withTransaction(logger: logger) { conn in
                        try await Self.lockInOrder(ids, on: conn, logger: logger)
                        // A connection takes the station (a new ownership epoch); a node that held it before is told by
                        // NOTIFY, at commit, and closes its old socket.
                        try await conn.query(
                            """
                            WITH before AS (SELECT id, connected_node FROM stations WHERE id = ANY(\(ids)::text[])),
                            changed AS (
                                UPDATE stations SET online = v.online, connected_node = CASE WHEN v.online THEN NULLIF(v.node, '') END,
                                    owner_epoch = stations.owner_epoch + CASE WHEN v.online THEN 1 ELSE 0 END,
                                    last_seen_at = CASE WHEN v.online AND (stations.last_seen_at IS NULL OR stations.last_seen_at < v.at) THEN v.at ELSE stations.last_seen_at END,
                                    -- Downgrade protection: a connection at a higher profile raises the station's floor.
                                    security_profile = CASE WHEN v.online AND v.profile >= 0 THEN GREATEST(stations.security_profile, v.profile) ELSE stations.security_profile END,
                                    last_security_profile = CASE WHEN v.online AND v.profile >= 0 THEN v.profile ELSE stations.last_security_profile END,
                                    last_certificate = CASE WHEN v.online AND v.profile >= 0 THEN NULLIF(v.certificate, '') ELSE stations.last_certificate END
                                FROM unnest(\(ids)::text[], \(online)::boolean[], \(nodes)::text[], \(times)::timestamptz[], \(profiles)::int[], \(certificates)::text[])
                                    AS v(id, online, node, at, profile, certificate)
                                WHERE stations.id = v.id
                                  -- Leaving: only the node that holds the station may say it left (it may be on another by now).
                                  AND (v.online OR stations.connected_node IS NOT DISTINCT FROM NULLIF(v.node, ''))
                                RETURNING stations.id, v.online, v.node, stations.owner_epoch
                            )
                            SELECT pg_notify('voltaic', json_build_object('kind', 'taken', 'station', c.id, 'node', c.node, 'epoch', c.owner_epoch)::text)
                            FROM changed c JOIN before b ON b.id = c.id
                            WHERE c.online AND b.connected_node IS NOT NULL AND b.connected_node IS DISTINCT FROM c.node
                            """,
                            logger: logger
                        ).collect()
                    }
                }
            } catch {
                failed += ids.count
                logger.warning("could not write station presence; kept for the next write", metadata: ["stations": "\(ids.count)", "error.type": "\(String(reflecting: error))"])
                presence.withLock { p in
                    for id in ids where p.pending[id] == nil { p.pending[id] = batch[id] }
                    p.signalled = true
                }
            }
        }
        if failed > 0 { try? await Task.sleep(for: .seconds(1)) }
    }

    /// Writes every pending time, `chunk` stations per transaction in id order; a chunk that fails is kept
    /// (the newer of two times wins).
    public func flush() async {
        let batch = pending.withLock { p in defer { p = [:] }; return p }
        guard !batch.isEmpty else { return }
        for ids in Self.chunks(of: batch.keys.sorted()) {
            let times = ids.map { batch[$0]! }
            do {
                try await withDeadline(deadline) { [client, logger] in
                    try await client.withTransaction(logger: logger) { conn in
                        try await Self.lockInOrder(ids, on: conn, logger: logger)
                        try await conn.query(
                            """
                            UPDATE stations SET last_seen_at = v.at
                            FROM unnest(\(ids)::text[], \(times)::timestamptz[]) AS v(id, at)
                            WHERE stations.id = v.id AND (stations.last_seen_at IS NULL OR stations.last_seen_at < v.at)
                            """,
                            logger: logger
                        )
                    }
                }
            } catch {
                logger.warning("could not write station liveness; kept for the next write", metadata: ["stations": "\(ids.count)", "error.type": "\(String(reflecting: error))"])
                pending.withLock { p in
                    for id in ids { p[id] = max(p[id] ?? batch[id]!, batch[id]!) }
                }
            }
        }
    }

    /// Stations per write transaction: short transactions, so that a boot batch waiting for one of their rows
    /// waits milliseconds, not seconds.
    static let chunk = 1000

    static func chunks(of ids: [String]) -> [[String]] {
        stride(from: 0, to: ids.count, by: chunk).map { Array(ids[$0..<min($0 + chunk, ids.count)]) }
    }

    /// Locks the stations' rows in id order, as every writer of many stations does (boots too), so that two
    /// writers of overlapping sets wait for each other instead of deadlocking (an UPDATE … FROM locks rows
    /// in whatever order its join yields them).
    static func lockInOrder(_ ids: [String], on conn: PostgresConnection, logger: Logger) async throws {
        try await conn.query("SELECT 1 FROM stations WHERE id = ANY(\(ids)::text[]) ORDER BY id FOR NO KEY UPDATE", logger: logger)
    }
}
