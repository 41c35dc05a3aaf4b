import AsyncHTTPClient
import CSMS
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OCPP
import PKI
import ServiceLifecycle
import Storage
import X509

/// Where station CSRs become certificates: Voltaic's own CA, or an external one (a PKI service, Hubject's) behind
/// this seam.
protocol StationCertificateIssuer: Sendable {
    /// Whether it issues certificates for this use.
    func signs(_ use: CertificateUse) -> Bool
    /// The certificate chain (PEM, leaf first) for a checked request.
    func issue(_ request: CheckedSigningRequest) async throws -> String
}

/// The station CA of this installation.
struct LocalIssuer: StationCertificateIssuer {
    let ca: StationCA
    let days: Int

    /// A car trusts a V2G certificate that chains to the V2G root (through a CPO sub-CA), not to this CA; and one
    /// from this CA would also pass as a profile-3 client certificate. So: charging station certificates only.
    func signs(_ use: CertificateUse) -> Bool { use == .chargingStation }

    func issue(_ request: CheckedSigningRequest) async throws -> String {
        try ca.issue(request, days: days).pem
    }
}

/// The certificate checks of the domain (`CertificatePort`), on the PKI target: CSRs against the station, contracts
/// against the contract roots and the status sources (the local list, then OCSP where enabled).
struct StationCertificates: CertificatePort {
    let issuer: (any StationCertificateIssuer)?
    let organization: String?
    let contracts: ContractVerifier
    let ocsp: OCSPClient?
    /// Where the car's contract certificates come from (Get15118EVCertificate); nil: none.
    var pool: ContractPool?

    var canSign: Bool { issuer != nil }

    func refusal(csr: String, stationId: String, use: String) -> String? {
        if let issuer, !issuer.signs(CertificateUse(rawValue: use) ?? .chargingStation) {
            return "no issuer for \(use) is configured (the station CA signs ChargingStationCertificate only)"
        }
        do {
            _ = try CheckedSigningRequest(pem: csr, stationId: stationId, organization: organization, use: CertificateUse(rawValue: use) ?? .chargingStation)
            return nil
        } catch {
            return error.message
        }
    }

    func verifyContract(certificate: String?, hashes: [ContractCertificateHash], now: Date) async -> ContractCheck {
        let verdict: ContractVerifier.Verdict
        if let certificate {
            verdict = await contracts.verify(pemChain: certificate, at: now)
        } else {
            verdict = await contracts.verify(hashes: hashes.map { (Self.id($0), $0.responderURL) })
        }
        return ContractCheck(status: verdict.outcome.rawValue, eMAID: verdict.eMAID, reason: verdict.reason)
    }

    func ocspResponse(for hash: ContractCertificateHash) async -> Result<[UInt8], CertificateLookupFailure> {
        guard let ocsp else { return .failure(CertificateLookupFailure(reasonCode: "NoOCSP", detail: "OCSP is not enabled (--ocsp)")) }
        guard let responder = hash.responderURL, !responder.isEmpty else {
            return .failure(CertificateLookupFailure(reasonCode: "NoResponderURL", detail: "the request names no OCSP responder"))
        }
        do {
            let der = try await ocsp.fetch(Self.id(hash), responder: responder).der
            // ocspResult is at most 5500 characters of Base64.
            guard der.count <= 4125 else { return .failure(CertificateLookupFailure(reasonCode: "ResponseTooLarge", detail: "the OCSP response is \(der.count) bytes")) }
            return .success(der)
        } catch let error as PKIError {
            return .failure(CertificateLookupFailure(reasonCode: "OCSPFailed", detail: error.message))
        } catch {
            // Not the transport's own words: the station chose the URL, and what our network says of it stays here.
            return .failure(CertificateLookupFailure(reasonCode: "OCSPFailed", detail: "the responder did not answer in time"))
        }
    }

    func evCertificate(schemaVersion: String, action: String, exiRequest: String) async -> Result<String, CertificateLookupFailure> {
        guard let pool else {
            return .failure(CertificateLookupFailure(reasonCode: "NoContractPool", detail: "no contract certificate pool is configured (--contract-pool-url)"))
        }
        return await pool.certificate(schemaVersion: schemaVersion, action: action, exiRequest: exiRequest)
    }

    static func id(_ h: ContractCertificateHash) -> CertificateID {
        CertificateID(hashAlgorithm: h.hashAlgorithm, issuerNameHash: h.issuerNameHash, issuerKeyHash: h.issuerKeyHash, serialNumber: h.serialNumber)
    }
}

/// Signs queued CSRs and sends CertificateSigned (with retries while the station is away), and asks stations whose
/// certificate nears its end for a new CSR (TriggerMessage / ExtendedTriggerMessage).
struct CertificateService: Service {
    let repository: SecurityRepository
    let issuer: (any StationCertificateIssuer)?
    let organization: String?
    let dispatcher: CommandDispatcher
    let settings: CertificateSettings
    let logger: Logger
    let ready: StartupGate
    /// How often the queue is looked at when it was empty.
    var idle: Duration = .seconds(1)
    var maxAttempts = 12
    var signers = 4

    func run() async throws {
        await ready.wait()
        try? await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                // A few loops: a station that is slow to answer CertificateSigned holds one, not the queue.
                for _ in 0..<signers { group.addTask { await signLoop() } }
                group.addTask { await renewLoop() }
                await group.waitForAll()
            }
        }
    }

    func signLoop() async {
        while !Task.isCancelled {
            do {
                // The lease covers an external issuer's time too: one that outlasted it would see the request signed twice.
                if let request = try await repository.claimSigningRequest(lease: max(dispatcher.callTimeout + .seconds(30), .seconds(300))) {
                    await handle(request)
                    continue
                }
            } catch {
                logger.warning("could not read the signing queue", metadata: ["error.type": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: idle)
        }
    }

    func handle(_ request: SecurityRepository.SigningRequest) async {
        var log = logger
        log[metadataKey: "ocpp.station.id"] = "\(request.stationId)"
        log[metadataKey: "certificate.request"] = "\(request.id)"
        do {
            var chain = request.certificate
            if chain == nil {
                let checked: CheckedSigningRequest
                do {
                    checked = try CheckedSigningRequest(pem: request.csr, stationId: request.stationId, organization: organization, use: request.use)
                } catch {
                    try await repository.finish(requestId: request.id, .rejected, error: error.message)
                    return
                }
                guard let issuer else {
                    try await repository.finish(requestId: request.id, .failed, error: "no certificate authority is configured")
                    return
                }
                let made = try await issuer.issue(checked)
                guard let leaf = try certificates(pemBundle: made).first else { throw PKIError("the issuer returned no certificate") }
                try await repository.recordIssued(
                    requestId: request.id, stationId: request.stationId, use: request.use, chainPEM: made,
                    leaf: .init(fingerprint: leaf.fingerprint, serial: leaf.serialHex, subject: "\(leaf.subject)", notBefore: leaf.notValidBefore, notAfter: leaf.notValidAfter, pem: leaf.pem)
                )
                log.notice("station certificate issued", metadata: ["certificate.serial": "\(leaf.serialHex)", "certificate.not_after": "\(leaf.notValidAfter)"])
                chain = made
            }
            guard let chain else { return }
            var payload: [String: JSONValue] = ["certificateChain": .string(chain)]
            let version = dispatcher.registry.session(request.stationId)?.version.rawValue ?? request.ocppVersion
            if version != OCPPVersion.v16.rawValue { payload["certificateType"] = .string(request.use.rawValue) }
            let answer = try await dispatcher.send(stationId: request.stationId, action: "CertificateSigned", payload: .object(payload))
            switch answer.answer {
            case .result(let result) where result["status"]?.stringValue == "Accepted":
                try await repository.finish(requestId: request.id, .accepted, error: nil)
            case .result(let result):
                try await repository.finish(requestId: request.id, .rejected, error: "the station answered \(result["status"]?.stringValue ?? "?")")
            case .error(let code, let description, _):
                try await repository.finish(requestId: request.id, .rejected, error: "CALLERROR \(code): \(description)")
            }
        } catch let problem as Problem {
            // Offline or not answering: sent again later, the same certificate.
            await retry(request, "\(problem.title): \(problem.detail ?? "")", log)
        } catch {
            await retry(request, "\(error)", log)
        }
    }

    private func retry(_ request: SecurityRepository.SigningRequest, _ why: String, _ log: Logger) async {
        if request.attempts >= maxAttempts {
            try? await repository.finish(requestId: request.id, .failed, error: "gave up after \(request.attempts) attempts: \(why)")
            log.warning("certificate request failed", metadata: ["reason": "\(why)"])
            return
        }
        let delay = Duration.seconds(min(3600, 5 << min(request.attempts, 10)))
        try? await repository.retry(requestId: request.id, in: delay, error: why)
    }

    func renewLoop() async {
        while !Task.isCancelled {
            do {
                for renewal in try await repository.claimRenewals(within: settings.renewBefore, again: .seconds(86400)) {
                    await renew(renewal)
                }
            } catch {
                logger.warning("could not read the certificates due for renewal", metadata: ["error.type": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: settings.renewalInterval)
        }
    }

    /// Asks a station for a new CSR; if it cannot be told now, it is asked again at the next round.
    func renew(_ renewal: SecurityRepository.Renewal) async {
        do {
            let answer = try await trigger(stationId: renewal.stationId, use: renewal.use, lastVersion: renewal.ocppVersion.flatMap(OCPPVersion.init(rawValue:)))
            logger.notice("renewal asked", metadata: ["ocpp.station.id": "\(renewal.stationId)", "certificate.not_after": "\(renewal.notAfter)", "answer": "\(answer)"])
        } catch {
            try? await repository.unmarkRenewal(fingerprint: renewal.fingerprint)
        }
    }

    /// TriggerMessage(SignChargingStationCertificate | SignV2GCertificate) in 2.0.1, ExtendedTriggerMessage
    /// (SignChargePointCertificate) in 1.6; returns the station's status.
    func trigger(stationId: String, use: CertificateUse, lastVersion: OCPPVersion?) async throws(Problem) -> String {
        let version = dispatcher.registry.session(stationId)?.version ?? lastVersion
        let (action, message): (String, String) =
            version == .v16
            ? ("ExtendedTriggerMessage", "SignChargePointCertificate")
            : ("TriggerMessage", use == .v2g ? "SignV2GCertificate" : "SignChargingStationCertificate")
        let answer = try await dispatcher.send(stationId: stationId, action: action, payload: .object(["requestedMessage": .string(message)]))
        switch answer.answer {
        case .result(let result): return result["status"]?.stringValue ?? "?"
        case .error(let code, _, _): return "CALLERROR \(code)"
        }
    }
}

/// A contract certificate pool reached over HTTP (the seam a Hubject or another PKI integration fills): Voltaic posts
/// `{"iso15118SchemaVersion", "action", "exiRequest"}` as JSON and relays the `exiResponse` the pool answers, within a
/// deadline. The EXI stays opaque here: the pool and the car speak it.
struct ContractPool: Sendable {
    let url: String
    let http: HTTPClient
    let timeout: Duration

    func certificate(schemaVersion: String, action: String, exiRequest: String) async -> Result<String, CertificateLookupFailure> {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let body: [String: String] = ["iso15118SchemaVersion": schemaVersion, "action": action, "exiRequest": exiRequest]
        guard let data = try? JSONEncoder().encode(body) else { return .failure(CertificateLookupFailure(reasonCode: "InternalError", detail: "the request does not encode")) }
        request.body = .bytes(ByteBuffer(bytes: data))
        do {
            let deadline = TimeAmount(timeout)
            let (code, bytes) = try await Deadline.run(within: timeout) { [http, request] in
                let response = try await http.execute(request, timeout: deadline)
                return (response.status.code, try await response.body.collect(upTo: 1 << 20))
            }
            guard code == 200 else {
                return .failure(CertificateLookupFailure(reasonCode: "PoolRefused", detail: "the pool answered HTTP \(code)"))
            }
            struct Answer: Decodable { var exiResponse: String }
            guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(bytes.readableBytesView)), !answer.exiResponse.isEmpty,
                answer.exiResponse.utf8.count <= 7500, Data(base64Encoded: answer.exiResponse) != nil
            else {
                return .failure(CertificateLookupFailure(reasonCode: "PoolInvalid", detail: "the pool's answer has no Base64 exiResponse of at most 7500 characters"))
            }
            return .success(answer.exiResponse)
        } catch {
            return .failure(CertificateLookupFailure(reasonCode: "PoolUnreachable", detail: "the contract certificate pool did not answer in time"))
        }
    }
}
