import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import Storage

/// Where the database is: `--database-url`, or the embedded cluster under `--data-dir`.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (postgres://user:pass@host:5432/db). Env: VOLTAIC_DATABASE_URL. Without it, an embedded cluster under --data-dir is used.")
    var databaseURL: String?

    @Option(name: .customLong("data-dir"), help: "Directory for the embedded PostgreSQL cluster and the admin token. Env: VOLTAIC_DATA_DIR. Default: ./.voltaic")
    var dataDirectory: String?

    @Option(name: .customLong("migrations-dir"), help: "Directory of NNNN_name.sql migrations. Env: VOLTAIC_MIGRATIONS_DIR. Default: the checkout's Migrations/.")
    var migrationsDirectory: String?

    var env: [String: String] { ProcessInfo.processInfo.environment }

    var resolvedDataDirectory: String { dataDirectory ?? env["VOLTAIC_DATA_DIR"] ?? ".voltaic" }
    var resolvedURL: String? { databaseURL ?? env["VOLTAIC_DATABASE_URL"] }

    func migrations() throws -> String {
        if let dir = migrationsDirectory { return dir }
        guard let dir = Migration.defaultDirectory() else {
            throw ValidationError("cannot find the Migrations directory; pass --migrations-dir or set VOLTAIC_MIGRATIONS_DIR")
        }
        return dir
    }

    /// The database to use, starting the embedded cluster when no URL is given. The cluster is
    /// returned when this call started it (nil for an external database or a cluster already running,
    /// such as the one `voltaic serve` runs), so that the caller stops only what it started.
    func open(logger: Logger) async throws -> (DatabaseLocation, EmbeddedPostgres?) {
        if let url = resolvedURL { return (.url(url), nil) }
        let embedded = try EmbeddedPostgres(dataDirectory: resolvedDataDirectory + "/postgres", logger: logger)
        let wasRunning = embedded.isRunning()
        try embedded.start()
        let admin = try DatabaseLocation.socket(directory: embedded.socketDirectory, port: embedded.port, user: embedded.user, database: "postgres").clientConfiguration()
        try await PostgresClient.withClient(admin, logger: logger) { try await $0.createDatabaseIfNeeded(embedded.database, logger: logger) }
        return (embedded.location, wasRunning ? nil : embedded)
    }

    var isEmbedded: Bool { resolvedURL == nil }

    /// Runs `body` against a migrated database; an embedded cluster started for it is stopped after.
    func withDatabase<T: Sendable>(logger: Logger, migrate: Bool, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let (location, startedHere) = try await open(logger: logger)
        defer { startedHere?.stop() }
        let migrationsDir = try migrations()
        return try await PostgresClient.withClient(try location.clientConfiguration(), logger: logger) { client in
            let migrator = Migrator(migrations: try Migration.load(directory: migrationsDir), logger: logger)
            if migrate || isEmbedded {
                try await migrator.migrate(client)
            } else if !(try await migrator.pending(client)).isEmpty {
                throw ValidationError("the database has pending migrations; run 'voltaic migrate'")
            }
            return try await body(client)
        }
    }
}

func makeLogger(_ level: String? = nil) -> Logger {
    var logger = Logger(label: "voltaic")
    logger.logLevel = Logger.Level(rawValue: level ?? ProcessInfo.processInfo.environment["VOLTAIC_LOG_LEVEL"] ?? "info") ?? .info
    return logger
}
