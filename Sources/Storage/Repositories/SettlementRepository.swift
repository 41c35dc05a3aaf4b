public import CSMS
public import Foundation
public import Logging
public import OCPI
public import PostgresNIO
public import Settlement

/// Settlement's storage (Migrations/0009): drivers and their tokens, top-ups, balances, split rules, the capture of
/// ended sessions into receipts, lapsed holds, statements and receipts' reads.
public struct SettlementRepository: Sendable {
    public let client: PostgresClient
    public let logger: Logger
    let accounts = AccountCache()

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    // MARK: Drivers and money in

    /// Creates or updates a driver; `tokens` are linked to them (a token belongs to one driver).
    public func putDriver(id: String, postpaid: Bool, tokens: [String]) async throws {
        try await client.withTransaction(logger: logger) { conn in
            try await conn.query(
                "INSERT INTO drivers (id, postpaid) VALUES (\(id), \(postpaid)) ON CONFLICT (id) DO UPDATE SET postpaid = excluded.postpaid", logger: logger
            )
            for token in tokens {
                try await conn.query(
                    "INSERT INTO driver_tokens (id_token, driver_id) VALUES (\(token), \(id)) ON CONFLICT (id_token) DO UPDATE SET driver_id = excluded.driver_id",
                    logger: logger
                )
            }
        }
    }

    public struct Driver: Sendable, Hashable {
        public var id: String
        public var postpaid: Bool
        public var tokens: [String]
        /// Per currency: spendable, and blocked by holds.
        public var balances: [Balance]
    }

    public struct Balance: Sendable, Hashable {
        public var currency: String
        public var available: Decimal
        public var held: Decimal
    }

    public func driver(id: String) async throws -> Driver? {
        try await client.withConnection { conn in
            var found: Bool?
            for try await postpaid in try await conn.query("SELECT postpaid FROM drivers WHERE id = \(id)", logger: logger).decode(Bool.self) { found = postpaid }
            guard let postpaid = found else { return nil }
            var tokens: [String] = []
            for try await t in try await conn.query("SELECT id_token FROM driver_tokens WHERE driver_id = \(id) ORDER BY id_token", logger: logger).decode(String.self) {
                tokens.append(t)
            }
            var balances: [String: Balance] = [:]
            for try await (kind, currency, sum) in try await conn.query(
                """
                SELECT a.kind, a.currency, coalesce(sum(p.amount), 0)::text FROM accounts a LEFT JOIN postings p ON p.account_id = a.id
                WHERE a.owner = \(id) AND a.kind IN ('driver', 'driver_hold') GROUP BY a.kind, a.currency
                """,
                logger: logger
            ).decode((String, String, String).self) {
                var b = balances[currency] ?? Balance(currency: currency, available: 0, held: 0)
                if kind == "driver" { b.available = try LedgerSQL.decimal(sum) } else { b.held = try LedgerSQL.decimal(sum) }
                balances[currency] = b
            }
            return Driver(id: id, postpaid: postpaid, tokens: tokens, balances: balances.values.sorted { $0.currency < $1.currency })
        }
    }

    public enum TopUpOutcome: Sendable, Hashable {
        case credited(entryId: Int64, balance: Decimal)
        case noSuchDriver
        /// The provider's reference was used for another top-up (another driver, currency or amount).
        case referenceUsed
    }

    /// Credits a driver through a funds provider; the same provider reference twice credits once.
    public func topUp(driver: String, currency: String, amount: Decimal, provider: String, reference: String) async throws -> TopUpOutcome {
        try await client.withTransaction(logger: logger) { conn in
            guard try await !conn.query("SELECT 1 FROM drivers WHERE id = \(driver)", logger: logger).collect().isEmpty else { return .noSuchDriver }
            let entry = CapturePlan.topUp(driver: driver, currency: currency, amount: amount, provider: provider, reference: reference)
            let id = try await LedgerSQL.post(conn, entry, holdId: nil, logger: logger)
            // A replay is the same top-up; the same reference for another one is refused, not silently ignored.
            let credited = try await conn.query(
                """
                SELECT p.amount::text FROM postings p JOIN accounts a ON a.id = p.account_id
                WHERE p.entry_id = \(id) AND a.kind = 'driver' AND a.owner = \(driver) AND a.currency = \(currency)
                """,
                logger: logger
            ).collect()
            guard credited.count == 1, try LedgerSQL.decimal(try credited[0].decode(String.self)) == amount else { return .referenceUsed }
            return .credited(entryId: id, balance: try await LedgerSQL.balance(conn, AccountRef(.driver, driver, currency), logger: logger))
        }
    }

    // MARK: Hosts and splits

    public enum HostOutcome: Sendable, Hashable { case set, noSuchLocation }

    public func setHost(locationId: String, host: String) async throws -> HostOutcome {
        let rows = try await client.query(
            """
            INSERT INTO location_hosts (location_id, host) SELECT id, \(host) FROM locations WHERE lower(id) = lower(\(locationId))
            ON CONFLICT (location_id) DO UPDATE SET host = excluded.host, updated_at = now() RETURNING location_id
            """,
            logger: logger
        ).collect()
        return rows.isEmpty ? .noSuchLocation : .set
    }

    public struct StoredSplitRule: Sendable, Hashable {
        public var id: Int64
        public var scope: String
        public var rule: SplitRule
        public var validFrom: Date
    }

    /// Adds a version of a scope's rule (`default`, `location:<id>`, `host:<id>`), in force from `validFrom`.
    public func addSplitRule(scope: String, rule: SplitRule, validFrom: Date) async throws -> StoredSplitRule {
        let rows = try await client.query(
            """
            INSERT INTO split_rules (scope, host_bp, platform_bp, referrer_bp, referrer, remainder, valid_from)
            VALUES (\(scope), \(rule.hostBp), \(rule.platformBp), \(rule.referrerBp), \(rule.referrer), \(rule.remainder.rawValue), \(validFrom))
            ON CONFLICT (scope, valid_from) DO UPDATE SET host_bp = excluded.host_bp, platform_bp = excluded.platform_bp,
                referrer_bp = excluded.referrer_bp, referrer = excluded.referrer, remainder = excluded.remainder
            RETURNING id
            """,
            logger: logger
        )
        for try await id in rows.decode(Int64.self) { return StoredSplitRule(id: id, scope: scope, rule: rule, validFrom: validFrom) }
        throw MissingRow("a split rule")
    }

    public func splitRules() async throws -> [StoredSplitRule] {
        var out: [StoredSplitRule] = []
        for try await (id, scope, h, p, r, referrer, remainder, from) in try await client.query(
            "SELECT id, scope, host_bp, platform_bp, referrer_bp, referrer, remainder, valid_from FROM split_rules ORDER BY scope, valid_from",
            logger: logger
        ).decode((Int64, String, Int32, Int32, Int32, String?, String, Date).self) {
            out.append(StoredSplitRule(
                id: id, scope: scope,
                rule: SplitRule(hostBp: Int(h), platformBp: Int(p), referrerBp: Int(r), referrer: referrer, remainder: SplitRule.Party(rawValue: remainder) ?? .platform),
                validFrom: from
            ))
        }
        return out
    }

    /// The rule in force at `at` for a location of `host`: the location's, else the host's, else the default, else
    /// everything to the host.
    static func splitRule(_ conn: PostgresConnection, locationId: String?, host: String, at: Date, logger: Logger) async throws -> SplitRule {
        let scopes = [locationId.map { "location:" + $0 }, "host:" + host, "default"].compactMap { $0 }
        for try await (h, p, r, referrer, remainder) in try await conn.query(
            """
            SELECT host_bp, platform_bp, referrer_bp, referrer, remainder FROM split_rules WHERE scope = ANY(\(scopes)) AND valid_from <= \(at)
            ORDER BY array_position(\(scopes)::text[], scope), valid_from DESC LIMIT 1
            """,
            logger: logger
        ).decode((Int32, Int32, Int32, String?, String).self) {
            return SplitRule(hostBp: Int(h), platformBp: Int(p), referrerBp: Int(r), referrer: referrer, remainder: SplitRule.Party(rawValue: remainder) ?? .platform)
        }
        return .hostTakesAll
    }

    /// Who is paid for a location's sessions where no host was set.
    public static let defaultHost = "operator"
}
