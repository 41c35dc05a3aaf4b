import CSMS
import Crypto
import Foundation
import Logging
import OCPP
import PostgresNIO

/// `UnitOfWork` on one PostgreSQL connection that is inside a transaction.
struct PostgresUnitOfWork: UnitOfWork {
    let connection: PostgresConnection
    let logger: Logger

    // MARK: Stations

    func station(id: String) async throws -> Station? {
        try await StationRows.fetch(connection, logger: logger, where: id).first
    }

    func recordBoot(stationId: String, info: BootInfo, version: OCPPVersion, at: Date) async throws {
        try await connection.query(
            """
            UPDATE stations SET vendor = \(info.vendor), model = \(info.model), serial_number = \(info.serialNumber),
                firmware_version = \(info.firmwareVersion), iccid = \(info.iccid), imsi = \(info.imsi), meter_type = \(info.meterType),
                meter_serial_number = \(info.meterSerialNumber), boot_reason = \(info.reason), ocpp_version = \(version.rawValue),
                last_boot_at = \(at), last_seen_at = \(at)
            WHERE id = \(stationId)
            """,
            logger: logger
        )
    }

    func recordStatus(stationId: String, _ s: ConnectorStatus) async throws -> Bool {
        try await connection.query(
            """
            INSERT INTO connectors (station_id, evse_id, connector_id, status, error_code, info, vendor_error_code, status_at)
            VALUES (\(stationId), \(s.evseId), \(s.connectorId), \(s.status), \(s.errorCode), \(s.info), \(s.vendorErrorCode), \(s.reportedAt))
            ON CONFLICT (station_id, evse_id, connector_id) DO UPDATE SET status = EXCLUDED.status, error_code = EXCLUDED.error_code,
                info = EXCLUDED.info, vendor_error_code = EXCLUDED.vendor_error_code, status_at = EXCLUDED.status_at
            WHERE connectors.status_at <= EXCLUDED.status_at
            """,
            logger: logger
        )
        let rows = try await connection.query(
            """
            INSERT INTO status_history (station_id, evse_id, connector_id, status, error_code, info, vendor_error_code, reported_at)
            VALUES (\(stationId), \(s.evseId), \(s.connectorId), \(s.status), \(s.errorCode), \(s.info), \(s.vendorErrorCode), \(s.reportedAt))
            ON CONFLICT DO NOTHING RETURNING id
            """,
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    // MARK: Tokens

    func token(value: String) async throws -> IdToken? {
        try await TokenRows.fetch(connection, logger: logger, value: value).first
    }

    func hasActiveTransaction(idToken: String, excluding: Int64?) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT 1 FROM transactions WHERE id_token = \(idToken) AND state = 'Active' AND id IS DISTINCT FROM \(excluding) LIMIT 1",
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    // MARK: Transactions

    func findStart(stationId: String, connector: ConnectorRef, idToken: String, startedAt: Date, meterStartWh: Int64) async throws -> ChargingTransaction? {
        try await TransactionRows.fetch(
            connection, logger: logger,
            """
            WHERE station_id = \(stationId) AND evse_id = \(connector.evseId) AND id_token = \(idToken)
              AND started_at = \(startedAt) AND meter_start_wh = \(meterStartWh) AND ocpp_version = 'ocpp1.6'
            """
        ).first
    }

    func insertTransaction(_ t: NewTransaction) async throws -> ChargingTransaction {
        let rows = try await connection.query(
            """
            WITH n AS (SELECT nextval(pg_get_serial_sequence('transactions', 'id')) AS id)
            INSERT INTO transactions (id, uid, ocpp_version, station_id, evse_id, connector_id, id_token, reservation_id, remote_start_id, state, charging_state,
                started_at, meter_start_wh, suspect, suspect_reasons)
            SELECT n.id, coalesce(\(t.uid), n.id::text), \(t.version.rawValue), \(t.stationId), \(t.connector.evseId),
                \(t.connector.connectorId), \(t.idToken), \(t.reservationId), \(t.remoteStartId), \(t.state.rawValue), \(t.chargingState),
                \(t.startedAt), \(t.meterStartWh), \(!t.suspectReasons.isEmpty), \(t.suspectReasons) FROM n
            RETURNING \(unescaped: TransactionRows.columns)
            """,
            logger: logger
        )
        for try await row in rows { return try TransactionRows.decode(row) }
        throw StoreFailure.unavailable("the transaction insert returned no row")
    }

    func transaction(id: Int64) async throws -> ChargingTransaction? {
        try await TransactionRows.fetch(connection, logger: logger, "WHERE id = \(id)").first
    }

    func transaction(stationId: String, uid: String) async throws -> ChargingTransaction? {
        try await TransactionRows.fetch(connection, logger: logger, "WHERE station_id = \(stationId) AND uid = \(uid)").first
    }

    func updateTransaction(_ t: ChargingTransaction) async throws {
        try await connection.query(
            """
            UPDATE transactions SET evse_id = \(t.evseId), connector_id = \(t.connectorId), id_token = \(t.idToken),
                reservation_id = \(t.reservationId), state = \(t.state.rawValue), charging_state = \(t.chargingState), started_at = \(t.startedAt),
                stopped_at = \(t.stoppedAt), meter_start_wh = \(t.meterStartWh), meter_stop_wh = \(t.meterStopWh), energy_wh = \(t.energyWh),
                stop_reason = \(t.stopReason), suspect = \(t.suspect), suspect_reasons = \(t.suspectReasons), updated_at = now()
            WHERE id = \(t.id)
            """,
            logger: logger
        )
    }

    func insertMeterSamples(stationId: String, evseId: Int, transactionId: Int64?, _ samples: [MeterSample]) async throws -> Int {
        guard !samples.isEmpty else { return 0 }
        // One statement for the whole batch: arrays unnested server side.
        let at = samples.map(\.sampledAt)
        let measurand = samples.map(\.measurand)
        let phase = samples.map { $0.phase ?? "" }
        let location = samples.map { $0.location ?? "" }
        let context = samples.map { $0.context ?? "" }
        // Arrays cannot carry NULLs through the binding, so "" stands for none and NULLIF restores it.
        let value = samples.map { $0.value.map { "\($0)" } ?? "" }
        let unit = samples.map(\.unit)
        let raw = samples.map(\.rawValue)
        let rawUnit = samples.map { $0.rawUnit ?? "" }
        let signed = samples.map { $0.signedData ?? "" }
        // A sample whose identity is already stored with another value is a correction: kept, flagged.
        let rows = try await connection.query(
            """
            INSERT INTO meter_values (station_id, evse_id, transaction_id, sampled_at, measurand, phase, location, context, value, unit,
                raw_value, raw_unit, signed_data, correction)
            SELECT \(stationId), \(evseId), \(transactionId), a, m, p, l, c, NULLIF(v, '')::numeric, u, r, NULLIF(ru, ''), NULLIF(s, ''),
                EXISTS (SELECT 1 FROM meter_values o WHERE o.station_id = \(stationId) AND o.evse_id = \(evseId)
                    AND coalesce(o.transaction_id, 0) = coalesce(\(transactionId)::bigint, 0) AND o.sampled_at = a AND o.measurand = m
                    AND o.phase = p AND o.location = l AND o.context = c AND o.raw_value <> r)
            FROM unnest(\(at)::timestamptz[], \(measurand)::text[], \(phase)::text[], \(location)::text[], \(context)::text[],
                \(value)::text[], \(unit)::text[], \(raw)::text[], \(rawUnit)::text[], \(signed)::text[]) AS x(a, m, p, l, c, v, u, r, ru, s)
            ON CONFLICT DO NOTHING
            RETURNING correction
            """,
            logger: logger
        )
        var corrections = 0
        for try await correction in rows.decode(Bool.self) where correction { corrections += 1 }
        return corrections
    }

    func registerReadings(transactionId: Int64) async throws -> [(Date, Int64)] {
        let rows = try await connection.query(
            """
            SELECT DISTINCT ON (sampled_at) sampled_at, round(value)::bigint FROM meter_values
            WHERE transaction_id = \(transactionId) AND measurand = 'Energy.Active.Import.Register' AND phase = ''
              AND unit = 'Wh' AND value IS NOT NULL AND location IN ('', 'Outlet')
            ORDER BY sampled_at, id DESC
            """,
            logger: logger
        )
        var out: [(Date, Int64)] = []
        for try await (at, wh) in rows.decode((Date, Int64).self) { out.append((at, wh)) }
        return out
    }

    func recordTransactionEvent(transactionId: Int64, seqNo: Int, eventType: String, triggerReason: String, offline: Bool, at: Date) async throws -> Bool {
        let rows = try await connection.query(
            """
            INSERT INTO transaction_events (transaction_id, seq_no, event_type, trigger_reason, offline, occurred_at)
            VALUES (\(transactionId), \(seqNo), \(eventType), \(triggerReason), \(offline), \(at))
            ON CONFLICT DO NOTHING RETURNING 1
            """,
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    func staleTransactions(before cutoff: Date, limit: Int) async throws -> [ChargingTransaction] {
        try await TransactionRows.fetch(
            connection, logger: logger,
            """
            WHERE state = 'Active' AND updated_at < \(cutoff)
              AND NOT EXISTS (SELECT 1 FROM meter_values m WHERE m.transaction_id = transactions.id AND m.received_at >= \(cutoff))
            ORDER BY updated_at LIMIT \(limit)
            FOR UPDATE SKIP LOCKED
            """
        )
    }

    // MARK: Reservations

    func reservation(id: Int) async throws -> Reservation? {
        try await ReservationRows.fetch(connection, logger: logger, "WHERE id = \(id)").first
    }

    func updateReservation(id: Int, status: ReservationStatus, transactionId: Int64?) async throws {
        try await connection.query(
            "UPDATE reservations SET status = \(status.rawValue), transaction_id = coalesce(\(transactionId), transaction_id), updated_at = now() WHERE id = \(id)",
            logger: logger
        )
    }

    // MARK: Events

    func recordStationEvent(stationId: String, kind: String, payload: JSONValue, suspect: Bool, at: Date) async throws {
        try await connection.query(
            "INSERT INTO station_events (station_id, kind, payload, suspect, occurred_at) VALUES (\(stationId), \(kind), \(payload.serialized)::jsonb, \(suspect), \(at))",
            logger: logger
        )
    }

    func appendOutbox(topic: String, payload: JSONValue) async throws {
        try await connection.query("INSERT INTO outbox (topic, payload) VALUES (\(topic), \(payload.serialized)::jsonb)", logger: logger)
    }

    // MARK: Replies

    /// SHA-256 of the payload's canonical serialisation (keys sorted), so that a replay matches byte for byte.
    private static func digest(_ payload: JSONValue) -> String {
        SHA256.hash(data: Data(payload.serialized.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    func committedReply(stationId: String, messageId: String, action: String, payload: JSONValue, within window: Duration) async throws -> JSONValue? {
        let seconds = Double(window.components.seconds)
        let rows = try await connection.query(
            """
            SELECT reply::text FROM inbound_replies
            WHERE station_id = \(stationId) AND message_id = \(messageId) AND action = \(action) AND digest = decode(\(Self.digest(payload)), 'hex')
              AND received_at > now() - make_interval(secs => \(seconds))
            """,
            logger: logger
        )
        for try await text in rows.decode(String.self) { return try JSONParser.parse(Array(text.utf8)) }
        return nil
    }

    func recordReply(stationId: String, messageId: String, action: String, payload: JSONValue, reply: JSONValue) async throws {
        try await connection.query(
            """
            INSERT INTO inbound_replies (station_id, message_id, action, digest, reply) VALUES (\(stationId), \(messageId), \(action),
                decode(\(Self.digest(payload)), 'hex'), \(reply.serialized)::jsonb)
            ON CONFLICT (station_id, message_id, action, digest) DO UPDATE SET reply = EXCLUDED.reply, received_at = now()
            """,
            logger: logger
        )
    }

    func purgeReplies(before cutoff: Date) async throws -> Int {
        let rows = try await connection.query(
            """
            WITH gone AS (DELETE FROM inbound_replies WHERE ctid IN (
                SELECT ctid FROM inbound_replies WHERE received_at < \(cutoff) LIMIT 10000 FOR UPDATE SKIP LOCKED) RETURNING 1)
            SELECT count(*)::int FROM gone
            """,
            logger: logger
        )
        for try await n in rows.decode(Int.self) { return n }
        return 0
    }
}
