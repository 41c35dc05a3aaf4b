import Foundation
import PostgresNIO
@testable import Storage
import Testing
import TestSupport

@Suite struct MigrationTests {
    @Test func splitsScriptsRespectingQuotesAndComments() {
        let sql = """
            -- a comment; with a semicolon
            CREATE TABLE a (x text DEFAULT 'semi;colon');
            /* block; comment */ CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;
            SELECT 'it''s';
            """
        #expect(Migration.statements(sql).count == 3)
    }

    @Test func appliesOnceRecordsChecksumsAndRefusesEditedMigrations() async throws {
        let location = try await TestPostgres.shared.database(migrated: false)
        let logger = TestPostgres.shared.logger
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "CREATE TABLE one (id int);".write(toFile: dir + "/0001_one.sql", atomically: true, encoding: .utf8)
        try "CREATE TABLE two (id int); INSERT INTO two VALUES (1);".write(toFile: dir + "/0002_two.sql", atomically: true, encoding: .utf8)

        try await PostgresClient.with(location) { client in
            let migrator = Migrator(migrations: try Migration.load(directory: dir), logger: logger)
            #expect(try await migrator.pending(client).map(\.version) == [1, 2])
            // Two nodes migrating at once: the advisory lock serialises them, each migration runs once.
            async let a = migrator.migrate(client)
            async let b = migrator.migrate(client)
            let applied = try await a.count + b.count
            #expect(applied == 2)
            #expect(try await migrator.pending(client).isEmpty)
            let rows = try await client.query("SELECT count(*)::int FROM two", logger: logger)
            for try await n in rows.decode(Int.self) { #expect(n == 1) }

            try "CREATE TABLE one (id bigint);".write(toFile: dir + "/0001_one.sql", atomically: true, encoding: .utf8)
            let edited = Migrator(migrations: try Migration.load(directory: dir), logger: logger)
            await #expect(throws: MigrationError.self) { try await edited.migrate(client) }
        }
    }

    @Test func theRepositoryMigrationsApplyCleanly() async throws {
        let location = try await TestPostgres.shared.database(migrated: true)
        try await PostgresClient.with(location) { client in
            let migrator = Migrator(migrations: try Migration.load(directory: TestPostgres.migrationsDirectory), logger: TestPostgres.shared.logger)
            #expect(try await migrator.status(client).allSatisfy { $0.appliedAt != nil })
        }
    }
}
