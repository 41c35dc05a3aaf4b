import ArgumentParser
import Foundation
import PostgresNIO
import Storage

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations, or list them with --status.")

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "List migrations and whether each is applied; change nothing.")
    var status = false

    func run() async throws {
        let logger = makeLogger()
        let migrationsDir = try database.migrations()
        let (location, startedHere) = try await database.open(logger: logger)
        defer { startedHere?.stop() }
        let migrator = Migrator(migrations: try Migration.load(directory: migrationsDir), logger: logger)
        let showStatus = status
        try await PostgresClient.withClient(try location.clientConfiguration(), logger: logger) { client in
            if showStatus {
                for s in try await migrator.status(client) {
                    let when = s.appliedAt.map { "applied \($0)" } ?? "pending"
                    print(String(format: "%04d  %@  %@", s.migration.version, s.migration.name.padding(toLength: 32, withPad: " ", startingAt: 0), when))
                }
            } else {
                let applied = try await migrator.migrate(client)
                print(applied.isEmpty ? "Database is up to date." : "Applied \(applied.count) migration(s): " + applied.map { "\($0.version)_\($0.name)" }.joined(separator: ", "))
            }
        }
    }
}
