public import Foundation
public import Logging
public import PostgresNIO

/// The cluster's state in PostgreSQL (Migrations/0011): node leases, who holds which station, and the calls one node
/// asks another to make. Notifications go on channel `voltaic` as JSON `{"kind": …}`.
public struct ClusterRepository: Sendable {
    public let client: PostgresClient
    /// Where LISTEN runs: a session of its own (`client` unless a pooler in transaction mode stands in front of it).
    public var listenClient: PostgresClient
    public let logger: Logger
    public static let channel = "voltaic"

    public init(client: PostgresClient, logger: Logger, listenClient: PostgresClient? = nil) {
        self.client = client
        self.listenClient = listenClient ?? client
        self.logger = logger
    }

    // MARK: Nodes

    /// Registers or renews this node's lease.
    public func renew(node: String, name: String, lease: Duration) async throws {
        try await client.query(
            """
            INSERT INTO nodes (id, name, lease_until) VALUES (\(node), \(name), now() + \(lease.seconds) * interval '1 second')
            ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until WHERE nodes.left_at IS NULL
            """,
            logger: logger
        )
    }

    /// A node leaving on purpose: its stations are offline (those it still holds) and its lease is gone.
    public func leave(node: String) async throws {
        try await client.withTransaction(logger: logger) { conn in
            try await conn.query("UPDATE stations SET online = false, connected_node = NULL WHERE connected_node = \(node)", logger: logger)
            try await conn.query("UPDATE nodes SET left_at = now(), lease_until = now() WHERE id = \(node)", logger: logger)
        }
    }

    public struct Sweep: Sendable, Hashable {
        public var stationsOffline: Int
        public var callsFailed: Int
    }

    /// What dead nodes (lease lapsed, or never registered) leave behind: their stations go offline, the calls asked of
    /// them fail at once (their origins are told), and nodes dead for an hour are forgotten.
    public func sweep() async throws -> Sweep {
        try await client.withTransaction(logger: logger) { conn in
            let offline = try await conn.query(
                """
                UPDATE stations SET online = false, connected_node = NULL
                WHERE connected_node IS NOT NULL AND connected_node NOT IN (SELECT id FROM nodes WHERE lease_until > now())
                RETURNING id
                """,
                logger: logger
            ).collect().count
            let failed = try await conn.query(
                """
                WITH f AS (
                    UPDATE node_calls SET state = 'answered',
                        answer = jsonb_build_object('problem', jsonb_build_object('status', 409, 'title', 'Station offline',
                                                    'detail', 'the node that held the station stopped'))
                    -- A call already taken may still be made by its node (the lease lapsed under a slow database): only
                    -- one past its deadline is failed; the node's answer, if it comes, is then not recorded.
                    WHERE (state = 'pending' OR (state = 'taken' AND deadline < now()))
                      AND target_node NOT IN (SELECT id FROM nodes WHERE lease_until > now())
                    RETURNING id, origin_node
                )
                SELECT pg_notify(\(Self.channel), json_build_object('kind', 'answer', 'id', f.id, 'node', f.origin_node)::text) FROM f
                """,
                logger: logger
            ).collect().count
            try await conn.query("DELETE FROM nodes WHERE lease_until < now() - interval '1 hour'", logger: logger)
            try await conn.query("DELETE FROM node_calls WHERE created_at < now() - interval '1 hour'", logger: logger)
            return Sweep(stationsOffline: offline, callsFailed: failed)
        }
    }

    /// The node that holds the station now, per PostgreSQL.
    public func currentHolder(of stationId: String) async throws -> String? {
        for try await node in try await client.query("SELECT connected_node FROM stations WHERE id = \(stationId)", logger: logger).decode(String?.self) {
            return node
        }
        return nil
    }

    /// Writes this node back as the holder of stations it holds that PostgreSQL lost track of (the sweep took them
    /// while this node's lease lapsed under a slow database). Never takes a station another node holds.
    public func reassert(node: String, stationIds: [String]) async throws -> Int {
        guard !stationIds.isEmpty else { return 0 }
        return try await client.query(
            """
            UPDATE stations SET online = true, connected_node = \(node)
            WHERE id = ANY(\(stationIds)::text[]) AND connected_node IS NULL AND decommissioned_at IS NULL RETURNING id
            """,
            logger: logger
        ).collect().count
    }

    /// Whether a node's lease is current.
    public func alive(node: String) async throws -> Bool {
        try await !client.query("SELECT 1 FROM nodes WHERE id = \(node) AND lease_until > now()", logger: logger).collect().isEmpty
    }

    /// The node that holds the station and whether its lease is current; nil when no node holds it.
    public func holder(of stationId: String) async throws -> (node: String, alive: Bool)? {
        for try await (node, alive) in try await client.query(
            """
            SELECT s.connected_node, coalesce(n.lease_until > now(), false) FROM stations s LEFT JOIN nodes n ON n.id = s.connected_node
            WHERE s.id = \(stationId) AND s.connected_node IS NOT NULL
            """,
            logger: logger
        ).decode((String, Bool).self) { return (node, alive) }
        return nil
    }

    // MARK: Calls between nodes

    /// Asks `target` to make a call; it is told by NOTIFY.
    public func ask(id: UUID, stationId: String, origin: String, target: String, action: String, payload: String, within: Duration) async throws {
        try await client.withTransaction(logger: logger) { conn in
            try await conn.query(
                """
                INSERT INTO node_calls (id, station_id, origin_node, target_node, action, payload, deadline)
                VALUES (\(id), \(stationId), \(origin), \(target), \(action), \(payload)::jsonb, now() + \(within.seconds) * interval '1 second')
                """,
                logger: logger
            )
            try await conn.query(
                "SELECT pg_notify(\(Self.channel), json_build_object('kind', 'call', 'id', \(id)::text, 'node', \(target)::text)::text)", logger: logger
            )
        }
    }

    public struct NodeCall: Sendable {
        public var id: UUID
        public var stationId: String
        public var origin: String
        public var action: String
        public var payload: String
        public var deadline: Date
    }

    /// Takes the calls asked of `node` that nobody took yet (each is taken once).
    public func take(node: String, id: UUID? = nil) async throws -> [NodeCall] {
        var out: [NodeCall] = []
        for try await (cid, station, origin, action, payload, deadline) in try await client.query(
            """
            UPDATE node_calls SET state = 'taken' WHERE id IN (
                SELECT id FROM node_calls WHERE target_node = \(node) AND state = 'pending' AND (\(id)::uuid IS NULL OR id = \(id))
                ORDER BY created_at FOR UPDATE SKIP LOCKED
            ) RETURNING id, station_id, origin_node, action, payload::text, deadline
            """,
            logger: logger
        ).decode((UUID, String, String, String, String, Date).self) {
            out.append(NodeCall(id: cid, stationId: station, origin: origin, action: action, payload: payload, deadline: deadline))
        }
        return out
    }

    /// Records a call's answer (JSON text) and tells its origin.
    public func answer(_ call: NodeCall, with answer: String) async throws {
        try await client.withTransaction(logger: logger) { conn in
            // Answered once: a call the sweep failed meanwhile keeps that answer (its origin has it).
            let recorded = try await conn.query(
                "UPDATE node_calls SET state = 'answered', answer = \(answer)::jsonb WHERE id = \(call.id) AND state = 'taken' RETURNING id", logger: logger
            ).collect()
            guard !recorded.isEmpty else { return }
            try await conn.query(
                "SELECT pg_notify(\(Self.channel), json_build_object('kind', 'answer', 'id', \(call.id)::text, 'node', \(call.origin)::text)::text)",
                logger: logger
            )
        }
    }

    /// A call's answer, once it has one.
    public func answer(of id: UUID) async throws -> String? {
        for try await answer in try await client.query(
            "SELECT answer::text FROM node_calls WHERE id = \(id) AND state = 'answered'", logger: logger
        ).decode(String.self) { return answer }
        return nil
    }

    /// Tells the other nodes that `node` now holds these stations: a node that still holds an older socket for one
    /// closes it.
    public func announceTaken(stationIds: [String], node: String) async throws {
        guard !stationIds.isEmpty else { return }
        try await client.query(
            """
            SELECT pg_notify(\(Self.channel), json_build_object('kind', 'taken', 'station', s, 'node', \(node)::text)::text)
            FROM unnest(\(stationIds)::text[]) AS s
            """,
            logger: logger
        )
    }
}
