public import Foundation
public import Logging
public import PostgresNIO

/// Applies migrations in order, each in its own transaction, recorded with its checksum.
/// A session-level advisory lock makes concurrent migrators (several nodes starting at once) safe.
public struct Migrator: Sendable {
    public let migrations: [Migration]
    let logger: Logger
    static let lockKey: Int64 = 0x766F_6C74_6169  // "voltai"

    public init(migrations: [Migration], logger: Logger) {
        self.migrations = migrations
        self.logger = logger
    }

    public struct Status: Sendable {
        public let migration: Migration
        public let appliedAt: Date?
    }

    /// Every migration with when it was applied (nil = pending). Throws when an applied migration's file changed.
    public func status(_ client: PostgresClient) async throws -> [Status] {
        // Only reads: with no table yet, every migration is pending. Creating the table is migrate's,
        // under the lock.
        try await client.withConnection { conn in try await statuses(conn) }
    }

    /// Pending migrations, without applying anything.
    public func pending(_ client: PostgresClient) async throws -> [Migration] {
        try await status(client).filter { $0.appliedAt == nil }.map(\.migration)
    }

    /// Applies every pending migration; returns those applied.
    @discardableResult
    public func migrate(_ client: PostgresClient) async throws -> [Migration] {
        try await client.withConnection { conn in
            // The lock comes first: two nodes creating the table at once would race in the catalog.
            try await conn.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
            do {
                try await ensureTable(conn)
                var applied: [Migration] = []
                for status in try await statuses(conn) where status.appliedAt == nil {
                    let m = status.migration
                    try await conn.query("BEGIN", logger: logger)
                    do {
                        for statement in Migration.statements(m.sql) {
                            try await conn.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await conn.query(
                            "INSERT INTO voltaic_migrations (version, name, checksum) VALUES (\(m.version), \(m.name), \(m.checksum))",
                            logger: logger
                        )
                        try await conn.query("COMMIT", logger: logger)
                    } catch {
                        _ = try? await conn.query("ROLLBACK", logger: logger)
                        throw MigrationError("migration \(m.version)_\(m.name) failed: \(String(reflecting: error))")
                    }
                    logger.info("applied migration", metadata: ["db.migration": "\(m.version)_\(m.name)"])
                    applied.append(m)
                }
                try await conn.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return applied
            } catch {
                _ = try? await conn.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    private func ensureTable(_ conn: PostgresConnection) async throws {
        try await conn.query(
            """
            CREATE TABLE IF NOT EXISTS voltaic_migrations (
                version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())
            """,
            logger: logger
        )
    }

    private func statuses(_ conn: PostgresConnection) async throws -> [Status] {
        var applied: [Int: (String, String, Date)] = [:]
        let exists = try await conn.query("SELECT to_regclass('voltaic_migrations') IS NOT NULL", logger: logger)
        for try await present in exists.decode(Bool.self) where !present { return migrations.map { Status(migration: $0, appliedAt: nil) } }
        let rows = try await conn.query("SELECT version, name, checksum, applied_at FROM voltaic_migrations", logger: logger)
        for try await (version, name, checksum, at) in rows.decode((Int, String, String, Date).self) {
            applied[version] = (name, checksum, at)
        }
        let known = Set(migrations.map(\.version))
        if let unknown = applied.keys.filter({ !known.contains($0) }).min() {
            throw MigrationError("the database has migration \(unknown) (\(applied[unknown]!.0)), which this build does not know; run a newer voltaic")
        }
        return try migrations.map { m in
            guard let (_, checksum, at) = applied[m.version] else { return Status(migration: m, appliedAt: nil) }
            guard checksum == m.checksum else {
                throw MigrationError("migration \(m.version)_\(m.name) was changed after it was applied (checksum \(checksum.prefix(12)) in the database, \(m.checksum.prefix(12)) on disk); add a new migration instead of editing an applied one")
            }
            return Status(migration: m, appliedAt: at)
        }
    }
}
