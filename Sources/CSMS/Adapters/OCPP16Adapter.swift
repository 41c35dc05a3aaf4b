public import Foundation
public import OCPP

/// OCPP 1.6: connector n is EVSE n with connector 1; connector 0 is the station.
public struct OCPP16Adapter: InboundAdapter {
    public let service: ChargingService
    public var version: OCPPVersion { .v16 }

    public init(service: ChargingService) { self.service = service }

    public let handledActions: Set<String> = [
        "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
        "Heartbeat", "MeterValues", "StartTransaction", "StatusNotification", "StopTransaction",
        "SecurityEventNotification", "LogStatusNotification", "SignedFirmwareStatusNotification", "SignCertificate",
    ]

    /// Heartbeat carries nothing but liveness, which the caller records behind: it needs no transaction.
    public func immediate(action: String, now: Date) throws -> JSONValue? {
        action == "Heartbeat" ? try encode(OCPP16.HeartbeatResponse(currentTime: now)) : nil
    }

    public func prepare(action: String, payload: JSONValue, stationId: String, now: Date) throws -> PreparedCall {
        typealias M = OCPP16
        switch action {
        case "BootNotification":
            let r = try decode(M.BootNotificationRequest.self, payload)
            let info = BootInfo(
                vendor: r.chargePointVendor, model: r.chargePointModel, serialNumber: r.chargePointSerialNumber ?? r.chargeBoxSerialNumber,
                firmwareVersion: r.firmwareVersion, iccid: r.iccid, imsi: r.imsi, meterType: r.meterType, meterSerialNumber: r.meterSerialNumber
            )
            return .bulk(
                BulkCall(name: "ocpp1.6/BootNotification", input: BootRecord(stationId: stationId, info: info, version: version, at: now)) { [service] uow, boots in
                    let results = try await service.boot(uow, boots)
                    return try zip(boots, results).map { boot, result in
                        let status = M.BootNotificationResponse.Status(rawValue: result.status.rawValue) ?? .rejected
                        return try OCPPCoder.encode(M.BootNotificationResponse(status: status, currentTime: boot.at, interval: result.interval))
                    }
                })

        case "Authorize":
            let r = try decode(M.AuthorizeRequest.self, payload)
            return .after({ [service] in await service.askRealTime(idToken: r.idTag, stationId: stationId) }) { [service] answer, uow in
                try await service.keep(uow, answer)
                let info = try await service.authorize(uow, idToken: r.idTag, now: now, at: stationId)
                return try encode(M.AuthorizeResponse(idTagInfo: Self.idTagInfo(info)))
            }

        case "SignCertificate":
            // The Security Whitepaper's CSR is always the charge point's own (client) certificate.
            let r = try decode(M.SignCertificateRequest.self, payload)
            return .writes { uow in
                let refusal = try await service.signCertificate(uow, stationId: stationId, csr: r.csr, use: "ChargingStationCertificate", payload: payload, now: now)
                return try encode(M.SignCertificateResponse(status: refusal == nil ? .accepted : .rejected))
            }

        case "StatusNotification":
            let r = try decode(M.StatusNotificationRequest.self, payload)
            try WireLimits.check(r.connectorId, field: "connectorId")
            let ref = ConnectorRef.fromOCPP16(connectorId: r.connectorId)
            let status = ConnectorStatus(
                evseId: ref.evseId, connectorId: ref.connectorId, status: r.status.rawValue, errorCode: r.errorCode.rawValue,
                info: r.info, vendorErrorCode: r.vendorErrorCode, reportedAt: r.timestamp ?? now
            )
            return .writes { uow in
                try await service.status(uow, stationId: stationId, status)
                return try encode(M.StatusNotificationResponse())
            }

        case "StartTransaction":
            let r = try decode(M.StartTransactionRequest.self, payload)
            try WireLimits.check(r.connectorId, field: "connectorId")
            try WireLimits.check(r.reservationId, field: "reservationId")
            let evse = ConnectorRef.fromOCPP16(connectorId: r.connectorId).evseId
            return .after({ [service] in await service.askRealTime(idToken: r.idTag, stationId: stationId, evseId: evse) }) { [service] answer, uow in
                try await service.keep(uow, answer)
                let result = try await service.start(
                    uow, stationId: stationId, connector: .fromOCPP16(connectorId: r.connectorId), idToken: r.idTag,
                    startedAt: r.timestamp, meterStartWh: Int64(r.meterStart), reservationId: r.reservationId, now: now
                )
                guard let id = Int(exactly: result.transactionId) else { throw InboundRejection(.internalError, "transaction id out of range") }
                let info = Self.idTagInfo(result.authorization)
                return try encode(M.StartTransactionResponse(idTagInfo: .init(expiryDate: info.expiryDate, parentIdTag: info.parentIdTag, status: .init(rawValue: info.status.rawValue) ?? .invalid), transactionId: id))
            }

        case "StopTransaction":
            let r = try decode(M.StopTransactionRequest.self, payload)
            try WireLimits.check(r.transactionId, in: WireLimits.integer, field: "transactionId")
            let samples = (r.transactionData ?? []).flatMap { mv in mv.sampledValue.map { Self.sample($0, at: mv.timestamp) } }
            return .writes { uow in
                let auth = try await service.stop(
                    uow, stationId: stationId, transactionId: Int64(r.transactionId), idToken: r.idTag, stoppedAt: r.timestamp,
                    meterStopWh: Int64(r.meterStop), reason: r.reason?.rawValue, samples: samples, rawPayload: payload, now: now
                )
                let info = auth.map(Self.idTagInfo)
                return try encode(M.StopTransactionResponse(idTagInfo: info.map { .init(expiryDate: $0.expiryDate, parentIdTag: $0.parentIdTag, status: .init(rawValue: $0.status.rawValue) ?? .invalid) }))
            }

        case "MeterValues":
            let r = try decode(M.MeterValuesRequest.self, payload)
            try WireLimits.check(r.connectorId, field: "connectorId")
            try WireLimits.check(r.transactionId, in: WireLimits.integer, field: "transactionId")
            let samples = r.meterValue.flatMap { mv in mv.sampledValue.map { Self.sample16($0, at: mv.timestamp) } }
            let ref = ConnectorRef.fromOCPP16(connectorId: r.connectorId)
            let input = ChargingService.MeterValuesInput(
                stationId: stationId, evseId: ref.evseId, transactionId: r.transactionId.map(Int64.init), samples: samples, rawPayload: payload, now: now
            )
            return .bulk(
                BulkCall(name: "ocpp1.6/MeterValues", input: input) { [service] uow, inputs in
                    let reply = try OCPPCoder.encode(M.MeterValuesResponse())
                    return try await service.meterValues(uow, inputs).map { _ in reply }
                })

        case "DataTransfer":
            return .writes { uow in
                try await service.record(uow, stationId: stationId, kind: action, payload: payload, now: now)
                return try encode(M.DataTransferResponse(status: .unknownVendorId))
            }

        case "DiagnosticsStatusNotification", "FirmwareStatusNotification", "SecurityEventNotification", "LogStatusNotification", "SignedFirmwareStatusNotification":
            return .writes { uow in
                try await service.record(uow, stationId: stationId, kind: action, payload: payload, now: now)
                return .object([:])
            }

        default:
            throw InboundRejection(.notSupported, "\(action) is not supported")
        }
    }

    static func idTagInfo(_ info: AuthorizationInfo) -> OCPP16.AuthorizeResponse.IdTagInfo {
        let status: OCPP16.AuthorizeResponse.IdTagInfo.Status =
            switch info.status {
            case .accepted: .accepted
            case .blocked: .blocked
            case .expired: .expired
            case .concurrentTx: .concurrentTx
            default: .invalid
            }
        // 1.6 parentIdTag is an IdToken, CiString20; a group id may have up to 36 characters (2.0.1's idToken,
        // what the admin API takes). One that does not fit is left out: the field is optional.
        let parent = info.groupId.flatMap { $0.unicodeScalars.count <= 20 ? $0 : nil }
        return .init(expiryDate: info.expiresAt, parentIdTag: parent, status: status)
    }

    static func sample(_ v: OCPP16.StopTransactionRequest.TransactionData.SampledValue, at: Date) -> MeterSample {
        make(value: v.value, format: v.format?.rawValue, measurand: v.measurand?.rawValue, phase: v.phase?.rawValue, location: v.location?.rawValue, context: v.context?.rawValue, unit: v.unit?.rawValue, at: at)
    }

    static func sample16(_ v: OCPP16.MeterValuesRequest.MeterValue.SampledValue, at: Date) -> MeterSample {
        make(value: v.value, format: v.format?.rawValue, measurand: v.measurand?.rawValue, phase: v.phase?.rawValue, location: v.location?.rawValue, context: v.context?.rawValue, unit: v.unit?.rawValue, at: at)
    }

    static func make(value: String, format: String?, measurand: String?, phase: String?, location: String?, context: String?, unit: String?, at: Date) -> MeterSample {
        let measurand = measurand ?? MeterSample.energyImportRegister
        if format == "SignedData" {
            return MeterSample(sampledAt: at, measurand: measurand, phase: phase, location: location, context: context, value: nil, unit: unit ?? UnitNormalizer.defaultUnit(for: measurand), rawValue: value, rawUnit: unit, signedData: value)
        }
        let parsed = UnitNormalizer.parseDecimal(value)
        let (normalized, normalizedUnit) = parsed.map { UnitNormalizer.normalize(value: $0, unit: unit, measurand: measurand) } ?? (nil, unit ?? UnitNormalizer.defaultUnit(for: measurand))
        return MeterSample(
            sampledAt: at, measurand: measurand, phase: phase, location: location, context: context, value: normalized, unit: normalizedUnit,
            rawValue: value, rawUnit: unit, outOfRange: parsed != nil && normalized == nil
        )
    }
}
