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
        @Option(help: "Basic-auth password (16 to 40 characters). Default: one is generated and printed once.") var password: String?
        @Flag(name: .customLong("no-password"), help: "Security profile 0: the station connects without authentication.") var noPassword = false
        @Flag(help: "Register as Pending: BootNotification is answered Pending.") var pending = false

        func validate() throws {
            guard StationIdentity.isValid(id) else { throw ValidationError("invalid station identity '\(id)': at most 48 characters of letters, digits and *-_=:+|@.") }
            if noPassword, password != nil { throw ValidationError("--password and --no-password exclude each other") }
            if let password, !StationPassword.isValid(password) { throw ValidationError("--password must be 16 to 40 characters") }
        }

        func run() async throws {
            let generated = noPassword || password != nil ? nil : StationPassword.generate()
            let secret = password ?? generated
            let (id, hash, status) = (id, secret.map { Bcrypt.hash($0, cost: 10) }, pending ? RegistrationStatus.pending : .accepted)
            let logger = makeLogger("warning")
            let created = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await AdminRepository(client: client, logger: logger).createStation(id: id, passwordHash: hash, registrationStatus: status)
            }
            guard created else { throw ValidationError("station '\(id)' already exists") }
            if hash == nil {
                print("Added station \(id), security profile 0: it connects without a password.")
            } else {
                print("Added station \(id), security profile 1 (Basic auth).")
            }
            if let generated { print("Password (shown only this once): \(generated)") }
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
            print("ID".padding(toLength: 24, withPad: " ", startingAt: 0) + "ONLINE  PROFILE  STATUS    OCPP       VENDOR / MODEL")
            for s in stations where s.decommissionedAt == nil {
                let line = s.id.padding(toLength: 24, withPad: " ", startingAt: 0) + (s.online ? "yes     " : "no      ")
                    + String(s.securityProfile).padding(toLength: 9, withPad: " ", startingAt: 0)
                    + s.registrationStatus.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
                    + (s.ocppVersion?.rawValue ?? "-").padding(toLength: 11, withPad: " ", startingAt: 0)
                    + [s.vendor, s.model].compactMap { $0 }.joined(separator: " / ")
                print(line)
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Decommission a station: it can no longer connect, and its history is kept.")
        @OptionGroup var database: DatabaseOptions
        @Argument var id: String

        func run() async throws {
            let logger = makeLogger("warning")
            let id = id
            let removed = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await AdminRepository(client: client, logger: logger).decommissionStation(id: id)
            }
            guard removed else { throw ValidationError("no station '\(id)'") }
            print("Removed station \(id): decommissioned, its history is kept.")
        }
    }
}

struct TransactionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transaction", abstract: "Act on charging transactions.", subcommands: [End.self]
    )

    struct End: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a transaction whose Stop was lost: its token is free again, and it is flagged with who ended it and why."
        )
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The transaction id (as GET /api/v1/transactions shows it).") var id: Int64
        @Option(help: "Why it is ended (1 to 200 characters), kept on the transaction.") var reason: String

        func validate() throws {
            guard id >= 1 else { throw ValidationError("the transaction id is 1 or more") }
            let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
            guard (1...200).contains(reason.unicodeScalars.count), !reason.unicodeScalars.contains("\u{0}") else {
                throw ValidationError("--reason is 1 to 200 characters")
            }
        }

        func run() async throws {
            let logger = makeLogger("warning")
            let (id, reason) = (id, reason.trimmingCharacters(in: .whitespacesAndNewlines))
            let actor = "the CLI (" + (ProcessInfo.processInfo.environment["USER"] ?? "unknown user") + ")"
            let outcome = try await database.withDatabase(logger: logger, migrate: false) { client in
                // The same write path as the server's: the domain service, through a group committer.
                let committer = GroupCommitter(client: client, logger: logger)
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await committer.run() }
                    defer { group.cancelAll() }
                    let service = ChargingService()
                    return try await committer.perform { uow in
                        try await service.endByOperator(uow, id: id, actor: actor, reason: reason, now: Date())
                    }.map { EndOutcome(transaction: $0.transaction, ended: $0.ended) }
                }
            }
            guard let outcome else { throw ValidationError("no transaction \(id)") }
            let tx = outcome.transaction
            let energy = tx.energyWh.map { "\($0) Wh" } ?? "unknown energy"
            print(outcome.ended ? "Ended transaction \(id) on \(tx.stationId): \(energy)." : "Transaction \(id) on \(tx.stationId) had ended already.")
        }

        struct EndOutcome: Sendable {
            var transaction: ChargingTransaction
            var ended: Bool
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
