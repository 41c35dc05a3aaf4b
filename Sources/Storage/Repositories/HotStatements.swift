import Foundation
import Logging
import PostgresNIO

/// The statements every station message runs, prepared once per connection (postgres-nio
/// `PostgresPreparedStatement`): after the first use a message costs PostgreSQL a Bind and an Execute,
/// not a Parse and a plan.
///
/// Every parameter is cast in the SQL to the type its Swift value binds as (`Int` and `Int64` as
/// `bigint`, `String` as `text`, `Date` as `timestamptz`), because the statement is parsed with the
/// types of its first use, and a first use that binds NULL would otherwise let PostgreSQL pick another.
protocol HotSQL {
    static var sql: String { get }
}

struct Hot<S: HotSQL>: PostgresPreparedStatement {
    static var name: String { "voltaic_" + String(describing: S.self) }
    static var sql: String { S.sql }
    typealias Row = PostgresRow

    let bindings: PostgresBindings

    init(_ values: (any PostgresThrowingDynamicTypeEncodable)?...) throws { try self.init(binding: values) }

    init(binding values: [(any PostgresThrowingDynamicTypeEncodable)?]) throws {
        var b = PostgresBindings(capacity: values.count)
        for value in values {
            if let value { try b.append(value) } else { b.appendNull() }
        }
        bindings = b
    }

    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// Whether hot statements are kept prepared by name on each connection (the default), or sent unnamed each time: through
/// a pooler in transaction mode (PgBouncer before 1.21) a connection's next transaction may run on another server
/// session, which never saw the name.
public enum HotStatements {
    /// Set once at start, before any statement runs (and read only after), so a plain flag.
    nonisolated(unsafe) private static var unnamed = false

    public static func sendUnnamed(_ on: Bool) { unnamed = on }
    static var areUnnamed: Bool { unnamed }
}

extension PostgresConnection {
    /// Runs a hot statement; its rows, as they come.
    func run<S: HotSQL>(_ statement: Hot<S>, logger: Logger) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, PostgresRow> {
        if HotStatements.areUnnamed {
            return try await query(PostgresQuery(unsafeSQL: S.sql, binds: statement.bindings), logger: logger).map { $0 }
        }
        return try await execute(statement, logger: logger)
    }

    /// Runs a hot statement whose one row is one bigint (a count).
    func count<S: HotSQL>(_ statement: Hot<S>, logger: Logger) async throws -> Int {
        for try await row in try await run(statement, logger: logger) { return Int(try row.decode(Int64.self)) }
        return 0
    }

    /// Runs a hot statement and says whether it returned a row.
    func returnsRow<S: HotSQL>(_ statement: Hot<S>, logger: Logger) async throws -> Bool {
        for try await _ in try await run(statement, logger: logger) { return true }
        return false
    }
}

enum HotSQLs {
    enum TransactionById: HotSQL {
        // Locked: every unit of work writes what it read, and a station's Stop and an operator's end (or
        // two workers' batches) must not both see it Active.
        static let sql = "SELECT \(TransactionRows.columns) FROM transactions WHERE id = $1::bigint FOR UPDATE"
    }

    enum TransactionByUid: HotSQL {
        static let sql = "SELECT \(TransactionRows.columns) FROM transactions WHERE station_id = $1::text AND uid = $2::text FOR UPDATE"
    }

    enum UpdateTransaction: HotSQL {
        static let sql = """
            UPDATE transactions SET evse_id = $2::bigint, connector_id = $3::bigint, id_token = $4::text, reservation_id = $5::bigint,
                state = $6::text, charging_state = $7::text, started_at = $8::timestamptz, stopped_at = $9::timestamptz,
                meter_start_wh = $10::bigint, meter_stop_wh = $11::bigint, energy_wh = $12::bigint, stop_reason = $13::text,
                suspect = $14::boolean, suspect_reasons = $15::text[], updated_at = now()
            WHERE id = $1::bigint
            """
    }

    /// A token of Voltaic's own (id_tokens), or else a roaming partner's (ocpi_tokens, by uid in any case; the valid
    /// and newest first when two eMSPs issued the same uid): one valid that may be authorized from the copy is
    /// Accepted, one that is not valid Blocked, one whose eMSP wants to be asked each time (NEVER) Invalid.
    enum Token: HotSQL {
        static let sql = """
            SELECT \(TokenRows.columns) FROM (
                SELECT \(TokenRows.columns), 0 AS rank FROM id_tokens WHERE value = $1::text
                UNION ALL
                (SELECT o.uid, 'OCPI ' || o.type,
                        CASE WHEN NOT o.valid THEN 'Blocked'
                             -- The eMSP's answer of the last 15 minutes decides, whatever the copy's whitelist (a refusal
                             -- stands over a copy that would allow); unreachable, or no answer, leaves it to the copy:
                             -- a NEVER token is refused, an ALLOWED_OFFLINE one charges.
                             WHEN a.allowed IS NOT NULL AND a.allowed <> 'UNREACHABLE' THEN
                                 CASE a.allowed WHEN 'ALLOWED' THEN 'Accepted' WHEN 'BLOCKED' THEN 'Blocked' WHEN 'EXPIRED' THEN 'Expired'
                                                WHEN 'NO_CREDIT' THEN 'NoCredit' ELSE 'Invalid' END
                             WHEN o.whitelist = 'NEVER' THEN 'Invalid'
                             ELSE 'Accepted' END,
                        NULL::timestamptz, o.group_id, o.created_at, o.last_updated, 1
                 FROM ocpi_tokens o
                 LEFT JOIN LATERAL (
                     SELECT allowed FROM ocpi_authorizations
                     WHERE lower(token_uid) = lower(o.uid) AND partner_id = o.partner_id AND created_at > now() - interval '15 minutes'
                     ORDER BY id DESC LIMIT 1
                 ) a ON true
                 WHERE lower(o.uid) = lower($1::text) ORDER BY o.valid DESC, o.last_updated DESC LIMIT 1)
                UNION ALL
                -- A token with no copy that an eMSP answered for (a refusal keeps no copy; a 2.1.1 answer has no Token).
                (SELECT token_uid, 'OCPI ' || token_type,
                        CASE allowed WHEN 'ALLOWED' THEN 'Accepted' WHEN 'BLOCKED' THEN 'Blocked' WHEN 'EXPIRED' THEN 'Expired'
                                     WHEN 'NO_CREDIT' THEN 'NoCredit' ELSE 'Invalid' END,
                        NULL::timestamptz, NULL::text, created_at, created_at, 2
                 FROM ocpi_authorizations
                 WHERE lower(token_uid) = lower($1::text) AND created_at > now() - interval '15 minutes' AND allowed <> 'UNREACHABLE'
                 ORDER BY id DESC LIMIT 1)
            ) t ORDER BY rank LIMIT 1
            """
    }

    enum TokenCharging: HotSQL {
        static let sql = "SELECT 1 FROM transactions WHERE id_token = $1::text AND state = 'Active' AND id IS DISTINCT FROM $2::bigint LIMIT 1"
    }

    /// The samples of many CALLs, one station each, bound as one array per column and unnested server side. Arrays
    /// cannot carry NULLs through the binding, so "" stands for none (and transaction 0), and NULLIF restores it.
    /// The samples as first values of their sample (`meter_values_first`); an exact replay and a correction both
    /// conflict there and are left to `InsertMeterCorrections`. Returns how many were inserted.
    enum InsertMeterSamples: HotSQL {
        static let sql = """
            WITH ins AS (
                INSERT INTO meter_values (station_id, evse_id, transaction_id, sampled_at, measurand, phase, location, context, value, unit,
                    raw_value, raw_unit, signed_data)
                SELECT st, ev, NULLIF(tx, 0), a, m, p, l, c, NULLIF(v, '')::numeric, u, r, NULLIF(ru, ''), NULLIF(s, '')
                FROM unnest(\(arrays)) AS x(st, ev, tx, a, m, p, l, c, v, u, r, ru, s)
                ON CONFLICT (station_id, evse_id, (coalesce(transaction_id, 0)), sampled_at, measurand, phase, location, context)
                    WHERE NOT correction DO NOTHING
                RETURNING 1)
            SELECT count(*)::bigint FROM ins
            """
        static let arrays = "$1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[]"
    }

    /// Run only when `InsertMeterSamples` left some out: each sample whose first value differs from it is kept as
    /// a correction, once per distinct value (`meter_values_corrections`). An exact replay of the first value, or
    /// of a correction, inserts nothing. Returns the corrections inserted, per station.
    enum InsertMeterCorrections: HotSQL {
        static let sql = """
            WITH ins AS (
                INSERT INTO meter_values (station_id, evse_id, transaction_id, sampled_at, measurand, phase, location, context, value, unit,
                    raw_value, raw_unit, signed_data, correction)
                SELECT st, ev, NULLIF(tx, 0), a, m, p, l, c, NULLIF(v, '')::numeric, u, r, NULLIF(ru, ''), NULLIF(s, ''), true
                FROM unnest(\(InsertMeterSamples.arrays)) AS x(st, ev, tx, a, m, p, l, c, v, u, r, ru, s)
                WHERE EXISTS (SELECT 1 FROM meter_values o WHERE o.station_id = st AND o.evse_id = ev
                    AND coalesce(o.transaction_id, 0) = tx AND o.sampled_at = a AND o.measurand = m
                    AND o.phase = p AND o.location = l AND o.context = c AND NOT o.correction AND o.raw_value <> r)
                ON CONFLICT (station_id, evse_id, (coalesce(transaction_id, 0)), sampled_at, measurand, phase, location, context, (md5(raw_value)))
                    WHERE correction DO NOTHING
                RETURNING station_id)
            SELECT station_id, count(*)::bigint FROM ins GROUP BY station_id
            """
    }

    enum TransactionsByIds: HotSQL {
        // Locked in id order, as TransactionById locks one: two batches naming the same transactions wait,
        // they do not deadlock.
        static let sql = "SELECT \(TransactionRows.columns) FROM transactions WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE"
    }

    enum UpsertConnector: HotSQL {
        static let sql = """
            INSERT INTO connectors (station_id, evse_id, connector_id, status, error_code, info, vendor_error_code, status_at)
            VALUES ($1::text, $2::bigint, $3::bigint, $4::text, $5::text, $6::text, $7::text, $8::timestamptz)
            ON CONFLICT (station_id, evse_id, connector_id) DO UPDATE SET status = EXCLUDED.status, error_code = EXCLUDED.error_code,
                info = EXCLUDED.info, vendor_error_code = EXCLUDED.vendor_error_code, status_at = EXCLUDED.status_at
            WHERE connectors.status_at <= EXCLUDED.status_at
            """
    }

    enum InsertStatusHistory: HotSQL {
        static let sql = """
            INSERT INTO status_history (station_id, evse_id, connector_id, status, error_code, info, vendor_error_code, reported_at)
            VALUES ($1::text, $2::bigint, $3::bigint, $4::text, $5::text, $6::text, $7::text, $8::timestamptz)
            ON CONFLICT DO NOTHING RETURNING id
            """
    }

    enum InsertTransactionEvent: HotSQL {
        static let sql = """
            INSERT INTO transaction_events (transaction_id, seq_no, event_type, trigger_reason, offline, occurred_at)
            VALUES ($1::bigint, $2::bigint, $3::text, $4::text, $5::boolean, $6::timestamptz)
            ON CONFLICT DO NOTHING RETURNING 1
            """
    }

    enum InsertStationEvent: HotSQL {
        static let sql = """
            INSERT INTO station_events (station_id, kind, payload, suspect, occurred_at)
            VALUES ($1::text, $2::text, $3::text::jsonb, $4::boolean, $5::timestamptz)
            """
    }

    enum AppendOutbox: HotSQL {
        static let sql = "INSERT INTO outbox (topic, payload) VALUES ($1::text, $2::text::jsonb)"
    }

    enum StationById: HotSQL {
        static let sql = "SELECT \(StationRows.columns) FROM stations WHERE id = $1::text"
    }

    enum RecordBoot: HotSQL {
        static let sql = """
            UPDATE stations SET vendor = $2::text, model = $3::text, serial_number = $4::text, firmware_version = $5::text, iccid = $6::text,
                imsi = $7::text, meter_type = $8::text, meter_serial_number = $9::text, boot_reason = $10::text, ocpp_version = $11::text,
                last_boot_at = $12::timestamptz, last_seen_at = $12::timestamptz
            WHERE id = $1::text
            """
    }

    enum StationsByIds: HotSQL {
        static let sql = "SELECT \(StationRows.columns) FROM stations WHERE id = ANY($1::text[])"
    }

    enum LockStations: HotSQL {
        static let sql = "SELECT 1 FROM stations WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE"
    }

    /// Boots of many stations, each once, as one JSON array of records (its fields may be null).
    enum RecordBoots: HotSQL {
        static let sql = """
            UPDATE stations s SET vendor = x.vendor, model = x.model, serial_number = x.serial_number, firmware_version = x.firmware_version,
                iccid = x.iccid, imsi = x.imsi, meter_type = x.meter_type, meter_serial_number = x.meter_serial_number, boot_reason = x.boot_reason,
                ocpp_version = x.ocpp_version, last_boot_at = x.at, last_seen_at = x.at
            FROM (SELECT r.*, timestamptz 'epoch' + r.at_us * interval '1 microsecond' AS at
                  FROM jsonb_to_recordset($1::text::jsonb) AS r(id text, vendor text, model text, serial_number text, firmware_version text,
                      iccid text, imsi text, meter_type text, meter_serial_number text, boot_reason text, ocpp_version text, at_us bigint)) x
            WHERE s.id = x.id
            """
    }

    enum AppendOutboxMany: HotSQL {
        static let sql = """
            INSERT INTO outbox (topic, payload)
            SELECT t, p::jsonb FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(t, p, n) ORDER BY n
            """
    }

    /// The kept replies of many CALLs, each with its place (1-based) in the arrays.
    enum CommittedReplies: HotSQL {
        static let sql = """
            SELECT x.n, r.reply::text
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS x(st, mid, act, dg, n)
            JOIN inbound_replies r ON r.station_id = x.st AND r.message_id = x.mid AND r.action = x.act AND r.digest = decode(x.dg, 'hex')
            WHERE r.received_at > now() - make_interval(secs => $5::double precision)
            """
    }

    enum RecordReplies: HotSQL {
        static let sql = """
            INSERT INTO inbound_replies (station_id, message_id, action, digest, reply)
            SELECT st, mid, act, decode(dg, 'hex'), rp::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS x(st, mid, act, dg, rp)
            ON CONFLICT (station_id, message_id, action, digest) DO UPDATE SET reply = EXCLUDED.reply, received_at = now()
            """
    }

    enum CommittedReply: HotSQL {
        static let sql = """
            SELECT reply::text FROM inbound_replies
            WHERE station_id = $1::text AND message_id = $2::text AND action = $3::text AND digest = decode($4::text, 'hex')
              AND received_at > now() - make_interval(secs => $5::double precision)
            """
    }

    enum RecordReply: HotSQL {
        static let sql = """
            INSERT INTO inbound_replies (station_id, message_id, action, digest, reply)
            VALUES ($1::text, $2::text, $3::text, decode($4::text, 'hex'), $5::text::jsonb)
            ON CONFLICT (station_id, message_id, action, digest) DO UPDATE SET reply = EXCLUDED.reply, received_at = now()
            """
    }
}
