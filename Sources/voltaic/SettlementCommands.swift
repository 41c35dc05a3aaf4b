import ArgumentParser
import Chain
import Foundation
import OCPI
import Settlement
import Storage

struct DriverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "driver", abstract: "Drivers of the ledger: their tokens, top-ups and balances.", subcommands: [Put.self, Show.self, TopUp.self]
    )

    static func check(id: String) throws {
        guard (1...64).contains(id.utf8.count), id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw ValidationError("a driver id is 1 to 64 printable ASCII characters")
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create or update a driver and link tokens to them.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The driver's id.") var id: String
        @Option(name: .customLong("token"), help: "An id token of the driver (repeat for several).") var tokens: [String] = []
        @Flag(help: "The driver pays afterwards (fleet card): no funds hold.") var postpaid = false

        func run() async throws {
            try DriverCommand.check(id: id)
            for t in tokens where t.isEmpty || t.unicodeScalars.count > 255 { throw ValidationError("--token: a token is 1 to 255 characters") }
            let logger = makeLogger("warning")
            let (id, tokens, postpaid) = (id, tokens, postpaid)
            try await database.withDatabase(logger: logger, migrate: false) { client in
                try await SettlementRepository(client: client, logger: logger).putDriver(id: id, postpaid: postpaid, tokens: tokens)
            }
            print("Driver \(id)\(postpaid ? " (postpaid)" : "")\(tokens.isEmpty ? "" : " with token(s) \(tokens.joined(separator: ", "))").")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A driver's tokens and balances (available and held, per currency).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The driver's id.") var id: String

        func run() async throws {
            try DriverCommand.check(id: id)
            let logger = makeLogger("warning")
            let id = id
            let driver = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await SettlementRepository(client: client, logger: logger).driver(id: id)
            }
            guard let driver else { throw ValidationError("no driver '\(id)'") }
            print("\(driver.id)\(driver.postpaid ? " (postpaid)" : "") tokens: \(driver.tokens.joined(separator: ", "))")
            for b in driver.balances { print("  \(b.currency) available \(Amounts.text(b.available)) held \(Amounts.text(b.held))") }
        }
    }

    struct TopUp: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "topup", abstract: "Credit a driver through the ledger funds provider; the same --reference twice credits once."
        )
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The driver's id.") var id: String
        @Option(help: "The amount, e.g. 25.00.") var amount: String
        @Option(help: "ISO 4217 currency, e.g. EUR.") var currency: String
        @Option(help: "The payment's reference (idempotency key).") var reference: String

        func run() async throws {
            try DriverCommand.check(id: id)
            let value: Decimal, code: String
            do { value = try Amounts.parse(amount) } catch { throw ValidationError("--amount: \(error)") }
            do { code = try Amounts.currency(currency) } catch { throw ValidationError("--currency: \(error)") }
            guard (1...128).contains(reference.unicodeScalars.count) else { throw ValidationError("--reference: 1 to 128 characters") }
            let logger = makeLogger("warning")
            let (id, reference) = (id, reference)
            let outcome = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await SettlementRepository(client: client, logger: logger).topUp(driver: id, currency: code, amount: value, provider: "ledger", reference: reference)
            }
            switch outcome {
            case .noSuchDriver: throw ValidationError("no driver '\(id)' (add it with 'voltaic driver put')")
            case .referenceUsed: throw ValidationError("--reference: '\(reference)' credited another driver, currency or amount")
            case .credited(let entry, let balance): print("Entry \(entry): \(id) has \(Amounts.text(balance)) \(code) available.")
            }
        }
    }
}

struct SettlementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "settlement", abstract: "Settlement reports.", subcommands: [Statement.self])

    struct Statement: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Per-party totals of the captures in a period: hosts, platform, referrers, and what drivers paid.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Start (RFC 3339), inclusive. Default: 30 days before --to.") var from: String?
        @Option(help: "End (RFC 3339), exclusive. Default: now.") var to: String?

        func run() async throws {
            func time(_ raw: String?, _ name: String) throws -> Date? {
                guard let raw else { return nil }
                guard let t = OCPIDateTime(string: raw), (0...253_402_300_799).contains(t.seconds) else {
                    throw ValidationError("--\(name): \(raw.prefix(40)) is not an RFC 3339 date-time from 1970 to 9999")
                }
                return t.date
            }
            let end = try time(to, "to") ?? Date()
            let start = try time(from, "from") ?? end.addingTimeInterval(-30 * 86_400)
            guard start <= end else { throw ValidationError("--from must not be after --to") }
            let logger = makeLogger("warning")
            let lines = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await SettlementRepository(client: client, logger: logger).statement(from: start, to: end)
            }
            print("Statement \(OCPIDateTime(start)) to \(OCPIDateTime(end))")
            if lines.isEmpty { print("  no captures") }
            for l in lines { print("  \(l.kind.padding(toLength: 9, withPad: " ", startingAt: 0)) \(l.account.padding(toLength: 24, withPad: " ", startingAt: 0)) \(l.currency) \(Amounts.text(l.total)) (\(l.entries) sessions)") }
        }
    }
}

struct ChainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chain", abstract: "The anchoring chain: deploy the anchor contract, see the anchors.", subcommands: [Deploy.self, Status.self])

    struct Deploy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deploy the anchor contract from the key; prints its address.")
        @Option(help: "JSON-RPC URL of the chain. Env: VOLTAIC_CHAIN_RPC") var rpc: String?
        @Option(name: .customLong("key-file"), help: "File with the deploying (and anchoring) key, 64 hex digits. Env: VOLTAIC_CHAIN_KEY_FILE") var keyFile: String?

        func run() async throws {
            let env = ProcessInfo.processInfo.environment
            guard let url = rpc ?? env["VOLTAIC_CHAIN_RPC"] else { throw ValidationError("--rpc is required") }
            guard let path = keyFile ?? env["VOLTAIC_CHAIN_KEY_FILE"] else { throw ValidationError("--key-file is required") }
            let key = try ChainCommand.key(path)
            do {
                let address = try await ContractDeployer.deployAnchor(rpc: EthereumRPC(url: url), key: key)
                print(address.checksummed)
            } catch {
                FileHandle.standardError.write(Data("error: deployment failed: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Receipt batches and their anchors: pending, in flight and final.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let logger = makeLogger("warning")
            let rows = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await SettlementRepository(client: client, logger: logger).anchorStatus()
            }
            if rows.isEmpty { print("no receipt batches") }
            for r in rows {
                let state = r.job.map { Self.describe($0.state) } ?? "waiting for an anchor job (no chain configured, or not picked up yet)"
                print("batch \(r.batchId) (\(r.size) receipts, root \(Hex.encode(r.root))): \(state)")
            }
        }

        static func describe(_ s: AnchorJob.State) -> String {
            switch s {
            case .queued: "queued"
            case .sent: "in flight"
            case .included(let i): "included in block \(i.blockNumber), not yet final"
            case .final(let i): "final in block \(i.blockNumber), tx \(Hex.encode(i.transactionHash))"
            case .failed(let why): "FAILED: \(why)"
            }
        }
    }

    static func key(_ path: String) throws -> PrivateKey {
        guard let key = PrivateKey(hexFile: path) else { throw ValidationError("\(path): cannot be read, or is not a chain key (64 hex digits)") }
        return key
    }
}
