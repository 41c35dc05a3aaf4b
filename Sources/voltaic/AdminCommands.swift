import ArgumentParser
import CSMS
import Foundation
import HummingbirdBcrypt
import OCPP
import Storage

struct StationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "station", abstract: "Add, list and remove charging stations.", subcommands: [Add.self, List.self, Remove.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a station so that it may connect.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Station identity (at most 48 characters of letters, digits and *-_=:+|@.)") var id: String
        @Option(help: "Basic-auth password (16 to 40 characters): security profile 1.") var password: String?
        @Flag(help: "Register as Pending: BootNotification is answered Pending.") var pending = false

        func run() async throws {
            guard StationIdentity.isValid(id) else { throw ValidationError("invalid station identity") }
            if let password, !(16...40).contains(password.utf8.count) { throw ValidationError("the password must be 16 to 40 characters") }
            let (id, hash, status) = (id, password.map { Bcrypt.hash($0, cost: 10) }, pending ? RegistrationStatus.pending : .accepted)
            let logger = makeLogger("warning")
            let created = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await AdminRepository(client: client, logger: logger).createStation(id: id, passwordHash: hash, registrationStatus: status)
            }
            guard created else { throw ValidationError("station '\(id)' already exists") }
            print("Added station \(id)\(hash == nil ? "" : " (Basic auth)").")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List stations with their online state.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let logger = makeLogger("warning")
            let stations = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await AdminRepository(client: client, logger: logger).stations()
            }
            print("ID".padding(toLength: 24, withPad: " ", startingAt: 0) + "ONLINE  STATUS    OCPP       VENDOR / MODEL")
            for s in stations {
                let line = s.id.padding(toLength: 24, withPad: " ", startingAt: 0) + (s.online ? "yes     " : "no      ")
                    + s.registrationStatus.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
                    + (s.ocppVersion?.rawValue ?? "-").padding(toLength: 11, withPad: " ", startingAt: 0)
                    + [s.vendor, s.model].compactMap { $0 }.joined(separator: " / ")
                print(line)
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a station and its history.")
        @OptionGroup var database: DatabaseOptions
        @Argument var id: String

        func run() async throws {
            let logger = makeLogger("warning")
            let id = id
            let removed = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await AdminRepository(client: client, logger: logger).decommissionStation(id: id)
            }
            guard removed else { throw ValidationError("no station '\(id)'") }
            print("Removed station \(id).")
        }
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Add, list and block id tokens (RFID cards, app tokens).", subcommands: [Add.self, List.self, Block.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add or update a token.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The token value (idTag / idToken), at most 36 characters.") var value: String
        @Option(help: "Token type (2.0.1 IdTokenEnumType). Default: Central") var type: String = "Central"
        @Option(help: "Expiry, RFC 3339 (2027-01-01T00:00:00Z).") var expires: String?
        @Option(help: "Group (parent) token.") var group: String?

        func run() async throws {
            guard !value.isEmpty, value.count <= 36 else { throw ValidationError("a token is 1 to 36 characters") }
            var expiresAt: Date?
            if let expires {
                guard let d = OCPPDateTime.parse(expires) else { throw ValidationError("--expires is an RFC 3339 date-time") }
                expiresAt = d
            }
            let token = IdToken(value: value, type: type, status: .accepted, expiresAt: expiresAt, groupId: group)
            let logger = makeLogger("warning")
            _ = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await AdminRepository(client: client, logger: logger).upsertToken(token)
            }
            print("Token \(value) is Accepted.")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let logger = makeLogger("warning")
            let tokens = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await AdminRepository(client: client, logger: logger).tokens()
            }
            print("TOKEN".padding(toLength: 38, withPad: " ", startingAt: 0) + "STATUS    EXPIRES")
            for t in tokens {
                print(t.value.padding(toLength: 38, withPad: " ", startingAt: 0) + t.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) + (t.expiresAt.map(OCPPDateTime.format) ?? "-"))
            }
        }
    }

    struct Block: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Block a token: it is refused from now on.")
        @OptionGroup var database: DatabaseOptions
        @Argument var value: String

        func run() async throws {
            let logger = makeLogger("warning")
            let value = value
            let token = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await AdminRepository(client: client, logger: logger).setTokenStatus(value: value, status: .blocked)
            }
            guard token != nil else { throw ValidationError("no token '\(value)'") }
            print("Token \(value) is Blocked.")
        }
    }
}
