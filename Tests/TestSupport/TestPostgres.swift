import Foundation
public import Logging
public import PostgresNIO
public import Storage

#if canImport(Glibc)
import Glibc
#endif

/// One embedded PostgreSQL cluster per test process, started through the same launcher `voltaic serve`
/// uses, and a fresh database for every test that asks.
public actor TestPostgres {
    public static let shared = TestPostgres()

    private var cluster: EmbeddedPostgres?
    private var counter = 0
    public nonisolated let logger: Logger = {
        var l = Logger(label: "voltaic-tests")
        l.logLevel = .warning
        return l
    }()

    /// The repository's Migrations directory.
    public nonisolated static var migrationsDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Migrations").path
    }

    /// A new empty database (migrated unless told otherwise).
    public func database(migrated: Bool = true) async throws -> DatabaseLocation {
        let cluster = try startCluster()
        counter += 1
        let name = "test_\(counter)"
        let admin = try DatabaseLocation.socket(directory: cluster.socketDirectory, port: cluster.port, user: cluster.user, database: "postgres").clientConfiguration()
        try await PostgresClient.withClient(admin, logger: logger) { try await $0.createDatabaseIfNeeded(name, logger: self.logger) }
        let location = DatabaseLocation.socket(directory: cluster.socketDirectory, port: cluster.port, user: cluster.user, database: name)
        if migrated {
            let migrator = Migrator(migrations: try Migration.load(directory: Self.migrationsDirectory), logger: logger)
            _ = try await PostgresClient.withClient(try location.clientConfiguration(), logger: logger) { try await migrator.migrate($0) }
        }
        return location
    }

    private func startCluster() throws -> EmbeddedPostgres {
        if let cluster { return cluster }
        let dir = "/tmp/voltaic-swift-tests-\(getpid())"
        let c = try EmbeddedPostgres(dataDirectory: dir, logger: logger)
        try c.start()
        cluster = c
        runningCluster = c
        atexit {
            runningCluster?.stop()
            if let dir = runningCluster?.dataDirectory { try? FileManager.default.removeItem(atPath: dir) }
        }
        return c
    }
}

nonisolated(unsafe) private var runningCluster: EmbeddedPostgres?

extension PostgresClient {
    /// Runs `body` with a client on `location`.
    public static func with<T: Sendable>(_ location: DatabaseLocation, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        // Few connections per test: many tests run at once on one cluster.
        var configuration = try location.clientConfiguration()
        configuration.options.maximumConnections = 4
        return try await withClient(configuration, logger: TestPostgres.shared.logger, body)
    }
}

extension PostgresClient {
    /// The single value of a query that must return exactly one row (a test that reads nothing fails).
    public func scalar<T: PostgresDecodable & Sendable>(_ type: T.Type, _ query: PostgresQuery) async throws -> T {
        var values: [T] = []
        for try await v in try await self.query(query, logger: TestPostgres.shared.logger).decode(T.self) { values.append(v) }
        guard values.count == 1 else { throw ScalarQueryError(rows: values.count, sql: query.sql) }
        return values[0]
    }
}

public struct ScalarQueryError: Error, CustomStringConvertible {
    public let rows: Int
    public let sql: String
    public var description: String { "expected exactly one row, got \(rows): \(sql)" }
}
