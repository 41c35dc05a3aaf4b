public import CSMS
public import Foundation
public import Logging
public import OCPP
public import PostgresNIO

/// Reads and writes for the admin API and the CLI.
public struct AdminRepository: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    // MARK: Stations

    public struct StationDetail: Sendable, Codable {
        public var station: Station
        public var connectors: [ConnectorStatus]
    }

    public struct StationCredentials: Sendable {
        public var exists: Bool
        public var passwordHash: String?
        public var registrationStatus: RegistrationStatus
        /// Removed by an operator: refused at the handshake, history kept.
        public var decommissioned: Bool
        /// The lowest security profile it may connect with (0 to 3).
        public var securityProfile: Int = 0

        /// No such station.
        public static let unknown = StationCredentials(exists: false, passwordHash: nil, registrationStatus: .rejected, decommissioned: false)
    }

    /// Creates a station; false when it already exists.
    public func createStation(id: String, passwordHash: String?, registrationStatus: RegistrationStatus = .accepted, securityProfile: Int? = nil) async throws -> Bool {
        let rows = try await client.query(
            """
            INSERT INTO stations (id, password_hash, security_profile, registration_status)
            VALUES (\(id), \(passwordHash), \(securityProfile ?? (passwordHash == nil ? 0 : 1)), \(registrationStatus.rawValue))
            ON CONFLICT (id) DO NOTHING RETURNING id
            """,
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    public func stations() async throws -> [Station] {
        try await StationRows.all(client.query("SELECT \(unescaped: StationRows.columns) FROM stations ORDER BY id", logger: logger))
    }

    public func station(id: String) async throws -> StationDetail? {
        guard let station = try await StationRows.all(client.query("SELECT \(unescaped: StationRows.columns) FROM stations WHERE id = \(id)", logger: logger)).first
        else { return nil }
        var connectors: [ConnectorStatus] = []
        let rows = try await client.query(
            """
            SELECT evse_id, connector_id, status, error_code, info, vendor_error_code, status_at FROM connectors
            WHERE station_id = \(id) ORDER BY evse_id, connector_id
            """,
            logger: logger
        )
        for try await (evse, connector, status, errorCode, info, vendorError, at) in rows.decode((Int, Int, String, String?, String?, String?, Date).self) {
            connectors.append(ConnectorStatus(evseId: evse, connectorId: connector, status: status, errorCode: errorCode, info: info, vendorErrorCode: vendorError, reportedAt: at))
        }
        return StationDetail(station: station, connectors: connectors)
    }

    /// Changes what is given; `passwordHash` `.some(nil)` removes the password. False when there is no such station.
    /// `securityProfile` is the admin's explicit choice, and the only way it goes down; otherwise a new password
    /// raises profile 0 to 1, and removing it lowers 1 and 2 (which need one) to 0.
    public func updateStation(id: String, registrationStatus: RegistrationStatus?, passwordHash: String??, securityProfile: Int? = nil) async throws -> Bool {
        let setPassword = passwordHash != nil
        let hash = passwordHash ?? nil
        let rows = try await client.query(
            """
            UPDATE stations SET registration_status = coalesce(\(registrationStatus?.rawValue), registration_status),
                password_hash = CASE WHEN \(setPassword) THEN \(hash) ELSE password_hash END,
                security_profile = coalesce(\(securityProfile)::int, CASE
                    WHEN \(setPassword) AND \(hash)::text IS NULL AND security_profile IN (1, 2) THEN 0
                    WHEN \(setPassword) AND \(hash)::text IS NOT NULL AND security_profile = 0 THEN 1
                    ELSE security_profile END)
            WHERE id = \(id) RETURNING id
            """,
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    /// Decommissions a station: it can no longer connect, and all its history stays. False when there is
    /// no such station (or it was decommissioned already).
    public func decommissionStation(id: String) async throws -> Bool {
        let rows = try await client.query(
            "UPDATE stations SET decommissioned_at = now(), online = false, connected_node = NULL WHERE id = \(id) AND decommissioned_at IS NULL RETURNING id",
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    public func credentials(stationId: String) async throws -> StationCredentials {
        try await credentials(stationIds: [stationId])[stationId] ?? .unknown
    }

    /// The rows of many stations in one statement (the handshake's batched read); absent ids are absent.
    public func credentials(stationIds: [String]) async throws -> [String: StationCredentials] {
        let rows = try await client.query(
            "SELECT id, password_hash, registration_status, decommissioned_at IS NOT NULL, security_profile::int8 FROM stations WHERE id = ANY(\(stationIds))",
            logger: logger
        )
        var found: [String: StationCredentials] = [:]
        for try await (id, hash, status, decommissioned, profile) in rows.decode((String, String?, String, Bool, Int).self) {
            found[id] = StationCredentials(
                exists: true, passwordHash: hash, registrationStatus: RegistrationStatus(rawValue: status) ?? .rejected, decommissioned: decommissioned,
                securityProfile: profile
            )
        }
        return found
    }

    public func setOnline(stationId: String, online: Bool, node: String?, at: Date) async throws {
        try await client.query(
            """
            UPDATE stations SET online = \(online), connected_node = \(online ? node : nil),
                last_seen_at = CASE WHEN \(online) THEN \(at) ELSE last_seen_at END
            WHERE id = \(stationId)
            """,
            logger: logger
        )
    }

    /// At startup: stations this node held before a crash are no longer connected.
    public func markOffline(node: String) async throws {
        try await client.query("UPDATE stations SET online = false, connected_node = NULL WHERE connected_node = \(node)", logger: logger)
    }

    // MARK: Tokens

    public func upsertToken(_ t: IdToken) async throws -> IdToken {
        let rows = try await client.query(
            """
            INSERT INTO id_tokens (value, type, status, expires_at, group_id) VALUES (\(t.value), \(t.type), \(t.status.rawValue), \(t.expiresAt), \(t.groupId))
            ON CONFLICT (value) DO UPDATE SET type = EXCLUDED.type, status = EXCLUDED.status, expires_at = EXCLUDED.expires_at,
                group_id = EXCLUDED.group_id, updated_at = now()
            RETURNING \(unescaped: TokenRows.columns)
            """,
            logger: logger
        )
        guard let token = try await TokenRows.all(rows).first else { throw MissingRow("the token upsert") }
        return token
    }

    public func token(value: String) async throws -> IdToken? {
        try await TokenRows.all(client.query("SELECT \(unescaped: TokenRows.columns) FROM id_tokens WHERE value = \(value)", logger: logger)).first
    }

    public func tokens(limit: Int = 500) async throws -> [IdToken] {
        try await TokenRows.all(client.query("SELECT \(unescaped: TokenRows.columns) FROM id_tokens ORDER BY value LIMIT \(limit)", logger: logger))
    }

    public func setTokenStatus(value: String, status: AuthorizationStatus) async throws -> IdToken? {
        let rows = try await client.query(
            "UPDATE id_tokens SET status = \(status.rawValue), updated_at = now() WHERE value = \(value) RETURNING \(unescaped: TokenRows.columns)",
            logger: logger
        )
        return try await TokenRows.all(rows).first
    }

    // MARK: Transactions

    public struct TransactionFilter: Sendable {
        public var stationId: String?
        public var state: TransactionState?
        public var idToken: String?
        public var since: Date?
        public var limit: Int

        public init(stationId: String? = nil, state: TransactionState? = nil, idToken: String? = nil, since: Date? = nil, limit: Int = 100) {
            self.stationId = stationId
            self.state = state
            self.idToken = idToken
            self.since = since
            self.limit = limit
        }
    }

    public func transactions(_ f: TransactionFilter) async throws -> [ChargingTransaction] {
        try await TransactionRows.all(
            client.query(
                """
                SELECT \(unescaped: TransactionRows.columns) FROM transactions
                WHERE (\(f.stationId)::text IS NULL OR station_id = \(f.stationId))
                  AND (\(f.state?.rawValue)::text IS NULL OR state = \(f.state?.rawValue))
                  AND (\(f.idToken)::text IS NULL OR id_token = \(f.idToken))
                  AND (\(f.since)::timestamptz IS NULL OR started_at >= \(f.since))
                ORDER BY id DESC LIMIT \(f.limit)
                """,
                logger: logger
            )
        )
    }

    public func transaction(id: Int64) async throws -> ChargingTransaction? {
        try await TransactionRows.all(client.query("SELECT \(unescaped: TransactionRows.columns) FROM transactions WHERE id = \(id)", logger: logger)).first
    }

    public func meterValues(transactionId: Int64) async throws -> [MeterSample] {
        let rows = try await client.query(
            """
            SELECT sampled_at, measurand, phase, location, context, value::text, unit, raw_value, raw_unit, signed_data
            FROM meter_values WHERE transaction_id = \(transactionId) ORDER BY sampled_at, id
            """,
            logger: logger
        )
        var out: [MeterSample] = []
        for try await (at, measurand, phase, location, context, value, unit, raw, rawUnit, signed) in rows.decode(
            (Date, String, String, String, String, String?, String, String, String?, String?).self
        ) {
            out.append(
                MeterSample(
                    sampledAt: at, measurand: measurand, phase: phase.isEmpty ? nil : phase, location: location.isEmpty ? nil : location,
                    context: context.isEmpty ? nil : context, value: value.flatMap { Decimal(string: $0) }, unit: unit, rawValue: raw,
                    rawUnit: rawUnit, signedData: signed
                )
            )
        }
        return out
    }

    // MARK: Reservations

    /// A reservation under an id from the sequence. An id a raw ReserveNow took already is skipped: the
    /// sequence and caller-chosen ids share one space, and neither may move the other's reservation.
    public func createReservation(stationId: String, evseId: Int?, idToken: String, expiresAt: Date) async throws -> Reservation {
        for _ in 0..<32 {
            let rows = try await client.query(
                """
                INSERT INTO reservations (id, station_id, evse_id, id_token, expires_at, status)
                VALUES (nextval(pg_get_serial_sequence('reservations', 'id')), \(stationId), \(evseId), \(idToken), \(expiresAt), 'Pending')
                ON CONFLICT (id) DO NOTHING
                RETURNING \(unescaped: ReservationRows.columns)
                """,
                logger: logger
            )
            if let r = try await ReservationRows.all(rows).first { return r }
        }
        throw MissingRow("32 reservation ids in a row were taken; the insert")
    }

    /// Whether a raw ReserveNow may use this id: it is free, or it is this station's own reservation and not
    /// Used yet (OCPP: a station replaces a reservation whose id it already holds). Another station's
    /// reservation, or one a transaction consumed, is never moved.
    public func reservationIdIsFree(id: Int, for stationId: String) async throws -> Bool {
        let rows = try await client.query(
            "SELECT station_id = \(stationId) AND status <> 'Used' FROM reservations WHERE id = \(id)", logger: logger
        )
        for try await own in rows.decode(Bool.self) { return own }
        return true
    }

    /// Records a reservation whose id the caller chose (a raw ReserveNow the station accepted), under the
    /// rule of `reservationIdIsFree`, checked again in the same statement. The sequence is left alone: its
    /// next ids skip this one (see `createReservation`). False when the id belongs to someone else.
    @discardableResult
    public func recordReservation(id: Int, stationId: String, evseId: Int?, idToken: String, expiresAt: Date) async throws -> Bool {
        let rows = try await client.query(
            """
            INSERT INTO reservations (id, station_id, evse_id, id_token, expires_at, status) VALUES (\(id), \(stationId), \(evseId), \(idToken), \(expiresAt), 'Accepted')
            ON CONFLICT (id) DO UPDATE SET evse_id = EXCLUDED.evse_id, id_token = EXCLUDED.id_token,
                expires_at = EXCLUDED.expires_at, status = 'Accepted', transaction_id = NULL, updated_at = now()
            WHERE reservations.station_id = EXCLUDED.station_id AND reservations.status <> 'Used'
            RETURNING id
            """,
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    /// A CancelReservation a station accepted: only its own reservation, and only while it is still open.
    public func cancelReservation(id: Int, stationId: String) async throws {
        try await client.query(
            """
            UPDATE reservations SET status = 'Cancelled', updated_at = now()
            WHERE id = \(id) AND station_id = \(stationId) AND status IN ('Pending', 'Accepted')
            """,
            logger: logger
        )
    }

    public func setReservationStatus(id: Int, status: ReservationStatus) async throws {
        try await client.query("UPDATE reservations SET status = \(status.rawValue), updated_at = now() WHERE id = \(id)", logger: logger)
    }

    public func reservation(id: Int) async throws -> Reservation? {
        try await ReservationRows.all(client.query("SELECT \(unescaped: ReservationRows.columns) FROM reservations WHERE id = \(id)", logger: logger)).first
    }

    public func reservations(stationId: String?, limit: Int = 200) async throws -> [Reservation] {
        try await ReservationRows.all(
            client.query(
                """
                SELECT \(unescaped: ReservationRows.columns) FROM reservations
                WHERE (\(stationId)::text IS NULL OR station_id = \(stationId)) ORDER BY id DESC LIMIT \(limit)
                """,
                logger: logger
            )
        )
    }

    /// Outbox events not processed yet, counted up to `cap` (a gauge that says "at least 100,000" is as
    /// useful as an exact one, and its cost stays bounded).
    public func outboxBacklog(cap: Int = 100_000) async throws -> Int {
        let rows = try await client.query("SELECT count(*)::int8 FROM (SELECT 1 FROM outbox WHERE processed_at IS NULL LIMIT \(cap)) AS o", logger: logger)
        for try await n in rows.decode(Int.self) { return n }
        throw MissingRow("the outbox count")
    }

    // MARK: Commands

    public func logCommand(stationId: String, action: String, request: JSONValue) async throws -> Int64 {
        let rows = try await client.query(
            "INSERT INTO station_commands (station_id, action, request) VALUES (\(stationId), \(action), \(request.serialized)::jsonb) RETURNING id",
            logger: logger
        )
        for try await id in rows.decode(Int64.self) { return id }
        throw MissingRow("the insert")
    }

    public func completeCommand(id: Int64, outcome: String, response: JSONValue?) async throws {
        try await client.query(
            "UPDATE station_commands SET outcome = \(outcome), response = \(response?.serialized)::jsonb, completed_at = now() WHERE id = \(id)",
            logger: logger
        )
    }
}
