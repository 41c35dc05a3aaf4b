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
        "ReservationStatusUpdate", "DataTransfer", "SignCertificate", "Get15118EVCertificate", "GetCertificateStatus",
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
            if r.certificate != nil || !(r.iso15118CertificateHashData ?? []).isEmpty {
                return plugAndCharge(r, stationId: stationId, now: now)
            }
            return .after({ [service] in await service.askRealTime(idToken: r.idToken.idToken, stationId: stationId) }) { [service] answer, uow in
                try await service.keep(uow, answer)
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
            let write: @Sendable (any UnitOfWork) async throws -> JSONValue = { [service] uow in
                let auth = try await service.transactionEvent(uow, stationId: stationId, version: version, input, now: now)
                return try encode(M.TransactionEventResponse(idTokenInfo: auth.map(Self.idTokenInfo)))
            }
            // A token that comes to start or authorize a transaction may need its eMSP asked first; an ending does not.
            guard let token = r.idToken?.idToken, r.eventType != .ended, service.realTime != nil else { return .writes(write) }
            return .after({ [service] in await service.askRealTime(idToken: token, stationId: stationId, evseId: r.evse?.id) }) { [service] answer, uow in
                try await service.keep(uow, answer)
                return try await write(uow)
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

        case "SignCertificate":
            let r = try decode(M.SignCertificateRequest.self, payload)
            let use = (r.certificateType ?? .chargingStationCertificate).rawValue
            return .writes { uow in
                let refusal = try await service.signCertificate(uow, stationId: stationId, csr: r.csr, use: use, payload: payload, now: now)
                return try encode(M.SignCertificateResponse(status: refusal == nil ? .accepted : .rejected, statusInfo: refusal.map { M.StatusInfoType(reasonCode: "InvalidCSR", additionalInfo: String($0.prefix(512))) }))
            }

        case "Get15118EVCertificate":
            let r = try decode(M.Get15118EVCertificateRequest.self, payload)
            return .after({ [service] in
                await service.certificates?.evCertificate(schemaVersion: r.iso15118SchemaVersion, action: r.action.rawValue, exiRequest: r.exiRequest)
                    ?? .failure(CertificateLookupFailure(reasonCode: "NoCertificateService", detail: "no certificate service is configured"))
            }) { [service] outcome, uow in
                try await service.record(uow, stationId: stationId, kind: action, payload: payload, now: now)
                switch outcome {
                case .success(let exi): return try OCPPCoder.encode(M.Get15118EVCertificateResponse(status: .accepted, exiResponse: exi))
                case .failure(let why):
                    return try OCPPCoder.encode(M.Get15118EVCertificateResponse(
                        status: .failed, statusInfo: M.StatusInfoType(reasonCode: why.reasonCode, additionalInfo: String(why.detail.prefix(512))), exiResponse: ""
                    ))
                }
            }

        case "GetCertificateStatus":
            let r = try decode(M.GetCertificateStatusRequest.self, payload)
            let hash = Self.hash(r.ocspRequestData)
            return .after({ [service] in
                await service.certificates?.ocspResponse(for: hash) ?? .failure(CertificateLookupFailure(reasonCode: "NoCertificateService", detail: "no certificate service is configured"))
            }) { [service] outcome, uow in
                try await service.record(uow, stationId: stationId, kind: action, payload: payload, now: now)
                switch outcome {
                case .success(let der): return try OCPPCoder.encode(M.GetCertificateStatusResponse(status: .accepted, ocspResult: Data(der).base64EncodedString()))
                case .failure(let why):
                    return try OCPPCoder.encode(M.GetCertificateStatusResponse(status: .failed, statusInfo: M.StatusInfoType(reasonCode: why.reasonCode, additionalInfo: String(why.detail.prefix(512)))))
                }
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

    /// Authorize with ISO 15118 contract data (C07): the contract is checked outside the transaction; a good one
    /// authorizes its eMAID (what bookings name), a bad one is Invalid with the certificate status that says why.
    func plugAndCharge(_ r: OCPP201.AuthorizeRequest, stationId: String, now: Date) -> PreparedCall {
        typealias M = OCPP201
        let hashes = (r.iso15118CertificateHashData ?? []).map(Self.hash)
        return .after({ [service] in
            await service.certificates?.verifyContract(certificate: r.certificate, hashes: hashes, now: now)
                ?? ContractCheck(status: "NoCertificateAvailable", eMAID: nil, reason: "no contract roots are configured")
        }) { [service] check, uow in
            let certificateStatus = M.AuthorizeCertificateStatusEnumType(rawValue: check.status) ?? .certChainError
            guard check.accepted else {
                return try OCPPCoder.encode(M.AuthorizeResponse(idTokenInfo: M.IdTokenInfoType(status: .invalid), certificateStatus: certificateStatus))
            }
            // The certificate's eMAID is the identity; an idToken that names another contract is not this car's.
            let eMAID = check.eMAID ?? r.idToken.idToken
            if r.idToken.type == .eMAID, Self.sameEMAID(r.idToken.idToken, eMAID) == false {
                return try OCPPCoder.encode(M.AuthorizeResponse(idTokenInfo: M.IdTokenInfoType(status: .invalid), certificateStatus: certificateStatus))
            }
            let info = try await service.authorize(uow, idToken: eMAID, now: now, at: stationId)
            return try OCPPCoder.encode(M.AuthorizeResponse(idTokenInfo: Self.idTokenInfo(info), certificateStatus: certificateStatus))
        }
    }

    /// eMAIDs compare without case and without the optional hyphens (ISO 15118-2 allows both spellings).
    static func sameEMAID(_ a: String, _ b: String) -> Bool {
        func norm(_ s: String) -> String { s.uppercased().filter { $0 != "-" } }
        return norm(a) == norm(b)
    }

    static func hash(_ d: OCPP201.OCSPRequestDataType) -> ContractCertificateHash {
        ContractCertificateHash(
            hashAlgorithm: d.hashAlgorithm.rawValue, issuerNameHash: d.issuerNameHash, issuerKeyHash: d.issuerKeyHash, serialNumber: d.serialNumber,
            responderURL: d.responderURL
        )
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
