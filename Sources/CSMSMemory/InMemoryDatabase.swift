public import CSMS
public import Foundation
public import OCPP
import Synchronization

/// The tables of Migrations/0001_core.sql and 0002_hardening.sql that the unit of work touches, held in
/// memory, with the same keys, conflict rules and column checks. Sequences live outside the rolled-back
/// state, as in PostgreSQL. The clock is `now()`; a test or the fuzzer moves it.
public final class InMemoryDatabase: Sendable {
    let tables: Mutex<Tables>
    let sequences: Mutex<Sequences>
    private let time: Mutex<Date>
    private let counters = Mutex(Counters())

    public init(now: Date = Date()) {
        self.tables = Mutex(Tables())
        self.sequences = Mutex(Sequences())
        self.time = Mutex(now)
    }

    /// A database holding exactly what `other` holds now (tables, sequences and clock), sharing nothing.
    public init(copying other: InMemoryDatabase) {
        self.tables = Mutex(other.tables.withLock { $0 })
        self.sequences = Mutex(other.sequences.withLock { $0 })
        self.time = Mutex(other.now)
    }

    /// `now()`: what a transaction that starts now reads.
    public var now: Date { time.withLock { $0 } }

    public func advance(by seconds: TimeInterval) { time.withLock { $0 += seconds } }

    struct Sequences: Sendable {
        var transactions: Int64 = 0
        var reservations: Int = 0
        var rows: Int64 = 0
    }

    struct Counters: Sendable {
        var commits = 0
        var anomalies: [String] = []
    }

    func nextTransactionId() -> Int64 { sequences.withLock { $0.transactions += 1; return $0.transactions } }
    func nextReservationId() -> Int { sequences.withLock { $0.reservations += 1; return $0.reservations } }
    func nextRowId() -> Int64 { sequences.withLock { $0.rows += 1; return $0.rows } }

    func snapshot() -> Tables { tables.withLock { $0 } }
    func restore(_ saved: Tables) { tables.withLock { $0 = saved } }
    func committed() { counters.withLock { $0.commits += 1 } }
    func anomaly(_ what: String) { counters.withLock { $0.anomalies.append(what) } }

    /// Transactions the runner committed so far.
    public var commits: Int { counters.withLock { $0.commits } }
    /// What the runner saw that PostgreSQL would have handled differently from what the caller was told
    /// (work that swallowed a database error and returned as if it had succeeded).
    public var anomalies: [String] { counters.withLock { $0.anomalies } }

    // MARK: Provisioning (what the admin API writes)

    /// Inserts a station as the admin API does (`stations`, registered by an operator).
    public func insertStation(id: String, registrationStatus: RegistrationStatus = .accepted) throws(DatabaseRejection) {
        let id = try PostgresColumns.text(id, "stations.id")
        guard (1...48).contains(id.unicodeScalars.count) else {
            throw DatabaseRejection(.checkViolation, "new row for relation \"stations\" violates check constraint \"stations_id_check\"", at: "stations.id")
        }
        let now = try PostgresColumns.timestamp(self.now, "stations.created_at")
        try tables.withLock { t throws(DatabaseRejection) in
            guard t.stations[id] == nil else {
                throw DatabaseRejection(.uniqueViolation, "duplicate key value violates unique constraint \"stations_pkey\"", at: "stations")
            }
            t.stations[id] = StationRow(id: id, registrationStatus: registrationStatus, createdAt: now)
        }
    }

    /// Inserts a token as `id_tokens` would take it.
    public func insertToken(_ token: IdToken) throws(DatabaseRejection) {
        let value = try PostgresColumns.text(token.value, "id_tokens.value")
        guard (1...255).contains(value.unicodeScalars.count) else {
            throw DatabaseRejection(.checkViolation, "new row violates check constraint \"id_tokens_value_check\"", at: "id_tokens.value")
        }
        guard [.accepted, .blocked, .expired, .invalid].contains(token.status) else {
            throw DatabaseRejection(.checkViolation, "new row violates check constraint \"id_tokens_status_check\"", at: "id_tokens.status")
        }
        let row = TokenRow(
            value: value, type: try PostgresColumns.text(token.type, "id_tokens.type"), status: token.status,
            expiresAt: try PostgresColumns.timestamp(token.expiresAt, "id_tokens.expires_at"),
            groupId: try PostgresColumns.text(token.groupId, "id_tokens.group_id"),
            createdAt: try PostgresColumns.timestamp(token.createdAt, "id_tokens.created_at"),
            updatedAt: try PostgresColumns.timestamp(token.updatedAt, "id_tokens.updated_at")
        )
        try tables.withLock { t throws(DatabaseRejection) in
            guard t.tokens[value] == nil else {
                throw DatabaseRejection(.uniqueViolation, "duplicate key value violates unique constraint \"id_tokens_pkey\"", at: "id_tokens")
            }
            t.tokens[value] = row
        }
    }

    /// Inserts a reservation as the command dispatcher records one, and returns its `serial` id.
    public func insertReservation(stationId: String, evseId: Int?, idToken: String, expiresAt: Date, status: ReservationStatus) throws(DatabaseRejection) -> Int {
        let id = nextReservationId()
        let now = try PostgresColumns.timestamp(self.now, "reservations.created_at")
        let row = ReservationRow(
            id: try PostgresColumns.int4(id, "reservations.id"), stationId: try PostgresColumns.text(stationId, "reservations.station_id"),
            evseId: try PostgresColumns.int4(evseId, "reservations.evse_id"), idToken: try PostgresColumns.text(idToken, "reservations.id_token"),
            expiresAt: try PostgresColumns.timestamp(expiresAt, "reservations.expires_at"), status: status, transactionId: nil,
            createdAt: now, updatedAt: now
        )
        try tables.withLock { t throws(DatabaseRejection) in
            guard t.stations[stationId] != nil else { throw Tables.missingStation("reservations") }
            t.reservations[id] = row
        }
        return id
    }

    // MARK: Reading back (tests and the fuzzer's checks)

    public var outbox: [(topic: String, payload: JSONValue)] { tables.withLock { $0.outbox.map { ($0.topic, $0.payload) } } }
    public var signingRequests: [SigningRequestRecord] { tables.withLock { $0.signingRequests } }
    public var transactions: [ChargingTransaction] { tables.withLock { t in t.transactions.keys.sorted().map { t.transactions[$0]!.model } } }
    public var meterValueCount: Int { tables.withLock { $0.meterValues.count } }
    public var correctionCount: Int { tables.withLock { $0.meterValues.count(where: \.correction) } }
    public var statusHistoryCount: Int { tables.withLock { $0.statusHistory.count } }
    public var stationEventKinds: [String] { tables.withLock { $0.stationEvents.map(\.kind) } }
    public var transactionEventCount: Int { tables.withLock { $0.transactionEvents.count } }
    public var replyCount: Int { tables.withLock { $0.replies.count } }
    public func connectorStatus(stationId: String, evseId: Int, connectorId: Int) -> String? {
        tables.withLock { $0.connectors[ConnectorKey(stationId: stationId, evseId: evseId, connectorId: connectorId)]?.status }
    }
    public func reservationStatus(id: Int) -> ReservationStatus? { tables.withLock { $0.reservations[id]?.status } }
    /// What OCPPEndpoint reads when the station connects.
    public func registrationStatus(stationId: String) -> RegistrationStatus? { tables.withLock { $0.stations[stationId]?.registrationStatus } }
}

// MARK: Rows

struct ConnectorKey: Sendable, Hashable {
    var stationId: String
    var evseId: Int
    var connectorId: Int
}

struct StationRow: Sendable {
    var id: String
    var registrationStatus: RegistrationStatus
    var ocppVersion: String?
    var vendor: String?
    var model: String?
    var serialNumber: String?
    var firmwareVersion: String?
    var iccid: String?
    var imsi: String?
    var meterType: String?
    var meterSerialNumber: String?
    var bootReason: String?
    var lastBootAt: Timestamp?
    var lastSeenAt: Timestamp?
    var createdAt: Timestamp
    var decommissionedAt: Timestamp?

    var station: Station {
        Station(
            id: id, vendor: vendor, model: model, serialNumber: serialNumber, firmwareVersion: firmwareVersion,
            ocppVersion: ocppVersion.flatMap(OCPPVersion.init(rawValue:)), registrationStatus: registrationStatus, securityProfile: 0,
            hasPassword: false, online: false, lastBootAt: lastBootAt?.date, lastSeenAt: lastSeenAt?.date, createdAt: createdAt.date,
            decommissionedAt: decommissionedAt?.date
        )
    }
}

struct ConnectorRow: Sendable {
    var status: String
    var errorCode: String?
    var info: String?
    var vendorErrorCode: String?
    var statusAt: Timestamp
}

/// UNIQUE (station_id, evse_id, connector_id, reported_at, status)
struct StatusHistoryKey: Sendable, Hashable {
    var stationId: String
    var evseId: Int
    var connectorId: Int
    var reportedAt: Timestamp
    var status: String
}

struct TokenRow: Sendable {
    var value: String
    var type: String
    var status: AuthorizationStatus
    var expiresAt: Timestamp?
    var groupId: String?
    var createdAt: Timestamp
    var updatedAt: Timestamp

    var model: IdToken {
        IdToken(value: value, type: type, status: status, expiresAt: expiresAt?.date, groupId: groupId, createdAt: createdAt.date, updatedAt: updatedAt.date)
    }
}

struct ReservationRow: Sendable {
    var id: Int
    var stationId: String
    var evseId: Int?
    var idToken: String
    var expiresAt: Timestamp
    var status: ReservationStatus
    var transactionId: Int64?
    var createdAt: Timestamp
    var updatedAt: Timestamp

    /// Expiry is derived when read (ReservationRows): an open reservation past its time reads as Expired.
    func model(now: Timestamp) -> Reservation {
        let open = status == .pending || status == .accepted
        return Reservation(
            id: id, stationId: stationId, evseId: evseId, idToken: idToken, expiresAt: expiresAt.date,
            status: open && expiresAt <= now ? .expired : status, transactionId: transactionId, createdAt: createdAt.date
        )
    }
}

struct TransactionRow: Sendable {
    var id: Int64
    var uid: String
    var ocppVersion: OCPPVersion
    var stationId: String
    var evseId: Int
    var connectorId: Int
    var idToken: String?
    var reservationId: Int?
    var remoteStartId: Int?
    var state: TransactionState
    var chargingState: String?
    var startedAt: Timestamp?
    var stoppedAt: Timestamp?
    var meterStartWh: Int64?
    var meterStopWh: Int64?
    var energyWh: Int64?
    var stopReason: String?
    var suspect: Bool
    var suspectReasons: [String]
    var createdAt: Timestamp
    var updatedAt: Timestamp

    var model: ChargingTransaction {
        ChargingTransaction(
            id: id, uid: uid, stationId: stationId, ocppVersion: ocppVersion, evseId: evseId, connectorId: connectorId, idToken: idToken,
            reservationId: reservationId, state: state, startedAt: startedAt?.date, stoppedAt: stoppedAt?.date, meterStartWh: meterStartWh,
            meterStopWh: meterStopWh, energyWh: energyWh, stopReason: stopReason, chargingState: chargingState, suspect: suspect,
            suspectReasons: suspectReasons
        )
    }

    /// transactions_start_identity (station_id, evse_id, id_token, started_at, meter_start_wh) WHERE ocpp_version = 'ocpp1.6';
    /// nil when the row is outside the index or a column is NULL (NULLs never conflict).
    var startIdentity: StartIdentity? {
        guard ocppVersion == .v16, let idToken, let startedAt, let meterStartWh else { return nil }
        return StartIdentity(stationId: stationId, evseId: evseId, idToken: idToken, startedAt: startedAt, meterStartWh: meterStartWh)
    }
}

struct StartIdentity: Sendable, Hashable {
    var stationId: String
    var evseId: Int
    var idToken: String
    var startedAt: Timestamp
    var meterStartWh: Int64
}

struct TransactionEventKey: Sendable, Hashable {
    var transactionId: Int64
    var seqNo: Int
}

struct TransactionEventRow: Sendable {
    var eventType: String
    var triggerReason: String
    var offline: Bool
    var occurredAt: Timestamp
}

/// A sample: meter_values_first's key (station_id, evse_id, coalesce(transaction_id, 0), sampled_at,
/// measurand, phase, location, context). meter_values_corrections adds md5(raw_value) (`MeterValueIdentity`).
struct MeterValueKey: Sendable, Hashable {
    var stationId: String
    var evseId: Int
    var transactionId: Int64
    var sampledAt: Timestamp
    var measurand: String
    var phase: String
    var location: String
    var context: String
}

/// meter_values_corrections: the sample and its raw value. The index holds md5(raw_value); two raw values
/// that differ have different digests in every case the fuzzer can produce, so the text stands for it.
struct MeterValueIdentity: Sendable, Hashable {
    var key: MeterValueKey
    var rawValue: String
}

struct MeterValueRow: Sendable {
    var id: Int64
    var key: MeterValueKey
    var transactionId: Int64?
    var value: Decimal?
    var unit: String
    var rawValue: String
    var rawUnit: String?
    var signedData: String?
    var correction: Bool
    var receivedAt: Timestamp
}

struct StationEventRow: Sendable {
    var stationId: String
    var kind: String
    var payload: JSONValue
    var suspect: Bool
    var occurredAt: Timestamp
}

struct OutboxRow: Sendable {
    var topic: String
    var payload: JSONValue
}

/// inbound_replies' key: (station_id, message_id, action, digest). The digest is SHA-256 of the payload's
/// canonical serialisation; the serialisation itself stands for it here.
struct ReplyKey: Sendable, Hashable {
    var stationId: String
    var messageId: String
    var action: String
    var payload: String
}

struct ReplyRow: Sendable {
    var reply: JSONValue
    var receivedAt: Timestamp
}

/// Everything a transaction can change; copied whole for a rollback (copy on write: cheap until written).
struct Tables: Sendable {
    var stations: [String: StationRow] = [:]
    var connectors: [ConnectorKey: ConnectorRow] = [:]
    var statusHistory: Set<StatusHistoryKey> = []
    var tokens: [String: TokenRow] = [:]
    var reservations: [Int: ReservationRow] = [:]
    var transactions: [Int64: TransactionRow] = [:]
    /// UNIQUE (station_id, uid)
    var transactionByUid: [StationUid: Int64] = [:]
    var startIdentities: [StartIdentity: Int64] = [:]
    var transactionEvents: [TransactionEventKey: TransactionEventRow] = [:]
    var meterValues: [MeterValueRow] = []
    /// meter_values_first: the first raw value stored per sample.
    var meterValueFirsts: [MeterValueKey: String] = [:]
    /// meter_values_corrections: the later, different raw values of a sample.
    var meterValueCorrections: Set<MeterValueIdentity> = []
    var stationEvents: [StationEventRow] = []
    var outbox: [OutboxRow] = []
    var signingRequests: [SigningRequestRecord] = []
    var replies: [ReplyKey: ReplyRow] = [:]
    var catalog = CatalogTables()

    struct StationUid: Sendable, Hashable {
        var stationId: String
        var uid: String
    }

    static func missingStation(_ table: String) -> DatabaseRejection {
        DatabaseRejection(.foreignKeyViolation, "insert or update on table \"\(table)\" violates foreign key constraint \"\(table)_station_id_fkey\"", at: "\(table).station_id")
    }

    static func missingTransaction(_ table: String) -> DatabaseRejection {
        DatabaseRejection(.foreignKeyViolation, "insert or update on table \"\(table)\" violates foreign key constraint \"\(table)_transaction_id_fkey\"", at: "\(table).transaction_id")
    }

    func requireStation(_ id: String, _ table: String) throws(DatabaseRejection) {
        guard stations[id] != nil else { throw Self.missingStation(table) }
    }
}
