import Foundation
public import PostgresNIO

extension PostgresClient {
    /// Runs `body` with a client whose connection pool runs for the duration, for one-shot CLI work.
    public static func withClient<T: Sendable>(
        _ configuration: PostgresClient.Configuration, logger: Logger,
        _ body: @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// Creates `database` unless it exists (connect to another database, such as `postgres`, to call this).
    public func createDatabaseIfNeeded(_ database: String, logger: Logger) async throws {
        let rows = try await query("SELECT 1 FROM pg_database WHERE datname = \(database)", logger: logger)
        var exists = false
        for try await _ in rows { exists = true }
        guard !exists else { return }
        let quoted = "\"" + database.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        try await query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoted)"), logger: logger)
    }
}
