import CSMS
import Foundation
import HTTPTypes
import Hummingbird
import OCPP
import PKI
import Storage
import X509

/// `/api/v1` station certificates: what the station CA issued and the requests behind it, renewal, revocation; the
/// certificates a station trusts (InstallCertificate, GetInstalledCertificateIds, DeleteCertificate, in the station's
/// own OCPP version); raising a station's security profile; and the Plug & Charge contract status list.
struct CertificateController: Sendable {
    let security: SecurityRepository
    let commands: CommandDispatcher
    let repository: AdminRepository
    let firmware: FirmwareGate?

    func addRoutes(to group: RouterGroup<AdminContext>) {
        group.post("stations/{id}/firmware", use: updateFirmware)
        group.get("stations/{id}/certificates", use: list)
        group.post("stations/{id}/certificates/renew", use: renew)
        group.post("stations/{id}/certificates/install", use: install)
        group.get("stations/{id}/certificates/installed", use: installed)
        group.post("stations/{id}/certificates/delete", use: delete)
        group.post("stations/{id}/security-profile", use: raiseProfile)
        group.post("certificates/revocations", use: revoke)
        group.put("certificates/contracts", use: putContract)
    }

    struct StationCertificates: Codable, ResponseEncodable {
        var stationId: String
        var certificates: [SecurityRepository.CertificateView]
        var signingRequests: [SecurityRepository.RequestView]
    }

    @Sendable func list(_ request: Request, context: AdminContext) async throws -> StationCertificates {
        let id = try await station(context)
        let (requests, certificates) = try await security.station(id)
        return StationCertificates(stationId: id, certificates: certificates, signingRequests: requests)
    }

    /// The station's answer to what was sent.
    struct Sent: Codable, ResponseEncodable {
        var stationId: String
        var action: String
        var ocppVersion: String
        var request: JSONValue
        var response: JSONValue
    }

    @Sendable func renew(_ request: Request, context: AdminContext) async throws -> Sent {
        let id = try await station(context)
        struct Body: Decodable { var certificateType: String? }
        let body = try await optionalBody(request, context, Body.self)
        let use = try body?.certificateType.map { type in
            guard let use = CertificateUse(rawValue: type) else {
                throw Problem(.unprocessableContent, "Invalid certificateType", "certificateType is ChargingStationCertificate or V2GCertificate")
            }
            return use
        } ?? .chargingStation
        let v16 = try await version(id) == .v16
        let (action, payload): (String, JSONValue) =
            v16
            ? ("ExtendedTriggerMessage", .object(["requestedMessage": .string("SignChargePointCertificate")]))
            : ("TriggerMessage", .object(["requestedMessage": .string(use == .v2g ? "SignV2GCertificate" : "SignChargingStationCertificate")]))
        return try await send(id, action, payload)
    }

    struct InstallBody: Decodable {
        /// OCPP 2.0.1's InstallCertificateUseEnumType (CSMSRootCertificate, V2GRootCertificate, MORootCertificate,
        /// ManufacturerRootCertificate); for a 1.6 station CSMSRootCertificate becomes CentralSystemRootCertificate.
        var certificateType: String
        var certificate: String
    }

    static let installTypes = ["CSMSRootCertificate", "V2GRootCertificate", "MORootCertificate", "ManufacturerRootCertificate"]

    @Sendable func install(_ request: Request, context: AdminContext) async throws -> Sent {
        let id = try await station(context)
        let body = try await request.decode(as: InstallBody.self, context: context)
        guard Self.installTypes.contains(body.certificateType) else {
            throw Problem(.unprocessableContent, "Invalid certificateType", "certificateType is one of \(Self.installTypes.joined(separator: ", "))")
        }
        do {
            _ = try certificates(pemBundle: body.certificate)
        } catch {
            throw Problem(.unprocessableContent, "Invalid certificate", "certificate: \(error.message)")
        }
        guard body.certificate.utf8.count <= 5500 else { throw Problem(.unprocessableContent, "Invalid certificate", "certificate: OCPP allows at most 5500 characters") }
        let v16 = try await version(id) == .v16
        var type = body.certificateType
        if v16 {
            switch type {
            case "CSMSRootCertificate": type = "CentralSystemRootCertificate"
            case "ManufacturerRootCertificate": break
            default: throw Problem(.unprocessableContent, "Invalid certificateType", "a 1.6 station installs CSMSRootCertificate or ManufacturerRootCertificate")
            }
        }
        return try await send(id, "InstallCertificate", .object(["certificateType": .string(type), "certificate": .string(body.certificate)]))
    }

    @Sendable func installed(_ request: Request, context: AdminContext) async throws -> Sent {
        let id = try await station(context)
        let v16 = try await version(id) == .v16
        let types: [String] = request.uri.queryParameters.getAll("type")
        for t in types where !Self.installTypes.contains(t) && !["V2GCertificateChain"].contains(t) {
            throw Problem(.unprocessableContent, "Invalid type", "type is one of \((Self.installTypes + ["V2GCertificateChain"]).joined(separator: ", "))")
        }
        if v16 {
            // 1.6 asks for one type at a time.
            guard types.count <= 1 else { throw Problem(.unprocessableContent, "Invalid type", "a 1.6 station is asked for one type at a time") }
            let t = types.first.map { $0 == "CSMSRootCertificate" ? "CentralSystemRootCertificate" : $0 } ?? "CentralSystemRootCertificate"
            guard ["CentralSystemRootCertificate", "ManufacturerRootCertificate"].contains(t) else {
                throw Problem(.unprocessableContent, "Invalid type", "a 1.6 station holds CSMSRootCertificate or ManufacturerRootCertificate")
            }
            return try await send(id, "GetInstalledCertificateIds", .object(["certificateType": .string(t)]))
        }
        return try await send(id, "GetInstalledCertificateIds", types.isEmpty ? .object([:]) : .object(["certificateType": .array(types.map { JSONValue.string($0) })]))
    }

    struct DeleteBody: Decodable {
        var hashAlgorithm: String
        var issuerNameHash: String
        var issuerKeyHash: String
        var serialNumber: String
    }

    @Sendable func delete(_ request: Request, context: AdminContext) async throws -> Sent {
        let id = try await station(context)
        let b = try await request.decode(as: DeleteBody.self, context: context)
        try Self.checkHashData(algorithm: b.hashAlgorithm, nameHash: b.issuerNameHash, keyHash: b.issuerKeyHash, serial: b.serialNumber)
        let hash: JSONValue = .object([
            "hashAlgorithm": .string(b.hashAlgorithm), "issuerNameHash": .string(b.issuerNameHash), "issuerKeyHash": .string(b.issuerKeyHash),
            "serialNumber": .string(b.serialNumber),
        ])
        return try await send(id, "DeleteCertificate", .object(["certificateHashData": hash]))
    }

    /// Asks the station to move to a higher profile. 1.6 (Security Whitepaper): ChangeConfiguration(SecurityProfile).
    /// 2.0.1 (A05): SetNetworkProfile with a new configuration slot at the new profile, then that slot first in
    /// OCPPCommCtrlr.NetworkConfigurationPriority (read with GetVariables), then Reset(OnIdle). Its floor rises only
    /// when it connects at the new profile, so a station that cannot and falls back to its old slot is still let in.
    @Sendable func raiseProfile(_ request: Request, context: AdminContext) async throws -> Sent {
        let id = try await station(context)
        struct Body: Decodable {
            var securityProfile: Int
            /// 2.0.1: the CSMS URL of the new slot (wss:// for profiles 2 and 3), its slot number and interface.
            var csmsUrl: String?
            var configurationSlot: Int?
            var ocppInterface: String?
        }
        let body = try await request.decode(as: Body.self, context: context)
        guard (1...3).contains(body.securityProfile) else { throw Problem(.unprocessableContent, "Invalid securityProfile", "securityProfile is 1, 2 or 3") }
        let value = JSONValue.string(String(body.securityProfile))
        if try await version(id) == .v16 {
            return try await send(id, "ChangeConfiguration", .object(["key": .string("SecurityProfile"), "value": value]))
        }
        guard let url = body.csmsUrl, (1...512).contains(url.count), let parsed = URL(string: url), ["ws", "wss"].contains(parsed.scheme?.lowercased() ?? "") else {
            throw Problem(.unprocessableContent, "Invalid csmsUrl", "csmsUrl: the ws:// or wss:// URL (up to /ocpp/) the station's new configuration slot connects to")
        }
        guard body.securityProfile == 1 || parsed.scheme?.lowercased() == "wss" else {
            throw Problem(.unprocessableContent, "Invalid csmsUrl", "csmsUrl: profiles 2 and 3 connect over wss://")
        }
        let slot = body.configurationSlot ?? 2
        guard (0...Int(Int32.max)).contains(slot) else { throw Problem(.unprocessableContent, "Invalid configurationSlot", "configurationSlot is 0 to 2147483647") }
        let interface = body.ocppInterface ?? "Wired0"
        guard OCPP201.OCPPInterfaceEnumType(rawValue: interface) != nil else {
            throw Problem(.unprocessableContent, "Invalid ocppInterface", "ocppInterface is Wired0-3 or Wireless0-3")
        }
        let profile: JSONValue = .object([
            "configurationSlot": .number(JSONNumber(slot)),
            "connectionData": .object([
                "ocppVersion": .string("OCPP20"), "ocppTransport": .string("JSON"), "ocppCsmsUrl": .string(url),
                "messageTimeout": .number(JSONNumber(30)), "securityProfile": .number(JSONNumber(body.securityProfile)), "ocppInterface": .string(interface),
            ]),
        ])
        let set = try await send(id, "SetNetworkProfile", profile)
        guard set.response["status"]?.stringValue == "Accepted" else { return set }
        let priority: JSONValue = .object(["component": .object(["name": .string("OCPPCommCtrlr")]), "variable": .object(["name": .string("NetworkConfigurationPriority")])])
        let read = try await send(id, "GetVariables", .object(["getVariableData": .array([priority])]))
        let current = Self.first(read.response["getVariableResult"])?["attributeValue"]?.stringValue ?? ""
        let order = [String(slot)] + current.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && $0 != String(slot) }
        guard case .object(var write) = priority else { return set }
        write["attributeValue"] = .string(order.joined(separator: ","))
        let ordered = try await send(id, "SetVariables", .object(["setVariableData": .array([.object(write)])]))
        guard Self.first(ordered.response["setVariableResult"])?["attributeStatus"]?.stringValue == "Accepted" else { return ordered }
        return try await send(id, "Reset", .object(["type": .string("OnIdle")]))
    }

    struct RevokeBody: Decodable {
        /// A SHA-256 fingerprint (any certificate) or the serial of one the station CA issued.
        var certificate: String
        var reason: String?
    }

    struct Revoked: Codable, ResponseEncodable {
        var fingerprint: String
        var alreadyRevoked: Bool
    }

    @Sendable func revoke(_ request: Request, context: AdminContext) async throws -> EditedResponse<Revoked> {
        let body = try await request.decode(as: RevokeBody.self, context: context)
        let key = body.certificate.replacingOccurrences(of: ":", with: "")
        guard (1...64).contains(key.count), key.isASCIIHex else {
            throw Problem(.unprocessableContent, "Invalid certificate", "certificate is a SHA-256 fingerprint (64 hex digits) or a serial (hex)")
        }
        if let reason = body.reason, reason.count > 500 { throw Problem(.unprocessableContent, "Invalid reason", "reason is at most 500 characters") }
        context.audit.set(action: "revoke", target: key)
        switch try await security.revoke(fingerprintOrSerial: key, reason: body.reason) {
        case .revoked(let f): return EditedResponse(status: .created, response: Revoked(fingerprint: f, alreadyRevoked: false))
        case .alreadyRevoked(let f): return EditedResponse(status: .ok, response: Revoked(fingerprint: f, alreadyRevoked: true))
        case .unknownSerial: throw Problem(.notFound, "Unknown serial", "no certificate the station CA issued has serial \(key)")
        }
    }

    struct ContractBody: Decodable {
        /// The contract certificate and its issuer (PEM); or the id as OCPP's hash data names it.
        var certificate: String?
        var issuer: String?
        var hashAlgorithm: String?
        var issuerNameHash: String?
        var issuerKeyHash: String?
        var serialNumber: String?
        var status: String
        var reason: String?
    }

    struct ContractEntry: Codable, ResponseEncodable {
        var hashAlgorithm: String
        var issuerNameHash: String
        var issuerKeyHash: String
        var serialNumber: String
        var eMAID: String?
        var status: String
    }

    @Sendable func putContract(_ request: Request, context: AdminContext) async throws -> ContractEntry {
        let b = try await request.decode(as: ContractBody.self, context: context)
        guard let status = CertificateStatus(rawValue: b.status) else { throw Problem(.unprocessableContent, "Invalid status", "status is good, revoked or unknown (remove)") }
        let id: CertificateID
        var eMAID: String?
        if let certificate = b.certificate {
            guard let issuer = b.issuer else { throw Problem(.unprocessableContent, "Missing issuer", "issuer: the contract certificate's issuer (PEM) is needed for its id") }
            do {
                guard let leaf = try certificates(pemBundle: certificate).first, let issuing = try certificates(pemBundle: issuer).first else {
                    throw PKIError("no certificate")
                }
                guard leaf.issuer == issuing.subject else { throw Problem(.unprocessableContent, "Invalid issuer", "issuer did not issue certificate") }
                id = CertificateID(certificate: leaf, issuer: issuing)
                eMAID = leaf.commonName
            } catch let error as PKIError {
                throw Problem(.unprocessableContent, "Invalid certificate", "certificate/issuer: \(error.message)")
            }
        } else {
            guard let a = b.hashAlgorithm, let n = b.issuerNameHash, let k = b.issuerKeyHash, let s = b.serialNumber else {
                throw Problem(.unprocessableContent, "Missing certificate", "give certificate and issuer, or hashAlgorithm, issuerNameHash, issuerKeyHash and serialNumber")
            }
            try Self.checkHashData(algorithm: a, nameHash: n, keyHash: k, serial: s)
            id = CertificateID(hashAlgorithm: a, issuerNameHash: n, issuerKeyHash: k, serialNumber: s)
        }
        try await security.setContractStatus(id, status: status, eMAID: eMAID, reason: b.reason)
        return ContractEntry(hashAlgorithm: id.hashAlgorithm, issuerNameHash: id.issuerNameHash, issuerKeyHash: id.issuerKeyHash, serialNumber: id.serialNumber, eMAID: eMAID, status: status.rawValue)
    }

    struct FirmwareBody: Decodable {
        var location: String
        var retrieveDateTime: Date?
        var installDateTime: Date?
        var signingCertificate: String?
        var signature: String?
        var retries: Int?
        var retryInterval: Int?
    }

    /// A firmware update in the station's version: a signed one (1.6 SignedUpdateFirmware, 2.0.1 UpdateFirmware with
    /// its signature) only once its image verifies; an unsigned one as 1.6 UpdateFirmware or 2.0.1 UpdateFirmware.
    @Sendable func updateFirmware(_ request: Request, context: AdminContext) async throws -> Sent {
        let id = try await station(context)
        let b = try await request.decode(as: FirmwareBody.self, context: context)
        guard (1...512).contains(b.location.count) else { throw Problem(.unprocessableContent, "Invalid location", "location is 1 to 512 characters") }
        for (field, value) in [("retries", b.retries), ("retryInterval", b.retryInterval)] {
            if let value, !(0...Int(Int32.max)).contains(value) { throw Problem(.unprocessableContent, "Invalid \(field)", "\(field) is 0 to 2147483647") }
        }
        guard (b.signature == nil) == (b.signingCertificate == nil) else {
            throw Problem(.unprocessableContent, "Invalid firmware", "signature and signingCertificate go together")
        }
        let retrieve = OCPPDateTime.format(b.retrieveDateTime ?? Date())
        var fw: [String: JSONValue] = ["location": .string(b.location), "retrieveDateTime": .string(retrieve)]
        if let at = b.installDateTime { fw["installDateTime"] = .string(OCPPDateTime.format(at)) }
        if let signature = b.signature, let certificate = b.signingCertificate {
            fw["signature"] = .string(signature)
            fw["signingCertificate"] = .string(certificate)
            guard let firmware else { throw Problem(.unprocessableContent, "No firmware root", "no firmware root is configured (--firmware-root)") }
            try await firmware.check(.object(fw))
        }
        var payload: [String: JSONValue] = [:]
        if let r = b.retries { payload["retries"] = .number(JSONNumber(r)) }
        if let r = b.retryInterval { payload["retryInterval"] = .number(JSONNumber(r)) }
        let requestId = JSONValue.number(JSONNumber(Int(Int32.random(in: 1...Int32.max))))
        if try await version(id) == .v16 {
            if b.signature != nil {
                payload["requestId"] = requestId
                payload["firmware"] = .object(fw)
                return try await send(id, "SignedUpdateFirmware", .object(payload))
            }
            payload["location"] = .string(b.location)
            payload["retrieveDate"] = .string(retrieve)
            return try await send(id, "UpdateFirmware", .object(payload))
        }
        payload["requestId"] = requestId
        payload["firmware"] = .object(fw)
        return try await send(id, "UpdateFirmware", .object(payload))
    }

    // MARK: Helpers

    /// OCPP's CertificateHashData, as the contract list's columns take it: 422 names the field at fault.
    static func checkHashData(algorithm: String, nameHash: String, keyHash: String, serial: String) throws(Problem) {
        guard ["SHA256", "SHA384", "SHA512"].contains(algorithm) else {
            throw Problem(.unprocessableContent, "Invalid hashAlgorithm", "hashAlgorithm is SHA256, SHA384 or SHA512")
        }
        for (field, value, max) in [("issuerNameHash", nameHash, 128), ("issuerKeyHash", keyHash, 128), ("serialNumber", serial, 40)] {
            guard (1...max).contains(value.count), value.isASCIIHex else {
                throw Problem(.unprocessableContent, "Invalid \(field)", "\(field) is 1 to \(max) hex digits")
            }
        }
    }

    private static func first(_ value: JSONValue?) -> JSONValue? {
        if case .array(let items)? = value { return items.first }
        return nil
    }

    private func station(_ context: AdminContext) async throws -> String {
        let id = try context.parameters.require("id")
        guard StationIdentity.isValid(id), let detail = try await repository.station(id: id), detail.station.decommissionedAt == nil else { throw Problem.noSuchStation(id) }
        return id
    }

    /// The version the station speaks now, or spoke last.
    private func version(_ id: String) async throws -> OCPPVersion? {
        if let live = commands.registry.session(id)?.version { return live }
        return try await repository.station(id: id)?.station.ocppVersion
    }

    private func optionalBody<T: Decodable>(_ request: Request, _ context: AdminContext, _ type: T.Type) async throws -> T? {
        let buffer = try await request.body.collect(upTo: 1 << 16)
        guard buffer.readableBytes > 0 else { return nil }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw Problem(.badRequest, "Invalid JSON", "the body does not decode: \(error)")
        }
    }

    private func send(_ id: String, _ action: String, _ payload: JSONValue) async throws -> Sent {
        let answer = try await commands.send(stationId: id, action: action, payload: payload)
        switch answer.answer {
        case .result(let result):
            return Sent(stationId: id, action: action, ocppVersion: answer.version.rawValue, request: payload, response: result)
        case .error(let code, let description, _):
            throw Problem(.badGateway, "Station answered with an error", "\(code): \(description)")
        }
    }

}
