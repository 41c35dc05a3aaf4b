public import Foundation
public import OCPP

/// The version-neutral application service: every rule about stations, tokens, transactions and
/// reservations lives here, over a `UnitOfWork`. Version adapters translate OCPP messages to and from it.
public struct ChargingService: Sendable {
    public var heartbeatInterval: Int
    /// What a BootNotification from a station created by auto-registration or pending policy gets.
    public var pendingRetryInterval: Int

    public init(heartbeatInterval: Int = 300, pendingRetryInterval: Int = 60) {
        self.heartbeatInterval = heartbeatInterval
        self.pendingRetryInterval = pendingRetryInterval
    }

    // MARK: Provisioning

    public struct BootResult: Sendable, Hashable {
        public var status: RegistrationStatus
        public var interval: Int
    }

    public func boot(_ uow: any UnitOfWork, stationId: String, info: BootInfo, version: OCPPVersion, now: Date) async throws -> BootResult {
        let status = try await uow.station(id: stationId)?.registrationStatus ?? .rejected
        try await uow.recordBoot(stationId: stationId, info: info, version: version, status: status, at: now)
        try await uow.appendOutbox(topic: "station.booted", payload: .object(["stationId": .string(stationId), "status": .string(status.rawValue)]))
        return BootResult(status: status, interval: status == .accepted ? heartbeatInterval : pendingRetryInterval)
    }

    public func heartbeat(_ uow: any UnitOfWork, stationId: String, now: Date) async throws {
        try await uow.touchStation(id: stationId, at: now)
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

    public func record(_ uow: any UnitOfWork, stationId: String, kind: String, payload: JSONValue, now: Date) async throws {
        try await uow.recordStationEvent(stationId: stationId, kind: kind, payload: payload, suspect: false, at: now)
    }

    // MARK: Authorization

    public func authorize(_ uow: any UnitOfWork, idToken: String, now: Date, excludingActive: Bool = false) async throws -> AuthorizationInfo {
        let token = try await uow.token(value: idToken)
        let group: IdToken? =
            if let groupId = token?.groupId, groupId != idToken { try await uow.token(value: groupId) } else { nil }
        let charging = excludingActive ? false : try await uow.hasActiveTransaction(idToken: idToken)
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
            let auth = try await authorize(uow, idToken: idToken, now: now, excludingActive: true)
            return StartResult(transactionId: existing.id, authorization: auth, duplicate: true)
        }
        let auth = try await authorize(uow, idToken: idToken, now: now)
        var reasons: [String] = []
        if startedAt.timeIntervalSince(now) > 300 { reasons.append("start timestamp in the future") }
        let tx = try await uow.insertTransaction(
            NewTransaction(stationId: stationId, connector: connector, idToken: idToken, reservationId: reservationId, startedAt: startedAt, meterStartWh: meterStartWh, suspectReasons: reasons)
        )
        if let reservationId { try await consumeReservation(uow, id: reservationId, stationId: stationId, idToken: idToken, transactionId: tx.id, now: now) }
        try await uow.appendOutbox(topic: "session.started", payload: Self.eventPayload(tx))
        return StartResult(transactionId: tx.id, authorization: auth, duplicate: false)
    }

    /// Ends a 1.6 transaction. An unknown transaction is recorded as suspect and still acknowledged:
    /// a station that got an error would retry forever.
    public func stop(
        _ uow: any UnitOfWork, stationId: String, transactionId: Int64, idToken: String?, stoppedAt: Date, meterStopWh: Int64,
        reason: String?, samples: [MeterSample], rawPayload: JSONValue, now: Date
    ) async throws -> AuthorizationInfo? {
        let auth = try await idToken.asyncMap { try await authorize(uow, idToken: $0, now: now, excludingActive: true) }
        guard var tx = try await uow.transaction(id: transactionId), tx.stationId == stationId else {
            try await uow.insertMeterSamples(stationId: stationId, evseId: 0, transactionId: nil, samples)
            try await uow.recordStationEvent(stationId: stationId, kind: "StopTransaction.unknown", payload: rawPayload, suspect: true, at: now)
            return auth
        }
        try await uow.insertMeterSamples(stationId: stationId, evseId: tx.evseId, transactionId: tx.id, samples)
        guard tx.state == .active else { return auth }  // a replayed stop: already applied
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

    /// Stores sampled values. Values for an unknown transaction are kept without it and flagged suspect.
    public func meterValues(_ uow: any UnitOfWork, stationId: String, evseId: Int, transactionId: Int64?, samples: [MeterSample], rawPayload: JSONValue, now: Date) async throws {
        var txId = transactionId
        if let id = transactionId {
            let tx = try await uow.transaction(id: id)
            if tx == nil || tx?.stationId != stationId {
                txId = nil
                try await uow.recordStationEvent(stationId: stationId, kind: "MeterValues.unknownTransaction", payload: rawPayload, suspect: true, at: now)
            }
        }
        try await uow.insertMeterSamples(stationId: stationId, evseId: evseId, transactionId: txId, samples)
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

    public func transactionEvent(_ uow: any UnitOfWork, stationId: String, _ e: TransactionEventInput, now: Date) async throws -> AuthorizationInfo? {
        var tx: ChargingTransaction
        var created = false
        if let existing = try await uow.transaction(stationId: stationId, uid: e.transactionUid) {
            tx = existing
        } else {
            let reasons = e.eventType == "Started" ? [] : ["first event was \(e.eventType), not Started"]
            tx = try await uow.insertTransaction(
                NewTransaction(
                    uid: e.transactionUid, stationId: stationId, connector: e.evse ?? ConnectorRef(evseId: 0, connectorId: 0), idToken: e.idToken,
                    reservationId: e.reservationId, startedAt: e.timestamp, meterStartWh: nil, chargingState: e.chargingState,
                    remoteStartId: e.remoteStartId, suspectReasons: reasons
                )
            )
            created = true
        }
        let fresh = try await uow.recordTransactionEvent(transactionId: tx.id, seqNo: e.seqNo, eventType: e.eventType, triggerReason: e.triggerReason, offline: e.offline, at: e.timestamp)
        let auth: AuthorizationInfo? =
            if let token = e.idToken { try await authorize(uow, idToken: token, now: now, excludingActive: tx.idToken == token || tx.idToken == nil) } else { nil }
        guard fresh else { return auth }  // a repeated seqNo: acknowledged, not applied twice

        try await uow.insertMeterSamples(stationId: stationId, evseId: tx.evseId, transactionId: tx.id, e.samples)
        if let token = e.idToken, tx.idToken == nil { tx.idToken = token }
        if let state = e.chargingState { tx.chargingState = state }
        if tx.evseId == 0, let evse = e.evse { tx.evseId = evse.evseId; tx.connectorId = evse.connectorId }
        if e.eventType == "Started", let startedAt = tx.startedAt, e.timestamp < startedAt { tx.startedAt = e.timestamp }
        if let reservationId = e.reservationId, let token = tx.idToken {
            tx.reservationId = reservationId
            try await consumeReservation(uow, id: reservationId, stationId: stationId, idToken: token, transactionId: tx.id, now: now)
        }
        // The register readings are read back only when they can change something: the first register
        // sample sets the start, and the end needs them all. Updated events in between cost no query.
        let ending = e.eventType == "Ended" && tx.state == .active
        let firstRegister = tx.meterStartWh == nil && e.samples.contains { $0.importRegisterWh != nil }
        let readings = ending || firstRegister ? try await uow.registerReadings(transactionId: tx.id) : []
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
        if created { try await uow.appendOutbox(topic: "session.started", payload: Self.eventPayload(tx)) }
        if tx.state == .ended, e.eventType == "Ended" { try await uow.appendOutbox(topic: "session.ended", payload: Self.eventPayload(tx)) }
        return auth
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
