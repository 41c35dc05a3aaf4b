public import CSMS
public import Foundation
public import OCPP
import Synchronization

/// `UnitOfWork` over an `InMemoryDatabase`, statement for statement what Storage's PostgresUnitOfWork does:
/// the same upserts and `ON CONFLICT` rules, the same unique and foreign keys and checks, and the errors
/// PostgreSQL raises for a value no column can hold (see `PostgresColumns`). After one error every further
/// call fails, as statements do in an aborted transaction, until the runner rolls the work back.
public final class InMemoryUnitOfWork: UnitOfWork {
    let database: InMemoryDatabase
    /// `now()`, fixed for the transaction.
    let now: Date
    private let aborted = Mutex<DatabaseRejection?>(nil)

    init(database: InMemoryDatabase, now: Date) {
        self.database = database
        self.now = now
    }

    /// The first error this work hit, if any.
    var failure: DatabaseRejection? { aborted.withLock { $0 } }

    /// Runs one statement against the tables; an error aborts the transaction.
    private func statement<T>(_ body: (inout Tables, Timestamp) throws(DatabaseRejection) -> T) throws(DatabaseRejection) -> T {
        if aborted.withLock({ $0 }) != nil {
            throw DatabaseRejection(.inFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block", at: "transaction")
        }
        do {
            let nowStamp = try PostgresColumns.timestamp(now, "now()")
            return try database.tables.withLock { t throws(DatabaseRejection) in try body(&t, nowStamp) }
        } catch {
            aborted.withLock { $0 = error }
            throw error
        }
    }

    typealias Col = PostgresColumns

    /// `statement` for the catalog's extension.
    func mutate<T>(_ body: (inout Tables) throws(DatabaseRejection) -> T) throws(DatabaseRejection) -> T {
        try statement { t, _ throws(DatabaseRejection) in try body(&t) }
    }

    // MARK: Stations

    public func station(id: String) async throws -> Station? {
        try statement { t, _ throws(DatabaseRejection) in
            t.stations[try Col.text(id, "stations.id")]?.station
        }
    }

    public func recordBoot(stationId: String, info: BootInfo, version: OCPPVersion, at: Date) async throws {
        try statement { t, _ throws(DatabaseRejection) in
            let vendor = try Col.text(info.vendor, "stations.vendor")
            let model = try Col.text(info.model, "stations.model")
            let serial = try Col.text(info.serialNumber, "stations.serial_number")
            let firmware = try Col.text(info.firmwareVersion, "stations.firmware_version")
            let iccid = try Col.text(info.iccid, "stations.iccid")
            let imsi = try Col.text(info.imsi, "stations.imsi")
            let meterType = try Col.text(info.meterType, "stations.meter_type")
            let meterSerial = try Col.text(info.meterSerialNumber, "stations.meter_serial_number")
            let reason = try Col.text(info.reason, "stations.boot_reason")
            let at = try Col.timestamp(at, "stations.last_boot_at")
            let id = try Col.text(stationId, "stations.id")
            // UPDATE ... WHERE id = $: no row, nothing happens.
            guard var row = t.stations[id] else { return }
            row.vendor = vendor
            row.model = model
            row.serialNumber = serial
            row.firmwareVersion = firmware
            row.iccid = iccid
            row.imsi = imsi
            row.meterType = meterType
            row.meterSerialNumber = meterSerial
            row.bootReason = reason
            row.ocppVersion = version.rawValue
            row.lastBootAt = at
            row.lastSeenAt = at
            t.stations[id] = row
        }
    }

    public func recordStatus(stationId: String, _ s: ConnectorStatus) async throws -> Bool {
        try statement { t, _ throws(DatabaseRejection) in
            let stationId = try Col.text(stationId, "connectors.station_id")
            let evseId = try Col.int4(s.evseId, "connectors.evse_id")
            let connectorId = try Col.int4(s.connectorId, "connectors.connector_id")
            let row = ConnectorRow(
                status: try Col.text(s.status, "connectors.status"), errorCode: try Col.text(s.errorCode, "connectors.error_code"),
                info: try Col.text(s.info, "connectors.info"), vendorErrorCode: try Col.text(s.vendorErrorCode, "connectors.vendor_error_code"),
                statusAt: try Col.timestamp(s.reportedAt, "connectors.status_at")
            )
            guard evseId >= 0 else {
                throw DatabaseRejection(.checkViolation, "new row for relation \"connectors\" violates check constraint \"connectors_evse_id_check\"", at: "connectors.evse_id")
            }
            guard connectorId >= 0 else {
                throw DatabaseRejection(.checkViolation, "new row for relation \"connectors\" violates check constraint \"connectors_connector_id_check\"", at: "connectors.connector_id")
            }
            try t.requireStation(stationId, "connectors")
            // ON CONFLICT (station_id, evse_id, connector_id) DO UPDATE ... WHERE connectors.status_at <= EXCLUDED.status_at
            let key = ConnectorKey(stationId: stationId, evseId: evseId, connectorId: connectorId)
            if let existing = t.connectors[key] {
                if existing.statusAt <= row.statusAt { t.connectors[key] = row }
            } else {
                t.connectors[key] = row
            }
            // status_history: ON CONFLICT DO NOTHING RETURNING id (evse_id and connector_id have no check there).
            let history = StatusHistoryKey(stationId: stationId, evseId: evseId, connectorId: connectorId, reportedAt: row.statusAt, status: row.status)
            return t.statusHistory.insert(history).inserted
        }
    }

    // MARK: Tokens

    public func token(value: String) async throws -> IdToken? {
        try statement { t, _ throws(DatabaseRejection) in t.tokens[try Col.text(value, "id_tokens.value")]?.model }
    }

    public func hasActiveTransaction(idToken: String, excluding: Int64?) async throws -> Bool {
        try statement { t, _ throws(DatabaseRejection) in
            let idToken = try Col.text(idToken, "transactions.id_token")
            // id_token = $1 AND state = 'Active' AND id IS DISTINCT FROM $2
            return t.transactions.values.contains { $0.idToken == idToken && $0.state == .active && $0.id != excluding }
        }
    }

    // MARK: Transactions

    public func findStart(stationId: String, connector: ConnectorRef, idToken: String, startedAt: Date, meterStartWh: Int64) async throws -> ChargingTransaction? {
        try statement { t, _ throws(DatabaseRejection) in
            let stationId = try Col.text(stationId, "transactions.station_id")
            let idToken = try Col.text(idToken, "transactions.id_token")
            let startedAt = try Col.timestamp(startedAt, "transactions.started_at")
            // evse_id = $2 compares int4 with the int8 bind: no range error, just no match.
            let matches = t.transactions.values.filter {
                $0.stationId == stationId && $0.evseId == connector.evseId && $0.idToken == idToken && $0.startedAt == startedAt
                    && $0.meterStartWh == meterStartWh && $0.ocppVersion == .v16
            }
            return matches.min { $0.id < $1.id }?.model
        }
    }

    public func insertTransaction(_ n: NewTransaction) async throws -> ChargingTransaction {
        // nextval() is taken first and not given back by a rollback.
        let id = database.nextTransactionId()
        return try statement { t, now throws(DatabaseRejection) in
            let row = TransactionRow(
                id: id, uid: try Col.text(n.uid ?? String(id), "transactions.uid"), ocppVersion: n.version,
                stationId: try Col.text(n.stationId, "transactions.station_id"),
                evseId: try Col.int4(n.connector.evseId, "transactions.evse_id"), connectorId: try Col.int4(n.connector.connectorId, "transactions.connector_id"),
                idToken: try Col.text(n.idToken, "transactions.id_token"), reservationId: try Col.int4(n.reservationId, "transactions.reservation_id"),
                remoteStartId: try Col.int4(n.remoteStartId, "transactions.remote_start_id"), state: n.state,
                chargingState: try Col.text(n.chargingState, "transactions.charging_state"),
                startedAt: try Col.timestamp(n.startedAt, "transactions.started_at"), stoppedAt: nil, meterStartWh: n.meterStartWh,
                meterStopWh: nil, energyWh: nil, stopReason: nil, suspect: !n.suspectReasons.isEmpty,
                suspectReasons: try Col.texts(n.suspectReasons, "transactions.suspect_reasons"), createdAt: now, updatedAt: now
            )
            // CHECK (ocpp_version IN ('ocpp1.6', 'ocpp2.0.1', 'ocpp2.1')) holds for every OCPPVersion.
            try t.requireStation(row.stationId, "transactions")
            try t.store(row, replacing: nil)
            return row.model
        }
    }

    public func transaction(id: Int64) async throws -> ChargingTransaction? {
        try statement { t, _ throws(DatabaseRejection) in t.transactions[id]?.model }
    }

    public func transactions(ids: [Int64]) async throws -> [ChargingTransaction] {
        try statement { t, _ throws(DatabaseRejection) in ids.compactMap { t.transactions[$0]?.model } }
    }

    public func transaction(stationId: String, uid: String) async throws -> ChargingTransaction? {
        try statement { t, _ throws(DatabaseRejection) in
            let key = Tables.StationUid(stationId: try Col.text(stationId, "transactions.station_id"), uid: try Col.text(uid, "transactions.uid"))
            return t.transactionByUid[key].flatMap { t.transactions[$0] }?.model
        }
    }

    public func updateTransaction(_ x: ChargingTransaction) async throws {
        try statement { t, now throws(DatabaseRejection) in
            let evseId = try Col.int4(x.evseId, "transactions.evse_id")
            let connectorId = try Col.int4(x.connectorId, "transactions.connector_id")
            let idToken = try Col.text(x.idToken, "transactions.id_token")
            let reservationId = try Col.int4(x.reservationId, "transactions.reservation_id")
            let chargingState = try Col.text(x.chargingState, "transactions.charging_state")
            let startedAt = try Col.timestamp(x.startedAt, "transactions.started_at")
            let stoppedAt = try Col.timestamp(x.stoppedAt, "transactions.stopped_at")
            let stopReason = try Col.text(x.stopReason, "transactions.stop_reason")
            let reasons = try Col.texts(x.suspectReasons, "transactions.suspect_reasons")
            guard let old = t.transactions[x.id] else { return }
            var row = old
            row.evseId = evseId
            row.connectorId = connectorId
            row.idToken = idToken
            row.reservationId = reservationId
            row.state = x.state
            row.chargingState = chargingState
            row.startedAt = startedAt
            row.stoppedAt = stoppedAt
            row.meterStartWh = x.meterStartWh
            row.meterStopWh = x.meterStopWh
            row.energyWh = x.energyWh
            row.stopReason = stopReason
            row.suspect = x.suspect
            row.suspectReasons = reasons
            row.updatedAt = now
            try t.store(row, replacing: old)
        }
    }

    /// PostgreSQL's one statement over all the groups: its rows are keyed by station, and each station is
    /// there once, so no group sees another's rows either way.
    public func insertMeterSamples(_ groups: [MeterSampleGroup]) async throws -> [Int] {
        var out: [Int] = []
        for g in groups { out.append(try await insertGroup(stationId: g.stationId, evseId: g.evseId, transactionId: g.transactionId, g.samples)) }
        return out
    }

    private func insertGroup(stationId: String, evseId: Int, transactionId: Int64?, _ samples: [MeterSample]) async throws -> Int {
        guard !samples.isEmpty else { return 0 }
        return try statement { t, now throws(DatabaseRejection) in
            let stationId = try Col.text(stationId, "meter_values.station_id")
            // Bound as arrays and unnested: every element is converted before any row is inserted.
            var rows: [MeterValueRow] = []
            rows.reserveCapacity(samples.count)
            for s in samples {
                // "" stands for NULL in the arrays; NULLIF(v, '')::numeric parses the rest.
                let valueText = s.value.map { "\($0)" } ?? ""
                if !valueText.isEmpty { try Col.numeric(try Col.text(valueText, "meter_values.value"), "meter_values.value") }
                let rawUnit = try Col.text(s.rawUnit ?? "", "meter_values.raw_unit")
                let signed = try Col.text(s.signedData ?? "", "meter_values.signed_data")
                let key = MeterValueKey(
                    stationId: stationId, evseId: 0, transactionId: transactionId ?? 0,
                    sampledAt: try Col.timestamp(s.sampledAt, "meter_values.sampled_at"), measurand: try Col.text(s.measurand, "meter_values.measurand"),
                    phase: try Col.text(s.phase ?? "", "meter_values.phase"), location: try Col.text(s.location ?? "", "meter_values.location"),
                    context: try Col.text(s.context ?? "", "meter_values.context")
                )
                rows.append(
                    MeterValueRow(
                        id: 0, key: key, transactionId: transactionId,
                        value: valueText.isEmpty ? nil : (Decimal(string: valueText, locale: Locale(identifier: "en_US_POSIX")) ?? s.value),
                        unit: try Col.text(s.unit, "meter_values.unit"), rawValue: try Col.text(s.rawValue, "meter_values.raw_value"),
                        rawUnit: rawUnit.isEmpty ? nil : rawUnit, signedData: signed.isEmpty ? nil : signed, correction: false, receivedAt: now
                    )
                )
            }
            // The evse_id bind goes into an integer column.
            let evseId = try Col.int4(evseId, "meter_values.evse_id")
            // No foreign keys on meter_values (Migrations/0013): the server writes samples of stations and
            // transactions it has read.
            // InsertMeterSamples: each sample as a first value, ON CONFLICT on meter_values_first DO NOTHING (rows of
            // this statement count: a second value of one sample in the same call conflicts too).
            var left: [MeterValueRow] = []
            for var row in rows {
                row.key.evseId = evseId
                guard t.meterValueFirsts[row.key] == nil else {
                    left.append(row)
                    continue
                }
                t.meterValueFirsts[row.key] = row.rawValue
                row.id = database.nextRowId()
                t.meterValues.append(row)
            }
            // InsertMeterCorrections, only when some were left out: a value other than the first is kept as a
            // correction, once per value (meter_values_corrections); an exact replay of either inserts nothing.
            var corrections = 0
            for var row in left {
                guard let first = t.meterValueFirsts[row.key], first != row.rawValue else { continue }
                guard t.meterValueCorrections.insert(MeterValueIdentity(key: row.key, rawValue: row.rawValue)).inserted else { continue }
                row.correction = true
                corrections += 1
                row.id = database.nextRowId()
                t.meterValues.append(row)
            }
            return corrections
        }
    }

    public func registerReadings(transactionId: Int64) async throws -> [(Date, Int64)] {
        try statement { t, _ throws(DatabaseRejection) in
            let rows = t.meterValues.filter {
                $0.transactionId == transactionId && $0.key.measurand == MeterSample.energyImportRegister && $0.key.phase == ""
                    && $0.unit == "Wh" && $0.value != nil && ($0.key.location == "" || $0.key.location == "Outlet")
            }
            // SELECT DISTINCT ON (sampled_at) sampled_at, round(value)::bigint ... ORDER BY sampled_at, id DESC:
            // the select list is computed for every matching row, then the latest row per time is kept.
            var latest: [Timestamp: (id: Int64, wh: Int64)] = [:]
            for row in rows {
                let wh = try Col.roundToBigint(row.value!, "round(meter_values.value)::bigint")
                if let kept = latest[row.key.sampledAt], kept.id > row.id { continue }
                latest[row.key.sampledAt] = (row.id, wh)
            }
            return latest.keys.sorted().map { ($0.date, latest[$0]!.wh) }
        }
    }

    public func staleTransactions(before cutoff: Date, limit: Int) async throws -> [ChargingTransaction] {
        try statement { t, _ throws(DatabaseRejection) in
            let cutoff = try Col.timestamp(cutoff, "transactions.updated_at")
            // LIMIT takes a bigint; a negative one is an error.
            guard limit >= 0 else { throw DatabaseRejection(Code.invalidRowCountInLimit, "LIMIT must not be negative", at: "LIMIT") }
            let recent = Set(t.meterValues.lazy.filter { $0.receivedAt >= cutoff }.compactMap(\.transactionId))
            let stale = t.transactions.values.filter { $0.state == .active && $0.updatedAt < cutoff && !recent.contains($0.id) }
            // ORDER BY updated_at (ties in no particular order: by id here).
            return stale.sorted { ($0.updatedAt, $0.id) < ($1.updatedAt, $1.id) }.prefix(limit).map(\.model)
        }
    }

    public func recordTransactionEvent(transactionId: Int64, seqNo: Int, eventType: String, triggerReason: String, offline: Bool, at: Date) async throws -> Bool {
        try statement { t, _ throws(DatabaseRejection) in
            let row = TransactionEventRow(
                eventType: try Col.text(eventType, "transaction_events.event_type"), triggerReason: try Col.text(triggerReason, "transaction_events.trigger_reason"),
                offline: offline, occurredAt: try Col.timestamp(at, "transaction_events.occurred_at")
            )
            let key = TransactionEventKey(transactionId: transactionId, seqNo: try Col.int4(seqNo, "transaction_events.seq_no"))
            guard t.transactions[transactionId] != nil else { throw Tables.missingTransaction("transaction_events") }
            // ON CONFLICT DO NOTHING RETURNING 1
            guard t.transactionEvents[key] == nil else { return false }
            t.transactionEvents[key] = row
            return true
        }
    }

    // MARK: Reservations

    public func reservation(id: Int) async throws -> Reservation? {
        // WHERE id = $1: an int8 bind against the serial column, never a range error.
        try statement { t, now throws(DatabaseRejection) in t.reservations[id]?.model(now: now) }
    }

    public func updateReservation(id: Int, status: ReservationStatus, transactionId: Int64?) async throws {
        try statement { t, now throws(DatabaseRejection) in
            // status CHECK (status IN ('Pending', 'Accepted', 'Rejected', 'Cancelled', 'Used', 'Expired')) holds for every case.
            guard var row = t.reservations[id] else { return }
            row.status = status
            row.transactionId = transactionId ?? row.transactionId
            row.updatedAt = now
            t.reservations[id] = row
        }
    }

    // MARK: Events

    public func recordStationEvent(stationId: String, kind: String, payload: JSONValue, suspect: Bool, at: Date) async throws {
        try statement { t, _ throws(DatabaseRejection) in
            let row = StationEventRow(
                stationId: try Col.text(stationId, "station_events.station_id"), kind: try Col.text(kind, "station_events.kind"),
                payload: payload, suspect: suspect, occurredAt: try Col.timestamp(at, "station_events.occurred_at")
            )
            try Col.jsonb(payload, "station_events.payload")
            try t.requireStation(row.stationId, "station_events")
            t.stationEvents.append(row)
        }
    }

    public func recordSigningRequest(_ r: SigningRequestRecord) async throws {
        try statement { t, _ throws(DatabaseRejection) in
            try t.requireStation(try Col.text(r.stationId, "certificate_signing_requests.station_id"), "certificate_signing_requests")
            guard try Col.text(r.csr, "certificate_signing_requests.csr").utf8.count <= 16384 else {
                throw DatabaseRejection(.checkViolation, "new row violates check constraint", at: "certificate_signing_requests.csr")
            }
            _ = try Col.timestamp(r.receivedAt, "certificate_signing_requests.received_at")
            t.signingRequests.append(r)
        }
    }

    public func appendOutbox(topic: String, payload: JSONValue) async throws {
        try statement { t, _ throws(DatabaseRejection) in
            let row = OutboxRow(topic: try Col.text(topic, "outbox.topic"), payload: payload)
            try Col.jsonb(payload, "outbox.payload")
            t.outbox.append(row)
        }
    }

    // MARK: Replies

    /// The last payload serialised for a reply key: the dispatcher looks up and then records the same
    /// payload in one unit of work, so it is serialised once. (Swift's == takes canonically equivalent
    /// strings for equal where the serialisations differ; no caller passes two such payloads to one unit.)
    private let serializedPayload = Mutex<(JSONValue, String)?>(nil)

    private func replyKey(_ stationId: String, _ messageId: String, _ action: String, _ payload: JSONValue) throws(DatabaseRejection) -> ReplyKey {
        let serialized: String
        if let (value, text) = serializedPayload.withLock({ $0 }), value == payload {
            serialized = text
        } else {
            serialized = payload.serialized
            serializedPayload.withLock { $0 = (payload, serialized) }
        }
        return ReplyKey(
            stationId: try Col.text(stationId, "inbound_replies.station_id"), messageId: try Col.text(messageId, "inbound_replies.message_id"),
            action: try Col.text(action, "inbound_replies.action"), payload: serialized
        )
    }

    public func committedReply(stationId: String, messageId: String, action: String, payload: JSONValue, within window: Duration) async throws -> JSONValue? {
        try statement { t, now throws(DatabaseRejection) in
            let key = try replyKey(stationId, messageId, action, payload)
            // received_at > now() - make_interval(secs => window's whole seconds)
            let (since, overflow) = now.micros.subtractingReportingOverflow(window.components.seconds.multipliedReportingOverflow(by: 1_000_000).partialValue)
            guard !overflow, window.components.seconds.magnitude < UInt64(Int64.max / 1_000_000) else {
                throw DatabaseRejection(.datetimeFieldOverflow, "interval out of range", at: "make_interval")
            }
            guard let row = t.replies[key], row.receivedAt.micros > since else { return nil }
            return row.reply
        }
    }

    public func recordReply(stationId: String, messageId: String, action: String, payload: JSONValue, reply: JSONValue) async throws {
        try statement { t, now throws(DatabaseRejection) in
            let key = try replyKey(stationId, messageId, action, payload)
            try Col.jsonb(reply, "inbound_replies.reply")
            // ON CONFLICT (station_id, message_id, action, digest) DO UPDATE SET reply = EXCLUDED.reply, received_at = now()
            t.replies[key] = ReplyRow(reply: reply, receivedAt: now)
        }
    }

    public func purgeReplies(before cutoff: Date) async throws -> Int {
        try statement { t, _ throws(DatabaseRejection) in
            let cutoff = try Col.timestamp(cutoff, "inbound_replies.received_at")
            // At most 10000 a call.
            let gone = Array(t.replies.lazy.filter { $0.value.receivedAt < cutoff }.prefix(10_000).map(\.key))
            for key in gone { t.replies[key] = nil }
            return gone.count
        }
    }

    typealias Code = DatabaseRejection.Code
}

extension Tables {
    /// Writes a transaction row, enforcing UNIQUE (station_id, uid) and the 1.6 start identity index.
    mutating func store(_ row: TransactionRow, replacing old: TransactionRow?) throws(DatabaseRejection) {
        let uidKey = StationUid(stationId: row.stationId, uid: row.uid)
        if let holder = transactionByUid[uidKey], holder != row.id {
            throw DatabaseRejection(.uniqueViolation, "duplicate key value violates unique constraint \"transactions_station_id_uid_key\"", at: "transactions")
        }
        if let identity = row.startIdentity, let holder = startIdentities[identity], holder != row.id {
            throw DatabaseRejection(.uniqueViolation, "duplicate key value violates unique constraint \"transactions_start_identity\"", at: "transactions")
        }
        if let old, let identity = old.startIdentity { startIdentities[identity] = nil }
        if let identity = row.startIdentity { startIdentities[identity] = row.id }
        transactionByUid[uidKey] = row.id
        transactions[row.id] = row
    }
}
