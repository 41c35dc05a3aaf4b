public import Foundation
public import OCPP

/// The version-neutral application service: every rule about stations, tokens, transactions and
/// reservations lives here, over a `UnitOfWork`. Version adapters translate OCPP messages to and from it.
public struct ChargingService: Sendable {
    public var heartbeatInterval: Int
    /// What a BootNotification from a station created by auto-registration or pending policy gets.
    public var pendingRetryInterval: Int
    /// Funds holds before charging; nil where settlement is not run (tokens are then decided by their rules alone).
    public var funds: FundsService?
    /// Station CSRs and Plug & Charge contracts; nil: SignCertificate is Rejected and certificate data is not checked.
    public var certificates: (any CertificatePort)?
    /// Roaming tokens' eMSPs asked in real time (OCPI); nil: every token is decided from its copy.
    public var realTime: (any RealTimeAuthorizer)?
    /// Where a real-time answer is kept.
    public var roamingTokens = RoamingTokenService()

    public init(heartbeatInterval: Int = 300, pendingRetryInterval: Int = 60, funds: FundsService? = nil) {
        self.heartbeatInterval = heartbeatInterval
        self.pendingRetryInterval = pendingRetryInterval
        self.funds = funds
    }

    /// Asks `idToken`'s eMSP in real time where its copy says to (outside any transaction); nil when there is nothing
    /// to ask. Pass the answer to `keep` in the transaction that decides.
    public func askRealTime(idToken: String?, stationId: String, evseId: Int? = nil) async -> RealTimeAuthorization? {
        guard let idToken, let realTime else { return nil }
        return await realTime.authorize(idToken: idToken, stationId: stationId, evseId: evseId)
    }

    /// Keeps a real-time answer, so that the token rules of this transaction (and the next minutes') read it.
    public func keep(_ uow: any UnitOfWork, _ answer: RealTimeAuthorization?) async throws {
        if let answer { try await roamingTokens.record(uow, answer) }
    }

    // MARK: Provisioning

    public struct BootResult: Sendable, Hashable {
        public var status: RegistrationStatus
        public var interval: Int
    }

    public func boot(_ uow: any UnitOfWork, stationId: String, info: BootInfo, version: OCPPVersion, now: Date) async throws -> BootResult {
        try await boot(uow, [BootRecord(stationId: stationId, info: info, version: version, at: now)])[0]
    }

    /// Boots of many stations, in a few statements (a boot storm after a power cut): their registrations
    /// read at once, their boots recorded at once (a station once per statement), their events appended
    /// at once. One result per boot, in order.
    public func boot(_ uow: any UnitOfWork, _ boots: [BootRecord]) async throws -> [BootResult] {
        let ids = boots.map(\.stationId)
        var registration: [String: RegistrationStatus] = [:]
        for station in try await uow.stations(ids: Array(Set(ids)).sorted()) { registration[station.id] = station.registrationStatus }
        for round in Self.rounds(of: ids) { try await uow.recordBoots(round.map { boots[$0] }) }
        let statuses = ids.map { registration[$0] ?? .rejected }
        try await uow.appendOutbox(
            zip(ids, statuses).map { OutboxEvent(topic: "station.booted", payload: .object(["stationId": .string($0), "status": .string($1.rawValue)])) }
        )
        return statuses.map { BootResult(status: $0, interval: $0 == .accepted ? heartbeatInterval : pendingRetryInterval) }
    }

    public func status(_ uow: any UnitOfWork, stationId: String, _ status: ConnectorStatus) async throws {
        guard try await uow.recordStatus(stationId: stationId, status) else { return }  // a replay: no new event
        try await uow.appendOutbox(
            topic: "connector.status",
            payload: .object([
                "stationId": .string(stationId), "evseId": .number(JSONNumber(status.evseId)),
                "connectorId": .number(JSONNumber(status.connectorId)), "status": .string(status.status),
            ])
        )
    }

    /// A station's SignCertificate, kept as a station event either way: a CSR that can be signed for it is queued for
    /// the certificate service (and the station told Accepted); for one that cannot, the reason is returned (the
    /// station is told Rejected with it).
    public func signCertificate(_ uow: any UnitOfWork, stationId: String, csr: String, use: String, payload: JSONValue, now: Date) async throws -> String? {
        try await uow.recordStationEvent(stationId: stationId, kind: "SignCertificate", payload: payload, suspect: false, at: now)
        guard let certificates, certificates.canSign else { return "no certificate authority is configured" }
        if let refusal = certificates.refusal(csr: csr, stationId: stationId, use: use) { return refusal }
        try await uow.recordSigningRequest(SigningRequestRecord(stationId: stationId, csr: csr, use: use, receivedAt: now))
        return nil
    }

    public func record(_ uow: any UnitOfWork, stationId: String, kind: String, payload: JSONValue, now: Date) async throws {
        try await uow.recordStationEvent(stationId: stationId, kind: kind, payload: payload, suspect: false, at: now)
    }

    // MARK: Authorization

    /// Decides on a token. `charging` says which transactions count as "already charging" (ConcurrentTx):
    /// any (`.any`), none (`.none`, for a token already inside the transaction it reports), or any but one.
    public enum ConcurrencyCheck: Sendable, Hashable {
        case any
        case none
        case anyExcept(Int64)
    }

    /// `station`: where the token asks to charge (an Authorize). An accepted token of a ledger driver then has its
    /// funds held there, or is refused with NoCredit.
    public func authorize(_ uow: any UnitOfWork, idToken: String, now: Date, charging check: ConcurrencyCheck = .any, at station: String? = nil) async throws -> AuthorizationInfo {
        try await authorize(uow, idToken: idToken, now: now, charging: check, at: station.map { Place(stationId: $0, evseId: nil, transactionId: nil) })
    }

    /// Where a token asks to charge: a station, maybe its EVSE, and the transaction it starts.
    public struct Place: Sendable, Hashable {
        public var stationId: String
        public var evseId: Int?
        public var transactionId: Int64?
    }

    /// The token rules, then settlement's: a booked slot decides first (the booked identity is accepted even if the
    /// token rules do not know it, anyone else at that EVSE is refused), then sharing windows and funds holds.
    func authorize(_ uow: any UnitOfWork, idToken: String, now: Date, charging check: ConcurrencyCheck, at place: Place?) async throws -> AuthorizationInfo {
        if let place, let funds,
           let booked = try await funds.booking(uow, identity: idToken, stationId: place.stationId, evseId: place.evseId, transactionId: place.transactionId, now: now) {
            return AuthorizationInfo(status: booked)
        }
        var info = try await rules(uow, idToken: idToken, now: now, charging: check)
        if let place, info.status == .accepted, let funds {
            info.status = try await funds.gate(uow, idToken: idToken, stationId: place.stationId, evseId: place.evseId, transactionId: place.transactionId, now: now)
        }
        return info
    }

    func rules(_ uow: any UnitOfWork, idToken: String, now: Date, charging check: ConcurrencyCheck) async throws -> AuthorizationInfo {
        let token = try await uow.token(value: idToken)
        let group: IdToken? =
            if let groupId = token?.groupId, groupId != idToken { try await uow.token(value: groupId) } else { nil }
        let charging: Bool =
            switch check {
            case .none: false
            case .any: try await uow.hasActiveTransaction(idToken: idToken, excluding: nil)
            case .anyExcept(let id): try await uow.hasActiveTransaction(idToken: idToken, excluding: id)
            }
        return AuthorizationRules.decide(token: token, group: group, alreadyCharging: charging, now: now)
    }

    // MARK: OCPP 1.6 transactions

    public struct StartResult: Sendable, Hashable {
        public var transactionId: Int64
        public var authorization: AuthorizationInfo
        public var duplicate: Bool
    }

    public func start(
        _ uow: any UnitOfWork, stationId: String, connector: ConnectorRef, idToken: String, startedAt: Date,
        meterStartWh: Int64, reservationId: Int?, now: Date
    ) async throws -> StartResult {
        if let existing = try await uow.findStart(stationId: stationId, connector: connector, idToken: idToken, startedAt: startedAt, meterStartWh: meterStartWh) {
            let auth = try await authorize(uow, idToken: idToken, now: now, charging: .anyExcept(existing.id))
            return StartResult(transactionId: existing.id, authorization: auth, duplicate: true)
        }
        var reasons: [String] = []
        if startedAt.timeIntervalSince(now) > 300 { reasons.append("start timestamp in the future") }
        let tx = try await uow.insertTransaction(
            NewTransaction(version: .v16, stationId: stationId, connector: connector, idToken: idToken, reservationId: reservationId, startedAt: startedAt, meterStartWh: meterStartWh, suspectReasons: reasons)
        )
        if let reservationId { try await consumeReservation(uow, id: reservationId, stationId: stationId, idToken: idToken, transactionId: tx.id, now: now) }
        let auth = try await authorize(uow, idToken: idToken, now: now, charging: .anyExcept(tx.id), at: Place(stationId: stationId, evseId: connector.evseId, transactionId: tx.id))
        try await uow.appendOutbox(topic: "session.started", payload: Self.eventPayload(tx))
        return StartResult(transactionId: tx.id, authorization: auth, duplicate: false)
    }

    /// Ends a 1.6 transaction. An unknown transaction is recorded as suspect and still acknowledged:
    /// a station that got an error would retry forever.
    public func stop(
        _ uow: any UnitOfWork, stationId: String, transactionId: Int64, idToken: String?, stoppedAt: Date, meterStopWh: Int64,
        reason: String?, samples: [MeterSample], rawPayload: JSONValue, now: Date
    ) async throws -> AuthorizationInfo? {
        let auth = try await idToken.asyncMap { try await authorize(uow, idToken: $0, now: now, charging: .none) }
        guard var tx = try await uow.transaction(id: transactionId), tx.stationId == stationId, tx.ocppVersion == .v16 else {
            try await uow.insertMeterSamples(stationId: stationId, evseId: 0, transactionId: nil, samples)
            try await uow.recordStationEvent(stationId: stationId, kind: "StopTransaction.unknown", payload: rawPayload, suspect: true, at: now)
            return auth
        }
        let corrections = try await uow.insertMeterSamples(stationId: stationId, evseId: tx.evseId, transactionId: tx.id, samples)
        guard tx.state == .active else {
            // A replayed stop is already applied: a corrected sample it carries is flagged. A Stop that is not
            // the one applied (the transaction was ended by an operator or the stale policy, then the station's
            // own Stop arrived) is kept as an event, and the transaction flagged with what the station said.
            let sameStop = tx.meterStopWh == meterStopWh && tx.stoppedAt.map { abs($0.timeIntervalSince(stoppedAt)) < 0.001 } == true
            var changed = flag(&tx, samples: samples, corrections: corrections, afterEnd: !sameStop)
            if !sameStop {
                try await uow.recordStationEvent(stationId: stationId, kind: "StopTransaction.afterEnd", payload: rawPayload, suspect: true, at: now)
                let note = "station's own Stop after the end: meterStop \(meterStopWh) Wh"
                if !tx.suspectReasons.contains(note) {
                    tx.suspectReasons.append(note)
                    tx.suspect = true
                    changed = true
                }
            }
            if changed { try await uow.updateTransaction(tx) }
            return auth
        }
        _ = flag(&tx, samples: samples, corrections: corrections, afterEnd: false)
        let readings = try await uow.registerReadings(transactionId: tx.id)
        let energy = EnergyRules.compute(meterStart: tx.meterStartWh, meterStop: meterStopWh, readings: readings, startedAt: tx.startedAt, stoppedAt: stoppedAt)
        tx.state = .ended
        tx.stoppedAt = stoppedAt
        tx.meterStartWh = energy.startWh ?? tx.meterStartWh
        tx.meterStopWh = meterStopWh
        tx.energyWh = energy.energyWh
        tx.stopReason = reason ?? "Local"
        tx.suspectReasons += energy.suspectReasons
        tx.suspect = !tx.suspectReasons.isEmpty
        try await uow.updateTransaction(tx)
        try await uow.appendOutbox(topic: "session.ended", payload: Self.eventPayload(tx))
        return auth
    }

    /// One MeterValues CALL: samples of one EVSE, in a 1.6 transaction if it names one.
    public struct MeterValuesInput: Sendable {
        public var stationId: String
        public var evseId: Int
        public var transactionId: Int64?
        public var samples: [MeterSample]
        public var rawPayload: JSONValue
        public var now: Date

        public init(stationId: String, evseId: Int, transactionId: Int64?, samples: [MeterSample], rawPayload: JSONValue, now: Date) {
            self.stationId = stationId
            self.evseId = evseId
            self.transactionId = transactionId
            self.samples = samples
            self.rawPayload = rawPayload
            self.now = now
        }
    }

    /// Stores sampled values, for many CALLs in a few statements: one lookup of the transactions they name,
    /// and one insert of all their samples. Values for an unknown transaction are kept without it and
    /// flagged suspect. Returns, per CALL, whether it flagged anything.
    public func meterValues(_ uow: any UnitOfWork, _ items: [MeterValuesInput]) async throws -> [Bool] {
        var flagged = [Bool](repeating: false, count: items.count)
        var known: [Int64: ChargingTransaction] = [:]
        let named = Set(items.compactMap(\.transactionId))
        if !named.isEmpty {
            for tx in try await uow.transactions(ids: named.sorted()) { known[tx.id] = tx }
        }
        var resolved: [Int64?] = []
        resolved.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard let id = item.transactionId else {
                resolved.append(nil)
                continue
            }
            if let tx = known[id], tx.stationId == item.stationId, tx.ocppVersion == .v16 {
                resolved.append(id)
            } else {
                resolved.append(nil)
                flagged[i] = true
                try await uow.recordStationEvent(stationId: item.stationId, kind: "MeterValues.unknownTransaction", payload: item.rawPayload, suspect: true, at: item.now)
            }
        }
        // A round holds each station at most once, so that a correction between two of its CALLs in one batch
        // is seen as it would be one after the other (one statement does not see its own rows).
        for round in Self.rounds(of: items.map(\.stationId)) {
            let groups = round.map { MeterSampleGroup(stationId: items[$0].stationId, evseId: items[$0].evseId, transactionId: resolved[$0], samples: items[$0].samples) }
            let corrections = try await uow.insertMeterSamples(groups)
            for (j, i) in round.enumerated() {
                let item = items[i]
                if let id = resolved[i], var tx = known[id] {
                    if flag(&tx, samples: item.samples, corrections: corrections[j], afterEnd: tx.state == .ended) {
                        try await uow.updateTransaction(tx)
                        known[id] = tx
                        flagged[i] = true
                    }
                } else if corrections[j] > 0 || item.samples.contains(where: \.outOfRange) {
                    flagged[i] = true
                    try await uow.recordStationEvent(stationId: item.stationId, kind: "MeterValues.suspect", payload: item.rawPayload, suspect: true, at: item.now)
                }
            }
        }
        return flagged
    }

    /// The indices of `keys`, in order, split so that no round holds a key twice: the n-th occurrence of a key
    /// goes to round n.
    static func rounds(of keys: [String]) -> [[Int]] {
        var seen: [String: Int] = [:]
        var rounds: [[Int]] = []
        for (i, key) in keys.enumerated() {
            let n = seen[key, default: 0]
            seen[key] = n + 1
            if n == rounds.count { rounds.append([]) }
            rounds[n].append(i)
        }
        return rounds
    }

    /// One MeterValues CALL alone.
    public func meterValues(_ uow: any UnitOfWork, stationId: String, evseId: Int, transactionId: Int64?, samples: [MeterSample], rawPayload: JSONValue, now: Date) async throws {
        _ = try await meterValues(uow, [MeterValuesInput(stationId: stationId, evseId: evseId, transactionId: transactionId, samples: samples, rawPayload: rawPayload, now: now)])
    }

    /// Adds the reasons new samples give to doubt a transaction; true when it changed.
    private func flag(_ tx: inout ChargingTransaction, samples: [MeterSample], corrections: Int, afterEnd: Bool) -> Bool {
        var reasons: [String] = []
        if samples.contains(where: \.outOfRange) { reasons.append("sampled value out of range") }
        if corrections > 0 { reasons.append("corrected reading") }
        if afterEnd, !samples.isEmpty { reasons.append("readings after end") }
        let new = reasons.filter { !tx.suspectReasons.contains($0) }
        guard !new.isEmpty else { return false }
        tx.suspectReasons += new
        tx.suspect = true
        return true
    }

    // MARK: OCPP 2.0.1 transactions

    public struct TransactionEventInput: Sendable {
        public var eventType: String
        public var timestamp: Date
        public var triggerReason: String
        public var seqNo: Int
        public var offline: Bool
        public var transactionUid: String
        public var chargingState: String?
        public var stoppedReason: String?
        public var remoteStartId: Int?
        public var reservationId: Int?
        public var idToken: String?
        public var evse: ConnectorRef?
        public var samples: [MeterSample]

        public init(eventType: String, timestamp: Date, triggerReason: String, seqNo: Int, offline: Bool, transactionUid: String, chargingState: String? = nil, stoppedReason: String? = nil, remoteStartId: Int? = nil, reservationId: Int? = nil, idToken: String? = nil, evse: ConnectorRef? = nil, samples: [MeterSample] = []) {
            self.eventType = eventType
            self.timestamp = timestamp
            self.triggerReason = triggerReason
            self.seqNo = seqNo
            self.offline = offline
            self.transactionUid = transactionUid
            self.chargingState = chargingState
            self.stoppedReason = stoppedReason
            self.remoteStartId = remoteStartId
            self.reservationId = reservationId
            self.idToken = idToken
            self.evse = evse
            self.samples = samples
        }
    }

    public func transactionEvent(_ uow: any UnitOfWork, stationId: String, version: OCPPVersion, _ e: TransactionEventInput, now: Date) async throws -> AuthorizationInfo? {
        var tx: ChargingTransaction
        var created = false
        if let existing = try await uow.transaction(stationId: stationId, uid: e.transactionUid) {
            tx = existing
        } else {
            let reasons = e.eventType == "Started" ? [] : ["first event was \(e.eventType), not Started"]
            tx = try await uow.insertTransaction(
                NewTransaction(
                    uid: e.transactionUid, version: version, stationId: stationId, connector: e.evse ?? ConnectorRef(evseId: 0, connectorId: 0),
                    idToken: e.idToken, reservationId: e.reservationId, startedAt: e.timestamp, meterStartWh: nil, chargingState: e.chargingState,
                    remoteStartId: e.remoteStartId, suspectReasons: reasons
                )
            )
            created = true
        }
        let fresh = try await uow.recordTransactionEvent(transactionId: tx.id, seqNo: e.seqNo, eventType: e.eventType, triggerReason: e.triggerReason, offline: e.offline, at: e.timestamp)
        // The same rule as a 1.6 start: a token already charging elsewhere is ConcurrentTx. A token this
        // transaction already carries is not checked against itself.
        var auth: AuthorizationInfo? =
            if let token = e.idToken { try await authorize(uow, idToken: token, now: now, charging: tx.idToken == token && !created ? .none : .anyExcept(tx.id)) } else { nil }
        guard fresh else { return auth }  // a repeated seqNo: acknowledged, not applied twice

        let corrections = try await uow.insertMeterSamples(stationId: stationId, evseId: tx.evseId, transactionId: tx.id, e.samples)
        guard tx.state == .active else {
            // The transaction ended before: what comes after is stored, never billed, and flagged.
            var changed = flag(&tx, samples: e.samples, corrections: corrections, afterEnd: true)
            if e.eventType == "Ended", !tx.suspectReasons.contains("repeated Ended event") {
                tx.suspectReasons.append("repeated Ended event")
                tx.suspect = true
                changed = true
            }
            if changed { try await uow.updateTransaction(tx) }
            return auth
        }
        _ = flag(&tx, samples: e.samples, corrections: corrections, afterEnd: false)
        // A 2.0.1 transaction often starts on the cable with neither token nor EVSE; the event that first gives them
        // is when the session becomes someone's, for whoever follows sessions (OCPI).
        let wasAnonymous = tx.idToken == nil || tx.evseId == 0
        let tokenArrives = e.idToken != nil && (created || tx.idToken == nil)
        if let token = e.idToken, tx.idToken == nil { tx.idToken = token }
        if let state = e.chargingState { tx.chargingState = state }
        if tx.evseId == 0, let evse = e.evse { tx.evseId = evse.evseId; tx.connectorId = evse.connectorId }
        let identified = !created && wasAnonymous && tx.idToken != nil && tx.evseId != 0
        if e.eventType == "Started", let startedAt = tx.startedAt, e.timestamp < startedAt { tx.startedAt = e.timestamp }
        // The token's funds are held once it is this transaction's: NoCredit tells the station to stop.
        // Once the token is this transaction's, settlement decides too: the booked identity, sharing windows, funds
        // (NoCredit or Invalid tells the station to stop).
        if tokenArrives, let token = tx.idToken, funds != nil {
            auth = try await authorize(uow, idToken: token, now: now, charging: .anyExcept(tx.id), at: Place(stationId: stationId, evseId: tx.evseId, transactionId: tx.id))
        }
        if let reservationId = e.reservationId, let token = tx.idToken {
            tx.reservationId = reservationId
            try await consumeReservation(uow, id: reservationId, stationId: stationId, idToken: token, transactionId: tx.id, now: now)
        }
        // The register readings are read back only when they can change something: the first register
        // sample sets the start, and the end needs them all. Updated events in between cost no query.
        let ending = e.eventType == "Ended"
        let firstRegister = tx.meterStartWh == nil && e.samples.contains { $0.importRegisterWh != nil }
        let readings = ending || firstRegister || corrections > 0 ? try await uow.registerReadings(transactionId: tx.id) : []
        if tx.meterStartWh == nil { tx.meterStartWh = readings.min { $0.0 < $1.0 }?.1 }
        if ending {
            let end = readings.max { $0.0 < $1.0 }?.1
            let energy = EnergyRules.compute(meterStart: tx.meterStartWh, meterStop: end, readings: readings, startedAt: tx.startedAt, stoppedAt: e.timestamp)
            tx.state = .ended
            tx.stoppedAt = e.timestamp
            tx.meterStartWh = energy.startWh ?? tx.meterStartWh
            tx.meterStopWh = energy.stopWh
            tx.energyWh = energy.energyWh
            tx.stopReason = e.stoppedReason ?? "Local"
            tx.suspectReasons += energy.suspectReasons
        }
        tx.suspect = !tx.suspectReasons.isEmpty
        try await uow.updateTransaction(tx)
        if created || identified { try await uow.appendOutbox(topic: "session.started", payload: Self.eventPayload(tx)) }
        if ending { try await uow.appendOutbox(topic: "session.ended", payload: Self.eventPayload(tx)) }
        return auth
    }

    // MARK: Ending transactions the station did not end

    /// Ends an Active transaction on the operator's word or by the stale policy: the energy is what the
    /// readings so far show, and the transaction is flagged so that nobody bills it unseen. False when it
    /// was not Active (already ended: nothing changes, so a repeated request is harmless).
    public func endTransaction(_ uow: any UnitOfWork, id: Int64, reason: String, flaggedAs note: String, now: Date) async throws -> ChargingTransaction? {
        guard var tx = try await uow.transaction(id: id) else { return nil }
        guard tx.state == .active else { return tx }
        let readings = try await uow.registerReadings(transactionId: tx.id)
        let last = readings.max { $0.0 < $1.0 }
        let energy = EnergyRules.compute(meterStart: tx.meterStartWh, meterStop: last?.1, readings: readings, startedAt: tx.startedAt, stoppedAt: last?.0 ?? now)
        tx.state = .ended
        tx.stoppedAt = last?.0 ?? now
        tx.meterStartWh = energy.startWh ?? tx.meterStartWh
        tx.meterStopWh = energy.stopWh
        tx.energyWh = energy.energyWh
        tx.stopReason = reason
        tx.suspectReasons += energy.suspectReasons + [note]
        tx.suspect = true
        try await uow.updateTransaction(tx)
        try await uow.appendOutbox(topic: "session.ended", payload: Self.eventPayload(tx))
        return tx
    }

    /// An operator ends a transaction whose Stop was lost. Nil when there is no such transaction; `ended`
    /// is false when it had ended already (a replay of this request, or the station's Stop came first).
    public func endByOperator(_ uow: any UnitOfWork, id: Int64, actor: String, reason: String, now: Date) async throws -> (transaction: ChargingTransaction, ended: Bool)? {
        guard let before = try await uow.transaction(id: id) else { return nil }
        guard before.state == .active else { return (before, false) }
        guard let after = try await endTransaction(uow, id: id, reason: "Other", flaggedAs: "ended by \(actor): \(reason)", now: now) else { return nil }
        return (after, true)
    }

    /// Ends, by policy, Active transactions with no message since `cutoff`; returns those ended.
    public func endStaleTransactions(_ uow: any UnitOfWork, before cutoff: Date, limit: Int = 100, now: Date) async throws -> [ChargingTransaction] {
        var ended: [ChargingTransaction] = []
        for tx in try await uow.staleTransactions(before: cutoff, limit: limit) {
            if let t = try await endTransaction(uow, id: tx.id, reason: "Stale", flaggedAs: "ended by the stale-transaction policy", now: now) { ended.append(t) }
        }
        return ended
    }

    /// A 2.0.1 ReservationStatusUpdate: the station expired or removed a reservation it held.
    public func reservationStatusUpdate(_ uow: any UnitOfWork, stationId: String, reservationId: Int, expired: Bool) async throws {
        guard let existing = try await uow.reservation(id: reservationId), existing.stationId == stationId, existing.status != .used else { return }
        try await uow.updateReservation(id: reservationId, status: expired ? .expired : .cancelled, transactionId: nil)
    }

    // MARK: Reservations

    private func consumeReservation(_ uow: any UnitOfWork, id: Int, stationId: String, idToken: String, transactionId: Int64, now: Date) async throws {
        guard let r = try await uow.reservation(id: id), r.stationId == stationId else { return }
        // An expired reservation reads as Expired (see ReservationRows) and is simply not consumed.
        guard r.isUsable(at: now) || r.status == .used && r.transactionId == transactionId, r.idToken == idToken else { return }
        try await uow.updateReservation(id: id, status: .used, transactionId: transactionId)
    }

    static func eventPayload(_ tx: ChargingTransaction) -> JSONValue {
        var o: [String: JSONValue] = [
            "transactionId": .number(JSONNumber(tx.id)), "uid": .string(tx.uid), "stationId": .string(tx.stationId),
            "evseId": .number(JSONNumber(tx.evseId)), "state": .string(tx.state.rawValue),
        ]
        if let e = tx.energyWh { o["energyWh"] = .number(JSONNumber(e)) }
        return .object(o)
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        switch self {
        case .some(let w): try await transform(w)
        case .none: nil
        }
    }
}
