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

    var funds: (any FundsStore)? { PostgresFundsStore(connection: connection, logger: logger) }

    // MARK: Stations

    func station(id: String) async throws -> Station? {
        try await StationRows.all(connection.run(Hot<HotSQLs.StationById>(id), logger: logger)).first
    }

    func stations(ids: [String]) async throws -> [Station] {
        try await StationRows.all(connection.run(Hot<HotSQLs.StationsByIds>(ids), logger: logger))
    }

    func recordBoots(_ boots: [BootRecord]) async throws {
        guard !boots.isEmpty else { return }
        func text(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
        let records: [JSONValue] = boots.map { b in
            .object([
                "id": .string(b.stationId), "vendor": .string(b.info.vendor), "model": .string(b.info.model), "serial_number": text(b.info.serialNumber),
                "firmware_version": text(b.info.firmwareVersion), "iccid": text(b.info.iccid), "imsi": text(b.info.imsi),
                "meter_type": text(b.info.meterType), "meter_serial_number": text(b.info.meterSerialNumber), "boot_reason": text(b.info.reason),
                "ocpp_version": .string(b.version.rawValue), "at_us": .number(JSONNumber(Self.microseconds(b.at))),
            ])
        }
        // Rows locked in id order first, as the presence writer locks them: overlapping writers queue, never deadlock.
        _ = try await connection.run(Hot<HotSQLs.LockStations>(boots.map(\.stationId).sorted()), logger: logger)
        _ = try await connection.run(Hot<HotSQLs.RecordBoots>(JSONValue.array(records).serialized), logger: logger)
    }

    /// Microseconds since 1970, rounded as postgres-nio rounds a bound `Date`.
    static func microseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.toNearestOrEven))
    }

    func recordBoot(stationId: String, info: BootInfo, version: OCPPVersion, at: Date) async throws {
        _ = try await connection.run(
            Hot<HotSQLs.RecordBoot>(
                stationId, info.vendor, info.model, info.serialNumber, info.firmwareVersion, info.iccid, info.imsi, info.meterType,
                info.meterSerialNumber, info.reason, version.rawValue, at
            ),
            logger: logger
        )
    }

    func recordStatus(stationId: String, _ s: ConnectorStatus) async throws -> Bool {
        let values: [(any PostgresThrowingDynamicTypeEncodable)?] = [stationId, s.evseId, s.connectorId, s.status, s.errorCode, s.info, s.vendorErrorCode, s.reportedAt]
        _ = try await connection.run(Hot<HotSQLs.UpsertConnector>(binding: values), logger: logger)
        return try await connection.returnsRow(Hot<HotSQLs.InsertStatusHistory>(binding: values), logger: logger)
    }

    // MARK: Tokens

    func token(value: String) async throws -> IdToken? {
        try await TokenRows.all(connection.run(Hot<HotSQLs.Token>(value), logger: logger)).first
    }

    func hasActiveTransaction(idToken: String, excluding: Int64?) async throws -> Bool {
        try await connection.returnsRow(Hot<HotSQLs.TokenCharging>(idToken, excluding), logger: logger)
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
        try await TransactionRows.all(connection.run(Hot<HotSQLs.TransactionById>(id), logger: logger)).first
    }

    func transactions(ids: [Int64]) async throws -> [ChargingTransaction] {
        try await TransactionRows.all(connection.run(Hot<HotSQLs.TransactionsByIds>(ids), logger: logger))
    }

    func transaction(stationId: String, uid: String) async throws -> ChargingTransaction? {
        try await TransactionRows.all(connection.run(Hot<HotSQLs.TransactionByUid>(stationId, uid), logger: logger)).first
    }

    func updateTransaction(_ t: ChargingTransaction) async throws {
        _ = try await connection.run(
            Hot<HotSQLs.UpdateTransaction>(
                t.id, t.evseId, t.connectorId, t.idToken, t.reservationId, t.state.rawValue, t.chargingState, t.startedAt, t.stoppedAt,
                t.meterStartWh, t.meterStopWh, t.energyWh, t.stopReason, t.suspect, t.suspectReasons
            ),
            logger: logger
        )
    }

    func insertMeterSamples(_ groups: [MeterSampleGroup]) async throws -> [Int] {
        let total = groups.reduce(0) { $0 + $1.samples.count }
        guard total > 0 else { return groups.map { _ in 0 } }
        // One statement for all the groups' samples, bound as one array per column.
        var station: [String] = [], evse: [Int] = [], tx: [Int64] = [], at: [Date] = [], measurand: [String] = []
        var phase: [String] = [], location: [String] = [], context: [String] = [], value: [String] = [], unit: [String] = []
        var raw: [String] = [], rawUnit: [String] = [], signed: [String] = []
        station.reserveCapacity(total)
        for g in groups {
            for s in g.samples {
                station.append(g.stationId)
                evse.append(g.evseId)
                tx.append(g.transactionId ?? 0)
                at.append(s.sampledAt)
                measurand.append(s.measurand)
                phase.append(s.phase ?? "")
                location.append(s.location ?? "")
                context.append(s.context ?? "")
                value.append(s.value.map { "\($0)" } ?? "")
                unit.append(s.unit)
                raw.append(s.rawValue)
                rawUnit.append(s.rawUnit ?? "")
                signed.append(s.signedData ?? "")
            }
        }
        let inserted = try await connection.count(Hot<HotSQLs.InsertMeterSamples>(station, evse, tx, at, measurand, phase, location, context, value, unit, raw, rawUnit, signed), logger: logger)
        // Every sample new: nothing can be a correction (the common case, one statement).
        guard inserted < total else { return groups.map { _ in 0 } }
        let rows = try await connection.run(
            Hot<HotSQLs.InsertMeterCorrections>(station, evse, tx, at, measurand, phase, location, context, value, unit, raw, rawUnit, signed),
            logger: logger
        )
        var corrections: [String: Int] = [:]
        for try await row in rows {
            let (id, n) = try row.decode((String, Int64).self)
            corrections[id] = Int(n)
        }
        return groups.map { corrections[$0.stationId] ?? 0 }
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
        try await connection.returnsRow(Hot<HotSQLs.InsertTransactionEvent>(transactionId, seqNo, eventType, triggerReason, offline, at), logger: logger)
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
        _ = try await connection.run(Hot<HotSQLs.InsertStationEvent>(stationId, kind, payload.serialized, suspect, at), logger: logger)
    }

    func recordSigningRequest(_ r: SigningRequestRecord) async throws {
        try await connection.query(
            "INSERT INTO certificate_signing_requests (station_id, csr, certificate_use, received_at) VALUES (\(r.stationId), \(r.csr), \(r.use), \(r.receivedAt))",
            logger: logger
        )
    }

    func appendOutbox(topic: String, payload: JSONValue) async throws {
        _ = try await connection.run(Hot<HotSQLs.AppendOutbox>(topic, payload.serialized), logger: logger)
    }

    func appendOutbox(_ events: [OutboxEvent]) async throws {
        guard !events.isEmpty else { return }
        _ = try await connection.run(Hot<HotSQLs.AppendOutboxMany>(events.map(\.topic), events.map(\.payload.serialized)), logger: logger)
    }

    // MARK: Replies

    func committedReplies(_ calls: [ReplyKey], within window: Duration) async throws -> [JSONValue?] {
        var out = [JSONValue?](repeating: nil, count: calls.count)
        guard !calls.isEmpty else { return out }
        let rows = try await connection.run(
            Hot<HotSQLs.CommittedReplies>(
                calls.map(\.stationId), calls.map(\.messageId), calls.map(\.action), calls.map { Self.digest($0.payload) }, Double(window.components.seconds)
            ),
            logger: logger
        )
        for try await row in rows {
            let (n, reply) = try row.decode((Int64, String).self)
            guard n >= 1, n <= calls.count else { continue }
            out[Int(n) - 1] = try JSONParser.parse(Array(reply.utf8))
        }
        return out
    }

    func recordReplies(_ replies: [(ReplyKey, JSONValue)]) async throws {
        guard !replies.isEmpty else { return }
        _ = try await connection.run(
            Hot<HotSQLs.RecordReplies>(
                replies.map(\.0.stationId), replies.map(\.0.messageId), replies.map(\.0.action), replies.map { Self.digest($0.0.payload) },
                replies.map(\.1.serialized)
            ),
            logger: logger
        )
    }

    /// SHA-256 of the payload's canonical serialisation (keys sorted), so that a replay matches byte for byte.
    private static func digest(_ payload: JSONValue) -> String {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in SHA256.hash(data: Array(payload.serialized.utf8)) {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    func committedReply(stationId: String, messageId: String, action: String, payload: JSONValue, within window: Duration) async throws -> JSONValue? {
        let seconds = Double(window.components.seconds)
        let rows = try await connection.run(Hot<HotSQLs.CommittedReply>(stationId, messageId, action, Self.digest(payload), seconds), logger: logger)
        for try await row in rows { return try JSONParser.parse(Array(try row.decode(String.self).utf8)) }
        return nil
    }

    func recordReply(stationId: String, messageId: String, action: String, payload: JSONValue, reply: JSONValue) async throws {
        _ = try await connection.run(Hot<HotSQLs.RecordReply>(stationId, messageId, action, Self.digest(payload), reply.serialized), logger: logger)
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
