import CSMS
import Foundation
import Logging
import PostgresNIO
import Synchronization
public import Settlement
import OCPI

/// The ledger's statements, on a connection inside the caller's transaction. Amounts cross as decimal text, so that
/// PostgreSQL's numeric and Swift's Decimal never meet a binary float.
/// Account ids known to be committed, per repository (one database).
public final class AccountCache: Sendable {
    let ids = Mutex<[AccountRef: Int64]>([:])

    public init() {}

    func remember(_ ref: AccountRef, _ id: Int64) {
        ids.withLock { if $0.count < 100_000 { $0[ref] = id } }
    }
}

enum LedgerSQL {
    struct Unbalanced: Error, CustomStringConvertible {
        var key: String
        var description: String { "journal entry \(key) does not sum to zero per currency" }
    }

    /// The account's id, made on first use. With a cache, an id read from a committed row is kept: an account is never
    /// deleted or renumbered (one made by this transaction is not kept: the transaction may yet roll back).
    static func account(_ conn: PostgresConnection, _ ref: AccountRef, cache: AccountCache? = nil, logger: Logger) async throws -> Int64 {
        if let id = cache?.ids.withLock({ $0[ref] }) { return id }
        let rows = try await conn.query(
            """
            WITH made AS (
                INSERT INTO accounts (kind, owner, currency) VALUES (\(ref.kind.rawValue), \(ref.owner), \(ref.currency))
                ON CONFLICT (kind, owner, currency) DO NOTHING RETURNING id
            )
            SELECT id, true FROM made UNION ALL SELECT id, false FROM accounts WHERE kind = \(ref.kind.rawValue) AND owner = \(ref.owner) AND currency = \(ref.currency)
            """,
            logger: logger
        )
        for try await (id, new) in rows.decode((Int64, Bool).self) {
            if !new { cache?.remember(ref, id) }
            return id
        }
        // Another transaction made it meanwhile: the insert waited for it and did nothing, and the statement's snapshot
        // predates it. A new statement sees it.
        for try await id in try await conn.query(
            "SELECT id FROM accounts WHERE kind = \(ref.kind.rawValue) AND owner = \(ref.owner) AND currency = \(ref.currency)", logger: logger
        ).decode(Int64.self) {
            cache?.remember(ref, id)
            return id
        }
        throw MissingRow("account \(ref.kind.rawValue)/\(ref.owner)/\(ref.currency)")
    }

    /// Posts `entry` once: a second post of the same idempotency key returns the first one's id and writes nothing.
    /// Its postings go in one statement, which the database checks sums to zero.
    @discardableResult
    static func post(_ conn: PostgresConnection, _ entry: JournalEntry, holdId: Int64?, cache: AccountCache? = nil, logger: Logger) async throws -> Int64 {
        guard entry.isBalanced else { throw Unbalanced(key: entry.idempotencyKey) }
        var made: Int64?
        for try await id in try await conn.query(
            """
            INSERT INTO journal_entries (kind, hold_id, idempotency_key, memo) VALUES (\(entry.kind.rawValue), \(holdId), \(entry.idempotencyKey), \(entry.memo))
            ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
            """,
            logger: logger
        ).decode(Int64.self) { made = id }
        guard let made else {
            for try await id in try await conn.query("SELECT id FROM journal_entries WHERE idempotency_key = \(entry.idempotencyKey)", logger: logger).decode(Int64.self) {
                return id
            }
            throw MissingRow("journal entry \(entry.idempotencyKey)")
        }
        var accounts: [Int64] = [], amounts: [String] = []
        for p in entry.postings {
            accounts.append(try await account(conn, p.account, cache: cache, logger: logger))
            amounts.append("\(p.amount)")
        }
        if !accounts.isEmpty {
            try await conn.query(
                "INSERT INTO postings (entry_id, account_id, amount) SELECT \(made), a, m::numeric FROM unnest(\(accounts)::int8[], \(amounts)::text[]) AS x(a, m)",
                logger: logger
            )
        }
        return made
    }

    /// The sum of the account's postings; 0 for an account never used.
    static func balance(_ conn: PostgresConnection, _ ref: AccountRef, logger: Logger) async throws -> Decimal {
        let rows = try await conn.query(
            """
            SELECT coalesce(sum(p.amount), 0)::text FROM postings p JOIN accounts a ON a.id = p.account_id
            WHERE a.kind = \(ref.kind.rawValue) AND a.owner = \(ref.owner) AND a.currency = \(ref.currency)
            """,
            logger: logger
        )
        for try await text in rows.decode(String.self) { return try decimal(text) }
        return 0
    }

    static func decimal(_ text: String) throws -> Decimal {
        guard let d = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else { throw MissingRow("a decimal (got \(text.prefix(40)))") }
        return d
    }
}

/// `FundsStore` on the unit of work's connection.
struct PostgresFundsStore: FundsStore {
    let connection: PostgresConnection
    let logger: Logger

    func driver(ofToken idToken: String) async throws -> DriverLink? {
        for try await (driver, postpaid) in try await connection.query(
            "SELECT d.id, d.postpaid FROM driver_tokens t JOIN drivers d ON d.id = t.driver_id WHERE t.id_token = \(idToken)", logger: logger
        ).decode((String, Bool).self) { return DriverLink(driverId: driver, postpaid: postpaid) }
        return nil
    }

    func hasHold(transactionId: Int64) async throws -> Bool {
        try await !connection.query("SELECT 1 FROM holds WHERE transaction_id = \(transactionId)", logger: logger).collect().isEmpty
    }

    func openHold(idToken: String, stationId: String, now: Date) async throws -> Int64? {
        for try await id in try await connection.query(
            """
            SELECT id FROM holds WHERE id_token = \(idToken) AND station_id = \(stationId) AND state = 'held' AND transaction_id IS NULL
              AND booking_id IS NULL AND (expires_at IS NULL OR expires_at > \(now)) ORDER BY id DESC LIMIT 1 FOR UPDATE
            """,
            logger: logger
        ).decode(Int64.self) { return id }
        return nil
    }

    func holdBasis(stationId: String, evseId: Int?) async throws -> HoldBasis? {
        let rows = try await connection.query(
            """
            SELECT tf.body::text, l.time_zone, l.id,
                   coalesce((ec.body->>'max_electric_power')::int8, (ec.body->>'max_voltage')::int8 * (ec.body->>'max_amperage')::int8)
            FROM evses e JOIN locations l ON l.id = e.location_id
            JOIN evse_connectors ec ON ec.evse_uid = e.uid
            JOIN tariffs tf ON lower(tf.id) = lower(ec.tariff_ids[1]) AND tf.deleted_at IS NULL
            WHERE e.station_id = \(stationId) AND e.removed_at IS NULL AND (\(evseId.map(Int64.init))::int8 IS NULL OR e.evse_id = \(evseId.map(Int64.init)))
            ORDER BY 4 DESC NULLS LAST, e.evse_id, ec.connector_id LIMIT 1
            """,
            logger: logger
        )
        for try await (tariff, zone, location, power) in rows.decode((String, String, String, Int64?).self) {
            return HoldBasis(
                tariff: try CatalogJSON.decode(Tariff.self, tariff), tariffJSON: tariff, timeZone: TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!,
                locationId: location, powerW: power
            )
        }
        return nil
    }

    func placeHold(_ hold: NewHold) async throws -> HoldPlacement {
        let spendable = AccountRef(.driver, hold.driverId, hold.currency)
        // The driver's account row, locked: two holds of one driver are placed one after the other, each seeing the other.
        let accountId = try await LedgerSQL.account(connection, spendable, logger: logger)
        _ = try await connection.query("SELECT 1 FROM accounts WHERE id = \(accountId) FOR UPDATE", logger: logger).collect()
        let available = try await LedgerSQL.balance(connection, spendable, logger: logger)
        guard available >= hold.amount else { return .insufficient(available: available) }
        var id: Int64?
        for try await made in try await connection.query(
            """
            INSERT INTO holds (driver_id, currency, amount, id_token, station_id, transaction_id, tariff, time_zone, location_id, expires_at)
            VALUES (\(hold.driverId), \(hold.currency), \("\(hold.amount)")::numeric, \(hold.idToken), \(hold.stationId), \(hold.transactionId),
                    \(hold.basis.tariffJSON)::jsonb, \(hold.basis.timeZone.identifier), \(hold.basis.locationId), \(hold.expiresAt))
            RETURNING id
            """,
            logger: logger
        ).decode(Int64.self) { id = made }
        guard let id else { throw MissingRow("a new hold") }
        try await LedgerSQL.post(connection, CapturePlan.hold(id: id, driver: hold.driverId, currency: hold.currency, amount: hold.amount), holdId: id, logger: logger)
        return .placed(id: id)
    }

    func attachHold(id: Int64, transactionId: Int64, basis: HoldBasis?) async throws {
        if let basis {
            // The EVSE is known now: the session is priced by its tariff, not by the one the Authorize sized the hold by.
            try await connection.query(
                """
                UPDATE holds SET transaction_id = \(transactionId), expires_at = NULL, tariff = \(basis.tariffJSON)::jsonb,
                    time_zone = \(basis.timeZone.identifier), location_id = \(basis.locationId)
                WHERE id = \(id)
                """,
                logger: logger
            )
        } else {
            try await connection.query("UPDATE holds SET transaction_id = \(transactionId), expires_at = NULL WHERE id = \(id)", logger: logger)
        }
    }
}

extension PostgresFundsStore {
    func bookings(stationId: String, evseId: Int?, now: Date) async throws -> [ActiveBooking] {
        var out: [ActiveBooking] = []
        for try await (id, evse, type, value) in try await connection.query(
            """
            SELECT id, evse_id::int8, expected_type, expected_value FROM bookings
            WHERE station_id = \(stationId) AND state IN ('booked', 'reserved') AND slot @> \(now)::timestamptz
              AND (\(evseId.map(Int64.init))::int8 IS NULL OR evse_id = \(evseId.map(Int64.init)))
            ORDER BY id
            """,
            logger: logger
        ).decode((Int64, Int64, String, String).self) { out.append(ActiveBooking(id: id, evseId: Int(evse), expectedType: type, expectedValue: value)) }
        return out
    }

    func useBooking(id: Int64, transactionId: Int64) async throws -> Bool {
        let rows = try await connection.query(
            """
            WITH b AS (
                UPDATE bookings SET state = 'used', transaction_id = \(transactionId), updated_at = now()
                WHERE id = \(id) AND state IN ('booked', 'reserved') RETURNING id, hold_id
            ),
            h AS (
                UPDATE holds SET transaction_id = \(transactionId), expires_at = NULL
                WHERE id = (SELECT hold_id FROM b) AND state = 'held' AND transaction_id IS NULL RETURNING id
            )
            SELECT (SELECT count(*) FROM b)::int8, (SELECT count(*) FROM h)::int8, (SELECT hold_id FROM b) IS NULL
            """,
            logger: logger
        )
        for try await (booked, held, noHold) in rows.decode((Int64, Int64, Bool).self) {
            // Taken when the booking was open and its hold (if it has one) is now this transaction's.
            return booked == 1 && (noHold || held == 1)
        }
        return false
    }

    func sharing(stationId: String) async throws -> (calendar: SharingCalendar, host: String?)? {
        for try await (body, zone, host) in try await connection.query(
            """
            SELECT l.body::text, l.time_zone, h.host FROM evses e JOIN locations l ON l.id = e.location_id
            JOIN location_hosts h ON h.location_id = l.id
            WHERE e.station_id = \(stationId) AND e.removed_at IS NULL ORDER BY e.evse_id LIMIT 1
            """,
            logger: logger
        ).decode((String, String, String).self) {
            let site = try CatalogJSON.decode(LocationSite.self, body)
            return (SharingCalendar(hours: site.openingTimes, timeZone: TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!), host)
        }
        return nil
    }
}

extension PostgresFundsStore {
    func insertBooking(_ b: NewBooking) async throws -> Int64 {
        do {
            for try await id in try await connection.query(
                """
                INSERT INTO bookings (station_id, evse_id, driver_id, partner_id, ocpi_reservation_id, id_token, expected_type, expected_value, slot)
                VALUES (\(b.stationId), \(Int64(b.evseId)), \(b.partnerId == nil ? b.driverId : nil), \(b.partnerId), \(b.ocpiReservationId), \(b.idToken),
                        \(b.expectedType), \(b.expectedValue), tstzrange(\(b.start), \(b.end), '[)'))
                RETURNING id
                """,
                logger: logger
            ).decode(Int64.self) { return id }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23P01" {
            throw BookingService.Refusal.overlap
        }
        throw MissingRow("a new booking")
    }

    func linkBookingHold(bookingId: Int64, holdId: Int64) async throws {
        try await connection.query(
            """
            WITH b AS (UPDATE bookings SET hold_id = \(holdId) WHERE id = \(bookingId) RETURNING id)
            UPDATE holds SET booking_id = (SELECT id FROM b) WHERE id = \(holdId)
            """,
            logger: logger
        )
    }
}
