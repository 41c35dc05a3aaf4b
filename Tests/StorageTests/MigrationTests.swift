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
            // Reading the status of an empty database creates nothing: the migrations table is made under the lock.
            #expect(try await migrator.pending(client).map(\.version) == [1, 2])
            #expect(try await client.scalar(Bool.self, "SELECT to_regclass('voltaic_migrations') IS NULL"))
            // Two nodes migrating an empty database at once, each with its own connection pool: the advisory
            // lock serialises them (the table itself included), each migration runs once.
            try await PostgresClient.with(location) { other in
                async let a = migrator.migrate(client)
                async let b = migrator.migrate(other)
                let applied = try await a.count + b.count
                #expect(applied == 2)
            }
            #expect(try await migrator.pending(client).isEmpty)
            #expect(try await client.scalar(Int.self, "SELECT count(*)::int FROM two") == 1)

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
