public import Foundation

/// The certificate checks the station-facing services need, behind one seam: the server implements it with the PKI
/// target (the station CA, the contract roots, the status list and OCSP); the domain never sees X.509.
public protocol CertificatePort: Sendable {
    /// Why a station's CSR cannot be signed for it (not PEM, a bad signature, another station's CN, another
    /// organisation, a weak key), or nil when it can. `use` is OCPP's CertificateSigningUseEnumType.
    func refusal(csr: String, stationId: String, use: String) -> String?
    /// Whether a CSR can be signed at all (a station CA or an external CA is configured).
    var canSign: Bool { get }
    /// A contract certificate chain (PEM) or its hashes, checked against the contract roots and the status sources.
    func verifyContract(certificate: String?, hashes: [ContractCertificateHash], now: Date) async -> ContractCheck
    /// The DER OCSP response for a certificate, fetched from its responder for a station (GetCertificateStatus).
    func ocspResponse(for hash: ContractCertificateHash) async -> Result<[UInt8], CertificateLookupFailure>
    /// The car's certificate installation or update (Get15118EVCertificate): the EXI response, Base64.
    func evCertificate(schemaVersion: String, action: String, exiRequest: String) async -> Result<String, CertificateLookupFailure>
}

/// A certificate named by OCSP's CertID, as OCPP carries it (hex strings), with its responder where known.
public struct ContractCertificateHash: Sendable, Hashable {
    public var hashAlgorithm: String
    public var issuerNameHash: String
    public var issuerKeyHash: String
    public var serialNumber: String
    public var responderURL: String?

    public init(hashAlgorithm: String, issuerNameHash: String, issuerKeyHash: String, serialNumber: String, responderURL: String?) {
        self.hashAlgorithm = hashAlgorithm
        self.issuerNameHash = issuerNameHash
        self.issuerKeyHash = issuerKeyHash
        self.serialNumber = serialNumber
        self.responderURL = responderURL
    }
}

/// The outcome of a contract check: OCPP's AuthorizeCertificateStatusEnumType, and the eMAID the certificate names.
public struct ContractCheck: Sendable, Equatable {
    /// "Accepted", "SignatureError", "CertificateExpired", "CertificateRevoked", "NoCertificateAvailable",
    /// "CertChainError" or "ContractCancelled".
    public var status: String
    public var eMAID: String?
    public var reason: String

    public init(status: String, eMAID: String?, reason: String) {
        self.status = status
        self.eMAID = eMAID
        self.reason = reason
    }

    public var accepted: Bool { status == "Accepted" }
}

/// Why a certificate service could not answer.
public struct CertificateLookupFailure: Error, Sendable, Equatable {
    public var reasonCode: String
    public var detail: String

    public init(reasonCode: String, detail: String) {
        self.reasonCode = reasonCode
        self.detail = detail
    }
}

/// A station's CSR as the domain queues it for signing.
public struct SigningRequestRecord: Sendable, Equatable {
    public var stationId: String
    public var csr: String
    public var use: String
    public var receivedAt: Date

    public init(stationId: String, csr: String, use: String, receivedAt: Date) {
        self.stationId = stationId
        self.csr = csr
        self.use = use
        self.receivedAt = receivedAt
    }
}
