import ArgumentParser
import CSMS
import Foundation
import Logging
import OCPI
import OCPP
import PostgresNIO
import Server
import Storage

/// Runs `body` with the catalog's write path: a group committer of one worker over the database, so that the
/// CLI's writes go through `CatalogService` and the outbox exactly as the admin API's do.
func withCatalog<T: Sendable>(
    _ database: DatabaseOptions, _ body: @escaping @Sendable (PostgresClient, any TransactionRunner) async throws -> T
) async throws -> T {
    let logger = makeLogger("warning")
    return try await database.withDatabase(logger: logger, migrate: false) { client in
        let committer = GroupCommitter(client: client, logger: logger, workers: 1)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await committer.run(); return nil }
            defer { group.cancelAll() }
            return try await body(client, committer)
        }
    }
}

/// Reads an OCPI-shaped JSON file (`OCPIBody`); a bad file exits 2, naming the field.
func readOCPI<T: Decodable>(_ path: String, as _: T.Type, filling: [String: JSONValue] = [:]) -> T {
    guard let data = FileManager.default.contents(atPath: path) else { failUsage("cannot read \(path)") }
    do {
        return try OCPIBody.decode(T.self, Array(data), filling: filling)
    } catch {
        failUsage("\(path): \(error)")
    }
}

func failUsage(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    Foundation.exit(2)
}

func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct LocationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "location", abstract: "Create, edit and list locations (sites that group stations), and place EVSEs at them.",
        subcommands: [Put.self, List.self, PlaceEVSE.self]
    )

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create or replace a location from an OCPI 2.2.1 Location file (without evses).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The Location (JSON, OCPI field names).") var file: String

        func run() async throws {
            let site = readOCPI(file, as: LocationSite.self)
            let write = try await withCatalog(database) { _, runner in
                try await runner.perform { try await CatalogService().putLocation($0, site, now: Date()) }
            }
            print("Location \(site.id): \(write)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List locations with their EVSEs.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let page = try await withCatalog(database) { client, _ in
                try await CatalogRepository(client: client, logger: makeLogger("warning")).locations(PageRequest(limit: 100_000))
            }
            print("ID".padding(toLength: 24, withPad: " ", startingAt: 0) + "PUBLISH  EVSES  CITY")
            for l in page.items {
                let site = try l.site
                print(l.id.padding(toLength: 24, withPad: " ", startingAt: 0) + (site.publish ? "yes      " : "no       ")
                    + String(l.evses.count).padding(toLength: 7, withPad: " ", startingAt: 0) + site.city)
            }
        }
    }

    struct PlaceEVSE: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "place-evse", abstract: "Place a station's EVSE at a location, with OCPI's static EVSE and connector data.",
            discussion: "The file holds location_id, optionally uid (default <station>-<evse>, chosen once), OCPI's EVSE fields and connectors [{id, standard, format, power_type, max_voltage, max_amperage, tariff_ids, ...}]."
        )
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The station id.") var station: String
        @Argument(help: "The OCPP EVSE id (a 1.6 connector n is EVSE n).") var evse: Int
        @Option(help: "The EVSE (JSON).") var file: String

        func validate() throws {
            guard (1...999).contains(evse) else { throw ValidationError("evse: an OCPP EVSE id is 1 to 999") }
        }

        func run() async throws {
            let placement = readOCPI(file, as: EVSEInput.self).placement(stationId: station, evseId: evse)
            do {
                let write = try await withCatalog(database) { _, runner in
                    try await runner.perform { try await CatalogService().putEVSE($0, placement, now: Date()) }
                }
                print("EVSE \(placement.uid) of \(station) at \(placement.locationId): \(write)")
            } catch let refusal as CatalogRefusal {
                failUsage(refusal.description)
            }
        }
    }
}

extension TariffCommand {
    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create or replace a tariff from an OCPI 2.2.1 Tariff file.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The Tariff (JSON); last_updated may be left out.") var file: String

        func run() async throws {
            let tariff = readOCPI(file, as: Tariff.self, filling: ["last_updated": .string(OCPIDateTime(Date()).description)])
            let write = try await withCatalog(database) { _, runner in
                try await runner.perform { try await CatalogService().putTariff($0, tariff, now: Date()) }
            }
            print("Tariff \(tariff.id): \(write)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the live tariffs as OCPI 2.2.1 Tariff objects.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let page = try await withCatalog(database) { client, _ in
                try await CatalogRepository(client: client, logger: makeLogger("warning")).tariffs(PageRequest(limit: 100_000))
            }
            try printJSON(page.items)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a tariff (it stays stored for the sessions priced by it).")
        @OptionGroup var database: DatabaseOptions
        @Argument var id: String

        func run() async throws {
            let id = id
            let gone: Tariff?
            do {
                gone = try await withCatalog(database) { _, runner in
                    try await runner.perform { try await CatalogService().deleteTariff($0, id: id, now: Date()) }
                }
            } catch let refusal as CatalogRefusal {
                failUsage(refusal.description)
            }
            guard let gone else { failUsage("no tariff '\(id)'") }
            print("Deleted tariff \(gone.id).")
        }
    }
}

struct PartnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partner", abstract: "OCPI partners: issue a token A, list, suspend, resume and remove; list pushes and replay dead letters.",
        subcommands: [Add.self, List.self, Suspend.self, Resume.self, Remove.self, Pushes.self, Replay.self]
    )

    static func repository(_ client: PostgresClient) -> PartnerRepository { PartnerRepository(client: client, logger: makeLogger("warning")) }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a token A for a new partner; it registers with it at the versions URL.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The partner's name (1 to 100 characters).") var name: String
        @Option(name: .customLong("public-url"), help: "The URL partners reach this server at (as `serve --public-url`). Default: http://127.0.0.1:8180")
        var publicURL = "http://127.0.0.1:8180"

        func validate() throws {
            guard OCPIString.isPartnerName(name) else {
                throw ValidationError("name: 1 to 100 characters, no control characters")
            }
        }

        func run() async throws {
            let token = Credentials.newToken()
            let name = name
            let partner = try await database.withDatabase(logger: makeLogger("warning"), migrate: false) { try await PartnerCommand.repository($0).create(name: name, tokenA: token) }
            let base = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
            print("Partner \(partner.id) (\(name)), pending its registration.")
            print("Versions URL: \(base)/ocpi/versions")
            print("Token A (shown only this once): \(token)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List partners with their state and roles.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let partners = try await database.withDatabase(logger: makeLogger("warning"), migrate: false) { try await PartnerCommand.repository($0).partners() }
            print("ID    STATE         VERSION  ROLES                NAME")
            for p in partners {
                let roles = p.roles.map { "\($0.role.rawValue) \($0.countryCode)-\($0.partyId)" }.joined(separator: ", ")
                print(String(p.id).padding(toLength: 6, withPad: " ", startingAt: 0) + p.state.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0)
                    + (p.version?.rawValue ?? "-").padding(toLength: 9, withPad: " ", startingAt: 0) + roles.padding(toLength: 21, withPad: " ", startingAt: 0) + p.name)
            }
        }
    }

    /// Runs one change of a partner's state; `nil` or `false` from it exits 2 with `refusal`.
    static func change(_ database: DatabaseOptions, refusal: String, done: String, _ body: @escaping @Sendable (PartnerRepository) async throws -> Bool) async throws {
        guard try await database.withDatabase(logger: makeLogger("warning"), migrate: false, { try await body(PartnerCommand.repository($0)) }) else {
            failUsage(refusal)
        }
        print(done)
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Suspend a registered partner: its requests get 403.")
        @OptionGroup var database: DatabaseOptions
        @Argument var id: Int64

        func run() async throws {
            let id = id
            try await change(database, refusal: "no registered partner \(id)", done: "Suspended partner \(id).") { try await $0.setSuspended(id: id, true) != nil }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a partner's suspension.")
        @OptionGroup var database: DatabaseOptions
        @Argument var id: Int64

        func run() async throws {
            let id = id
            try await change(database, refusal: "no suspended or registered partner \(id)", done: "Resumed partner \(id).") { try await $0.setSuspended(id: id, false) != nil }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a partner: its tokens are void at once.")
        @OptionGroup var database: DatabaseOptions
        @Argument var id: Int64

        func run() async throws {
            let id = id
            try await change(database, refusal: "no partner \(id)", done: "Removed partner \(id).") { try await $0.remove(id: id) }
        }
    }

    struct Pushes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List OCPI pushes: waiting, delivered, dead letters.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "pending, delivered, dead or superseded.") var state: String?
        @Option(help: "Only this partner's.") var partner: Int64?
        @Option(help: "At most this many (1 to 1000).") var limit = 100

        func validate() throws {
            if let state, PushRepository.State(rawValue: state) == nil {
                throw ValidationError("--state: one of \(PushRepository.State.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard (1...1000).contains(limit) else { throw ValidationError("--limit: 1 to 1000") }
            if let partner, partner < 1 { throw ValidationError("--partner: a positive id") }
        }

        func run() async throws {
            let (state, partner, limit) = (state.flatMap(PushRepository.State.init(rawValue:)), partner, limit)
            let pushes = try await database.withDatabase(logger: makeLogger("warning"), migrate: false) {
                try await PushRepository(client: $0, logger: makeLogger("warning")).list(state: state, partnerId: partner, limit: limit)
            }
            print("ID      PARTNER  STATE       TRIES  PUSH                                  LAST ERROR")
            for p in pushes {
                let what = "\(p.method) \(p.module) \(p.target)"
                print(String(p.id).padding(toLength: 8, withPad: " ", startingAt: 0) + String(p.partnerId).padding(toLength: 9, withPad: " ", startingAt: 0)
                    + p.state.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0) + String(p.attempts).padding(toLength: 7, withPad: " ", startingAt: 0)
                    + what.padding(toLength: 38, withPad: " ", startingAt: 0) + (p.lastError ?? ""))
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a dead-letter push back in its queue, due now.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The push's id (from `partner pushes --state dead`).") var id: Int64

        func run() async throws {
            let id = id
            let result = try await database.withDatabase(logger: makeLogger("warning"), migrate: false) {
                try await PushRepository(client: $0, logger: makeLogger("warning")).replay(id: id)
            }
            switch result {
            case .replayed: print("Push \(id) is pending again.")
            case .notFound: failUsage("no push \(id)")
            case .notDead(let state): failUsage("push \(id) is \(state.rawValue); only a dead letter is replayed")
            }
        }
    }
}
