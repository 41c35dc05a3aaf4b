import ArgumentParser
import Foundation
import OCPP
import Storage

struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Add, list and revoke admin API keys (roles admin, operator, viewer).", subcommands: [Add.self, List.self, Revoke.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make an API key; its secret is printed once and kept only as a SHA-256 digest.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "A name for the key (who or what uses it), 1 to 64 characters.") var name: String
        @Option(help: "admin (everything), operator (commands, reservations, tokens) or viewer (read only).") var role: String

        func run() async throws {
            guard let role = APIRole(rawValue: role) else { throw ValidationError("--role is admin, operator or viewer") }
            guard (1...64).contains(name.unicodeScalars.count), !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw ValidationError("a key name is 1 to 64 characters, no control characters")
            }
            let logger = makeLogger("warning")
            let name = name
            let (key, secret) = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await AccessRepository(client: client, logger: logger).createKey(name: name, role: role)
            }
            print("Added key \(key.id) '\(key.name)' (\(key.role.rawValue)). Its secret, shown only this once:")
            print(secret)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List API keys (never their secrets).")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let logger = makeLogger("warning")
            let keys = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await AccessRepository(client: client, logger: logger).keys()
            }
            print("ID".padding(toLength: 8, withPad: " ", startingAt: 0) + "NAME".padding(toLength: 26, withPad: " ", startingAt: 0) + "ROLE      CREATED                   REVOKED")
            for k in keys {
                print(
                    String(k.id).padding(toLength: 8, withPad: " ", startingAt: 0) + k.name.padding(toLength: 26, withPad: " ", startingAt: 0)
                        + k.role.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) + OCPPDateTime.format(k.createdAt).padding(toLength: 26, withPad: " ", startingAt: 0)
                        + (k.revokedAt.map(OCPPDateTime.format) ?? "-")
                )
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key: it is refused from the next request on.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The key's id (see 'voltaic key list').") var id: Int64

        func run() async throws {
            let logger = makeLogger("warning")
            let id = id
            let key = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await AccessRepository(client: client, logger: logger).revokeKey(id: id)
            }
            guard let key else { throw ValidationError("no key \(id)") }
            print("Key \(key.id) '\(key.name)' is revoked.")
        }
    }
}
