public import Foundation
public import OCPP

/// OCPP 2.0.1 onto the version-neutral service.
public struct OCPP201Adapter: InboundAdapter {
    public let service: ChargingService
    public let version: OCPPVersion

    public init(service: ChargingService, version: OCPPVersion = .v201) {
        self.service = service
        self.version = version
    }

    public let handledActions: Set<String> = [
        "BootNotification", "Heartbeat", "StatusNotification", "Authorize", "TransactionEvent", "MeterValues",
        "NotifyReport", "NotifyEvent", "SecurityEventNotification", "FirmwareStatusNotification", "LogStatusNotification",
        "ReservationStatusUpdate", "DataTransfer",
    ]

    /// Heartbeat carries nothing but liveness, which the caller records behind: it needs no transaction.
    public func immediate(action: String, now: Date) throws -> JSONValue? {
        action == "Heartbeat" ? try encode(OCPP201.HeartbeatResponse(currentTime: now)) : nil
    }

    public func prepare(action: String, payload: JSONValue, stationId: String, now: Date) throws -> PreparedCall {
        typealias M = OCPP201
        switch action {
        case "BootNotification":
            let r = try decode(M.BootNotificationRequest.self, payload)
            let cs = r.chargingStation
            let info = BootInfo(
                vendor: cs.vendorName, model: cs.model, serialNumber: cs.serialNumber, firmwareVersion: cs.firmwareVersion,
                iccid: cs.modem?.iccid, imsi: cs.modem?.imsi, reason: r.reason.rawValue
            )
            return .bulk(
                BulkCall(name: "ocpp2.0.1/BootNotification", input: BootRecord(stationId: stationId, info: info, version: version, at: now)) { [service] uow, boots in
                    let results = try await service.boot(uow, boots)
                    return try zip(boots, results).map { boot, result in
                        let status = M.RegistrationStatusEnumType(rawValue: result.status.rawValue) ?? .rejected
                        return try OCPPCoder.encode(M.BootNotificationResponse(currentTime: boot.at, interval: result.interval, status: status))
                    }
                })

        case "Authorize":
            let r = try decode(M.AuthorizeRequest.self, payload)
            return .writes { uow in
                let info = try await service.authorize(uow, idToken: r.idToken.idToken, now: now, at: stationId)
                return try encode(M.AuthorizeResponse(idTokenInfo: Self.idTokenInfo(info)))
            }

        case "StatusNotification":
            let r = try decode(M.StatusNotificationRequest.self, payload)
            try WireLimits.check(r.evseId, field: "evseId")
            try WireLimits.check(r.connectorId, field: "connectorId")
            let status = ConnectorStatus(evseId: r.evseId, connectorId: r.connectorId, status: r.connectorStatus.rawValue, reportedAt: r.timestamp)
            return .writes { uow in
                try await service.status(uow, stationId: stationId, status)
                return try encode(M.StatusNotificationResponse())
            }

        case "TransactionEvent":
            let r = try decode(M.TransactionEventRequest.self, payload)
            try WireLimits.check(r.seqNo, field: "seqNo")
            try WireLimits.check(r.evse?.id, field: "evse.id")
            try WireLimits.check(r.evse?.connectorId, field: "evse.connectorId")
            try WireLimits.check(r.reservationId, field: "reservationId")
            try WireLimits.check(r.transactionInfo.remoteStartId, in: WireLimits.integer, field: "transactionInfo.remoteStartId")
            let samples = (r.meterValue ?? []).flatMap { mv in mv.sampledValue.map { Self.sample($0, at: mv.timestamp) } }
            let input = ChargingService.TransactionEventInput(
                eventType: r.eventType.rawValue, timestamp: r.timestamp, triggerReason: r.triggerReason.rawValue, seqNo: r.seqNo,
                offline: r.offline ?? false, transactionUid: r.transactionInfo.transactionId, chargingState: r.transactionInfo.chargingState?.rawValue,
                stoppedReason: r.transactionInfo.stoppedReason?.rawValue, remoteStartId: r.transactionInfo.remoteStartId, reservationId: r.reservationId,
                idToken: r.idToken?.idToken, evse: r.evse.map { ConnectorRef(evseId: $0.id, connectorId: $0.connectorId ?? 1) }, samples: samples
            )
            return .writes { uow in
                let auth = try await service.transactionEvent(uow, stationId: stationId, version: version, input, now: now)
                return try encode(M.TransactionEventResponse(idTokenInfo: auth.map(Self.idTokenInfo)))
            }

        case "MeterValues":
            let r = try decode(M.MeterValuesRequest.self, payload)
            try WireLimits.check(r.evseId, field: "evseId")
            let samples = r.meterValue.flatMap { mv in mv.sampledValue.map { Self.sample($0, at: mv.timestamp) } }
            let input = ChargingService.MeterValuesInput(stationId: stationId, evseId: r.evseId, transactionId: nil, samples: samples, rawPayload: payload, now: now)
            return .bulk(
                BulkCall(name: "ocpp2.0.1/MeterValues", input: input) { [service] uow, inputs in
                    let reply = try OCPPCoder.encode(M.MeterValuesResponse())
                    return try await service.meterValues(uow, inputs).map { _ in reply }
                })

        case "ReservationStatusUpdate":
            let r = try decode(M.ReservationStatusUpdateRequest.self, payload)
            try WireLimits.check(r.reservationId, field: "reservationId")
            return .writes { uow in
                try await service.reservationStatusUpdate(uow, stationId: stationId, reservationId: r.reservationId, expired: r.reservationUpdateStatus == .expired)
                try await service.record(uow, stationId: stationId, kind: action, payload: payload, now: now)
                return try encode(M.ReservationStatusUpdateResponse())
            }

        case "DataTransfer":
            return .writes { uow in
                try await service.record(uow, stationId: stationId, kind: action, payload: payload, now: now)
                return try encode(M.DataTransferResponse(status: .unknownVendorId))
            }

        case "NotifyReport", "NotifyEvent", "SecurityEventNotification", "FirmwareStatusNotification", "LogStatusNotification":
            return .writes { uow in
                try await service.record(uow, stationId: stationId, kind: action, payload: payload, now: now)
                return .object([:])
            }

        default:
            throw InboundRejection(.notSupported, "\(action) is not supported")
        }
    }

    static func idTokenInfo(_ info: AuthorizationInfo) -> OCPP201.IdTokenInfoType {
        let status = OCPP201.AuthorizationStatusEnumType(rawValue: info.status.rawValue) ?? .invalid
        return OCPP201.IdTokenInfoType(
            status: status, cacheExpiryDateTime: info.expiresAt,
            groupIdToken: info.groupId.map { OCPP201.IdTokenType(idToken: $0, type: .central) }
        )
    }

    static func sample(_ v: OCPP201.SampledValueType, at: Date) -> MeterSample {
        let measurand = v.measurand?.rawValue ?? MeterSample.energyImportRegister
        let raw: Decimal? = v.value.isFinite ? Decimal(string: "\(v.value)", locale: Locale(identifier: "en_US_POSIX")) : nil
        let (value, unit) =
            raw.map { UnitNormalizer.normalize(value: $0, unit: v.unitOfMeasure?.unit, multiplier: v.unitOfMeasure?.multiplier ?? 0, measurand: measurand) }
            ?? (nil, v.unitOfMeasure?.unit ?? UnitNormalizer.defaultUnit(for: measurand))
        let signed = try? v.signedMeterValue.map { try OCPPCoder.encode($0).serialized }
        return MeterSample(
            sampledAt: at, measurand: measurand, phase: v.phase?.rawValue, location: v.location?.rawValue, context: v.context?.rawValue,
            value: value, unit: unit, rawValue: "\(v.value)", rawUnit: v.unitOfMeasure?.unit, signedData: signed ?? nil, outOfRange: value == nil
        )
    }
}
