public import Foundation
import OCPI
import CSMS
import PostgresNIO
public import Settlement

extension SettlementRepository {
    /// A charging session whose cost so far has reached its hold.
    public struct Overspent: Sendable, Hashable {
        public var transactionId: Int64
        public var uid: String
        public var stationId: String
        public var held: Decimal
        public var cost: Decimal
    }

    /// The active held sessions (of the stations `node` holds, when given) whose cost so far, priced from their
    /// register readings by the hold's tariff (and a booked session's reservation, as the capture prices it), has
    /// reached the hold, not yet asked to stop in the last `retryAfter`. At most `limit` sessions past `after` (a
    /// transaction id) are looked at; the caller goes on from the last one, so that every session is looked at in turn
    /// however many there are. Returns the sessions over their hold and the last transaction id looked at (nil: the
    /// end was reached).
    public func overspent(node: String? = nil, after: Int64 = 0, retryAfter: Duration = .seconds(60), limit: Int = 1000) async throws -> (over: [Overspent], last: Int64?) {
        try await client.withConnection { conn in
            struct Row { var tx: Int64; var uid: String; var station: String; var amount: Decimal; var tariff: String; var zone: String; var start: Date; var meterStart: Int64?; var slot: Date? }
            var rows: [Row] = []
            for try await (tx, uid, station, amount, tariff, zone, start, meterStart, slot) in try await conn.query(
                """
                SELECT t.id, t.uid, t.station_id, h.amount::text, h.tariff::text, h.time_zone, coalesce(t.started_at, t.created_at), t.meter_start_wh, lower(b.slot)
                FROM holds h JOIN transactions t ON t.id = h.transaction_id
                JOIN stations s ON s.id = t.station_id AND (\(node)::text IS NULL OR s.connected_node = \(node))
                LEFT JOIN bookings b ON b.id = h.booking_id
                WHERE h.state = 'held' AND h.transaction_id > \(after) AND t.state = 'Active' AND h.tariff IS NOT NULL
                  AND (h.stop_requested_at IS NULL OR h.stop_requested_at < now() - \(retryAfter.seconds) * interval '1 second')
                ORDER BY h.transaction_id LIMIT \(limit)
                """,
                logger: logger
            ).decode((Int64, String, String, String, String, String, Date, Int64?, Date?).self) {
                rows.append(Row(tx: tx, uid: uid, station: station, amount: try LedgerSQL.decimal(amount), tariff: tariff, zone: zone, start: start, meterStart: meterStart, slot: slot))
            }
            var out: [Overspent] = []
            for row in rows {
                let readings = try await SessionRepository.registerReadings(conn, transactionId: row.tx, logger: logger)
                guard let last = readings.last else { continue }
                let start = OCPIDateTime(seconds: OCPIDateTime(row.start).seconds)
                // Still charging: metered up to its latest reading.
                let metered = MeteredSession.of(start: start, end: nil, meterStartWh: row.meterStart, meterStopWh: nil, energyWh: nil, readings: readings,
                                                now: max(last.0, start))
                let zone = TimeZone(identifier: row.zone) ?? TimeZone(identifier: "UTC")!
                guard let tariff = try? CatalogJSON.decode(Tariff.self, row.tariff),
                      var (usage, totals) = try? metered.priced(tariff: tariff, timeZone: zone, currency: tariff.currency)
                else { continue }
                if let slot = row.slot {
                    usage = ReservationPricing.withReservation(usage, slotStart: slot)
                    guard let withReservation = try? PricingEngine.price(usage, tariff: tariff, timeZone: zone) else { continue }
                    totals = withReservation
                }
                let cost = Amounts.cents(totals.totalCost.inclVat ?? totals.totalCost.exclVat)
                if cost >= row.amount { out.append(Overspent(transactionId: row.tx, uid: row.uid, stationId: row.station, held: row.amount, cost: cost)) }
            }
            return (out, rows.count == limit ? rows.last?.tx : nil)
        }
    }

    public func markStopRequested(transactionId: Int64) async throws {
        try await client.query("UPDATE holds SET stop_requested_at = now() WHERE transaction_id = \(transactionId)", logger: logger)
    }
}

extension SettlementRepository {
    public struct StatementLine: Sendable, Hashable {
        public var kind: String
        public var account: String
        public var currency: String
        public var total: Decimal
        public var entries: Int
    }

    /// Per-party totals of the captures made in [from, to): what each host, the platform and each referrer earned,
    /// and what drivers paid (kind `driver`).
    public func statement(from: Date, to: Date) async throws -> [StatementLine] {
        var out: [StatementLine] = []
        for try await (kind, owner, currency, total, n) in try await client.query(
            """
            SELECT CASE a.kind WHEN 'driver_hold' THEN 'driver' ELSE a.kind END, a.owner, a.currency,
                   (CASE WHEN a.kind = 'driver_hold' THEN -sum(p.amount) ELSE sum(p.amount) END)::text, count(DISTINCT e.id)
            FROM journal_entries e JOIN postings p ON p.entry_id = e.id JOIN accounts a ON a.id = p.account_id
            WHERE e.kind = 'capture' AND e.created_at >= \(from) AND e.created_at < \(to)
            GROUP BY a.kind, a.owner, a.currency ORDER BY 1, 2, 3
            """,
            logger: logger
        ).decode((String, String, String, String, Int64).self) {
            out.append(StatementLine(kind: kind, account: owner, currency: currency, total: try LedgerSQL.decimal(total), entries: Int(n)))
        }
        return out
    }

    public struct HoldView: Sendable, Hashable {
        public var id: Int64
        public var driverId: String
        public var currency: String
        public var amount: Decimal
        public var captured: Decimal?
        public var state: String
        public var idToken: String
        public var stationId: String
        public var transactionId: Int64?
        public var expiresAt: Date?
        public var createdAt: Date
    }

    public func holds(driverId: String?, transactionId: Int64?, limit: Int = 100) async throws -> [HoldView] {
        var out: [HoldView] = []
        for try await (id, driver, currency, amount, captured, state, token, station, tx, expires, created) in try await client.query(
            """
            SELECT id, driver_id, currency, amount::text, captured::text, state, id_token, station_id, transaction_id, expires_at, created_at FROM holds
            WHERE (\(driverId)::text IS NULL OR driver_id = \(driverId)) AND (\(transactionId)::int8 IS NULL OR transaction_id = \(transactionId))
            ORDER BY id DESC LIMIT \(limit)
            """,
            logger: logger
        ).decode((Int64, String, String, String, String?, String, String, String, Int64?, Date?, Date).self) {
            out.append(HoldView(id: id, driverId: driver, currency: currency, amount: try LedgerSQL.decimal(amount), captured: try captured.map(LedgerSQL.decimal),
                                state: state, idToken: token, stationId: station, transactionId: tx, expiresAt: expires, createdAt: created))
        }
        return out
    }

    /// Every account's balance (the sum of its postings) and the sum of all postings per currency, which is zero
    /// when the ledger is whole.
    public func trialBalance() async throws -> (accounts: [(AccountRef, Decimal)], totals: [String: Decimal]) {
        var accounts: [(AccountRef, Decimal)] = []
        var totals: [String: Decimal] = [:]
        for try await (kind, owner, currency, sum) in try await client.query(
            """
            SELECT a.kind, a.owner, a.currency, coalesce(sum(p.amount), 0)::text FROM accounts a LEFT JOIN postings p ON p.account_id = a.id
            GROUP BY a.id ORDER BY a.kind, a.owner, a.currency
            """,
            logger: logger
        ).decode((String, String, String, String).self) {
            let amount = try LedgerSQL.decimal(sum)
            if let k = AccountRef.Kind(rawValue: kind) { accounts.append((AccountRef(k, owner, currency), amount)) }
            totals[currency, default: 0] += amount
        }
        return (accounts, totals)
    }
}

extension SettlementRepository {
    /// Raises a charging session's hold by `by` when the driver's available funds cover it (one more hold entry,
    /// keyed by the new total so a retry posts nothing twice). False when they do not: the session is then stopped.
    public func extendHold(transactionId: Int64, by amount: Decimal, from current: Decimal? = nil) async throws -> Bool {
        try await client.withTransaction(logger: logger) { conn in
            var found: (Int64, String, String, String)?
            for try await row in try await conn.query(
                "SELECT id, driver_id, currency, amount::text FROM holds WHERE transaction_id = \(transactionId) AND state = 'held' FOR UPDATE", logger: logger
            ).decode((Int64, String, String, String).self) { found = row }
            guard let (id, driver, currency, currentText) = found else { return false }
            // Compare and set: a guard that saw another amount (another node extended it meanwhile) does nothing.
            if let current, try LedgerSQL.decimal(currentText) != current { return true }
            let spendable = AccountRef(.driver, driver, currency)
            let accountId = try await LedgerSQL.account(conn, spendable, logger: logger)
            _ = try await conn.query("SELECT 1 FROM accounts WHERE id = \(accountId) FOR UPDATE", logger: logger).collect()
            guard try await LedgerSQL.balance(conn, spendable, logger: logger) >= amount else { return false }
            let total = try LedgerSQL.decimal(currentText) + amount
            var entry = CapturePlan.hold(id: id, driver: driver, currency: currency, amount: amount)
            entry.idempotencyKey = "hold:\(id):to:\(total)"
            try await LedgerSQL.post(conn, entry, holdId: id, logger: logger)
            try await conn.query(
                "UPDATE holds SET amount = \("\(total)")::numeric, stop_requested_at = NULL WHERE id = \(id)", logger: logger
            )
            return true
        }
    }
}
