public import Foundation
public import OCPI
public import OCPP

/// Everything the application services read and write, inside one database transaction.
/// Storage implements it on PostgreSQL; the services never see SQL.
public protocol UnitOfWork: Sendable {
    /// The ledger's side of this unit of work, where it has one (see `FundsStore`).
    var funds: (any FundsStore)? { get }
    // Stations
    func station(id: String) async throws -> Station?
    /// The stations with these ids that exist.
    func stations(ids: [String]) async throws -> [Station]
    func recordBoot(stationId: String, info: BootInfo, version: OCPPVersion, at: Date) async throws
    /// Records the boots of several stations (each at most once).
    func recordBoots(_ boots: [BootRecord]) async throws
    /// Stores a status report; false when that exact report was stored before (a replay).
    func recordStatus(stationId: String, _ status: ConnectorStatus) async throws -> Bool

    // Tokens
    func token(value: String) async throws -> IdToken?
    /// Whether another transaction than `excluding` is Active with this token.
    func hasActiveTransaction(idToken: String, excluding: Int64?) async throws -> Bool

    // Transactions
    func findStart(stationId: String, connector: ConnectorRef, idToken: String, startedAt: Date, meterStartWh: Int64) async throws -> ChargingTransaction?
    func insertTransaction(_ tx: NewTransaction) async throws -> ChargingTransaction
    func transaction(id: Int64) async throws -> ChargingTransaction?
    /// The transactions with these ids that exist, locked like `transaction(id:)`.
    func transactions(ids: [Int64]) async throws -> [ChargingTransaction]
    func transaction(stationId: String, uid: String) async throws -> ChargingTransaction?
    func updateTransaction(_ tx: ChargingTransaction) async throws
    /// Stores samples of several EVSEs (each station at most once); an exact replay is stored once. Returns,
    /// per group, how many were corrections: another value for a sample already stored (same time,
    /// measurand, phase, location and context), kept and flagged.
    func insertMeterSamples(_ groups: [MeterSampleGroup]) async throws -> [Int]
    /// The import register readings inside a transaction, one per time (the latest received wins).
    func registerReadings(transactionId: Int64) async throws -> [(Date, Int64)]
    /// Active transactions with no message since `cutoff`, oldest first.
    func staleTransactions(before cutoff: Date, limit: Int) async throws -> [ChargingTransaction]
    /// Records a 2.0.1 TransactionEvent's seqNo; false when that seqNo was already recorded.
    func recordTransactionEvent(transactionId: Int64, seqNo: Int, eventType: String, triggerReason: String, offline: Bool, at: Date) async throws -> Bool

    // Reservations
    func reservation(id: Int) async throws -> Reservation?
    func updateReservation(id: Int, status: ReservationStatus, transactionId: Int64?) async throws

    // Everything else a station reports, kept as it came (firmware, diagnostics, reports, events, data transfer)
    func recordStationEvent(stationId: String, kind: String, payload: JSONValue, suspect: Bool, at: Date) async throws
    /// Queues a station's CSR for the certificate service (which signs it and sends CertificateSigned).
    func recordSigningRequest(_ request: SigningRequestRecord) async throws
    /// Appends a domain event to the outbox, for workers (OCPI push, settlement) to drain.
    func appendOutbox(topic: String, payload: JSONValue) async throws
    /// Appends several events, in order.
    func appendOutbox(_ events: [OutboxEvent]) async throws

    // The catalog: locations, the EVSEs placed at them, tariffs (what OCPI publishes)
    /// Creates or replaces a location's own fields; its `last_updated` becomes `at` unless nothing changed.
    func upsertLocation(_ site: LocationSite, at: Date) async throws -> CatalogWrite
    /// The stored id of the location with this id in any case, if there is one.
    func locationId(matching id: String) async throws -> String?
    /// The uid of the EVSE currently placed for this station EVSE, if any.
    func evseUID(stationId: String, evseId: Int) async throws -> String?
    /// Whether any EVSE, now or in the past, has this uid (in any case).
    func evseUIDExists(_ uid: String) async throws -> Bool
    /// Creates or replaces an EVSE and its connectors (connectors left out are kept); a change bumps the EVSE's
    /// `last_updated` and its location's (the old one's too, when it moves).
    func upsertEVSE(_ placement: EVSEPlacement, at: Date) async throws -> CatalogWrite
    /// The ids of these that name a live tariff.
    func existingTariffIds(_ ids: [String]) async throws -> Set<String>
    /// Creates or replaces a tariff (a deleted one comes back), unless it is stored exactly so.
    func upsertTariff(_ tariff: Tariff, at: Date) async throws -> CatalogWrite
    /// Whether a connector names the tariff with this id (in any case).
    func tariffInUse(id: String) async throws -> Bool
    /// Marks a live tariff deleted, returning it; nil when there is no live tariff with this id (any case).
    func deleteTariff(id: String, at: Date) async throws -> Tariff?

    // Roaming partners' tokens (OCPI tokens module)
    /// The stored copy of a partner's token (uid in any case), locked for the rest of the transaction.
    func ocpiToken(_ key: RoamingTokenService.Key) async throws -> StoredToken?
    /// Creates or replaces a partner's token (the uid keeps the case first stored), unless it is stored exactly so.
    func upsertOCPIToken(_ token: Token, partnerId: Int64) async throws -> CatalogWrite
    /// Creates or replaces what a hub says of a party (`ocpi_client_info`), unless it says exactly that already.
    func upsertClientInfo(_ info: ClientInfo, partnerId: Int64) async throws -> CatalogWrite
    /// Keeps a real-time authorization's answer (`ocpi_authorizations`).
    func recordRealTimeAuthorization(_ answer: RealTimeAuthorization) async throws

    // Replies to CALLs that are not idempotent by content
    /// The reply committed for this exact CALL (station, id, action and payload) within `window`, if any.
    func committedReply(stationId: String, messageId: String, action: String, payload: JSONValue, within window: Duration) async throws -> JSONValue?
    /// Keeps the reply to a CALL, in the transaction that applied it.
    func recordReply(stationId: String, messageId: String, action: String, payload: JSONValue, reply: JSONValue) async throws
    /// `committedReply` for several CALLs: one answer per key, in order.
    func committedReplies(_ calls: [ReplyKey], within window: Duration) async throws -> [JSONValue?]
    /// `recordReply` for several CALLs (each key at most once).
    func recordReplies(_ replies: [(ReplyKey, JSONValue)]) async throws
    /// Drops kept replies received before `cutoff`; returns how many.
    func purgeReplies(before cutoff: Date) async throws -> Int
}

/// The bulk forms, one statement at a time; a store overrides them with one statement for all.
extension UnitOfWork {
    public func stations(ids: [String]) async throws -> [Station] {
        var out: [Station] = []
        for id in ids { if let s = try await station(id: id) { out.append(s) } }
        return out
    }

    public func recordBoots(_ boots: [BootRecord]) async throws {
        for b in boots { try await recordBoot(stationId: b.stationId, info: b.info, version: b.version, at: b.at) }
    }

    public func appendOutbox(_ events: [OutboxEvent]) async throws {
        for e in events { try await appendOutbox(topic: e.topic, payload: e.payload) }
    }

    public func committedReplies(_ calls: [ReplyKey], within window: Duration) async throws -> [JSONValue?] {
        var out: [JSONValue?] = []
        for k in calls { out.append(try await committedReply(stationId: k.stationId, messageId: k.messageId, action: k.action, payload: k.payload, within: window)) }
        return out
    }

    public func recordReplies(_ replies: [(ReplyKey, JSONValue)]) async throws {
        for (k, reply) in replies { try await recordReply(stationId: k.stationId, messageId: k.messageId, action: k.action, payload: k.payload, reply: reply) }
    }
}

extension UnitOfWork {
    /// Stores the samples of one EVSE; returns how many were corrections (see `insertMeterSamples(_:)`).
    @discardableResult
    public func insertMeterSamples(stationId: String, evseId: Int, transactionId: Int64?, _ samples: [MeterSample]) async throws -> Int {
        try await insertMeterSamples([MeterSampleGroup(stationId: stationId, evseId: evseId, transactionId: transactionId, samples: samples)]).first ?? 0
    }
}

/// A BootNotification's content, to record on its station.
public struct BootRecord: Sendable {
    public var stationId: String
    public var info: BootInfo
    public var version: OCPPVersion
    public var at: Date

    public init(stationId: String, info: BootInfo, version: OCPPVersion, at: Date) {
        self.stationId = stationId
        self.info = info
        self.version = version
        self.at = at
    }
}

public struct OutboxEvent: Sendable {
    public var topic: String
    public var payload: JSONValue

    public init(topic: String, payload: JSONValue) {
        self.topic = topic
        self.payload = payload
    }
}

/// What identifies a CALL whose committed reply is kept: a replay has the same station, id, action and payload.
public struct ReplyKey: Sendable, Hashable {
    public var stationId: String
    public var messageId: String
    public var action: String
    public var payload: JSONValue

    public init(stationId: String, messageId: String, action: String, payload: JSONValue) {
        self.stationId = stationId
        self.messageId = messageId
        self.action = action
        self.payload = payload
    }
}

/// The samples one CALL reported for one EVSE.
public struct MeterSampleGroup: Sendable {
    public var stationId: String
    public var evseId: Int
    public var transactionId: Int64?
    public var samples: [MeterSample]

    public init(stationId: String, evseId: Int, transactionId: Int64?, samples: [MeterSample]) {
        self.stationId = stationId
        self.evseId = evseId
        self.transactionId = transactionId
        self.samples = samples
    }
}

/// Why the store could not take the work. Runners throw it; the inbound path maps it to a CALLERROR.
public enum StoreFailure: Error, Sendable, CustomStringConvertible {
    /// The database is down, slow past the deadline, or shutting down: the station should send it again.
    case unavailable(String)
    /// The database refused the data itself (a value out of a column's range, a broken constraint):
    /// sending it again cannot help.
    case rejected(String)

    public var description: String {
        switch self {
        case .unavailable(let why): "the database is unavailable: \(why)"
        case .rejected(let why): "the database refused the data: \(why)"
        }
    }
}

/// The values of a transaction about to be created.
public struct NewTransaction: Sendable {
    public var uid: String?
    public var stationId: String
    public var connector: ConnectorRef
    public var idToken: String?
    public var reservationId: Int?
    public var startedAt: Date?
    public var meterStartWh: Int64?
    public var state: TransactionState
    public var chargingState: String?
    public var remoteStartId: Int?
    public var suspectReasons: [String]
    public var version: OCPPVersion

    public init(uid: String? = nil, version: OCPPVersion, stationId: String, connector: ConnectorRef, idToken: String?, reservationId: Int? = nil, startedAt: Date?, meterStartWh: Int64?, state: TransactionState = .active, chargingState: String? = nil, remoteStartId: Int? = nil, suspectReasons: [String] = []) {
        self.uid = uid
        self.stationId = stationId
        self.connector = connector
        self.idToken = idToken
        self.reservationId = reservationId
        self.startedAt = startedAt
        self.meterStartWh = meterStartWh
        self.state = state
        self.chargingState = chargingState
        self.remoteStartId = remoteStartId
        self.suspectReasons = suspectReasons
        self.version = version
    }
}

/// Runs work in one committed database transaction. `perform` returns only after the commit, so a
/// caller that answers a station after `perform` returns acknowledges only what is durable.
/// Where "this station was heard from" goes: written behind, never waited on (see `LivenessRecorder`).
public protocol StationLiveness: Sendable {
    func seen(stationId: String, at: Date)
}

public protocol TransactionRunner: Sendable {
    func perform<T: Sendable>(_ work: @escaping @Sendable (any UnitOfWork) async throws -> T) async throws -> T
    /// Runs one caller's `input` through `work`, in one committed transaction. A runner that commits many
    /// callers together may hand the inputs of all the callers of the same `work` to a single `apply`.
    func perform<Input: Sendable, Output: Sendable>(_ work: BulkWork<Input, Output>, _ input: Input) async throws -> Output
    /// Work that only reads (it commits nothing a station could be told of).
    func read<T: Sendable>(_ work: @escaping @Sendable (any UnitOfWork) async throws -> T) async throws -> T
}

extension TransactionRunner {
    /// By default a read is a transaction like any other.
    public func read<T: Sendable>(_ work: @escaping @Sendable (any UnitOfWork) async throws -> T) async throws -> T {
        try await perform(work)
    }

    /// A runner that applies one caller at a time applies each input alone.
    public func perform<Input: Sendable, Output: Sendable>(_ work: BulkWork<Input, Output>, _ input: Input) async throws -> Output {
        try await perform { uow in try await work.applyOne(uow, input) }
    }
}

/// Writes that many callers hand in at once and that are cheaper applied together: one set of
/// statements for a batch instead of a set per caller (MeterValues). `apply` gets the inputs in the
/// order their callers came and returns one output per input, or throws for all of them; a runner then
/// applies each input again alone, so that only the one that fails is refused.
public struct BulkWork<Input: Sendable, Output: Sendable>: Sendable {
    /// Works with the same name are applied together.
    public let name: String
    public let apply: @Sendable (any UnitOfWork, [Input]) async throws -> [Output]

    public init(name: String, apply: @escaping @Sendable (any UnitOfWork, [Input]) async throws -> [Output]) {
        self.name = name
        self.apply = apply
    }

    public func applyOne(_ uow: any UnitOfWork, _ input: Input) async throws -> Output {
        let out = try await apply(uow, [input])
        guard out.count == 1 else { throw StoreFailure.unavailable("\(name) answered \(out.count) outputs for 1 input") }
        return out[0]
    }
}
