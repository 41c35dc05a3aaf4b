public import Foundation
public import X509
import Crypto
import SwiftASN1

/// Checks a presented chain (leaf first) against a set of roots at a time: validity of every certificate, a path
/// to a root with valid signatures (RFC 5280), and no certificate of the path on a revocation list.
public struct ChainCheck: Sendable {
    public enum Verdict: Sendable, Equatable {
        /// The chain is good; the validated path, leaf first, ending at the root.
        case trusted([Certificate])
        case expired
        case notYetValid
        /// No path to a configured root (or a signature that does not verify).
        case untrusted(String)
        /// The certificate with this fingerprint is on the list.
        case revoked(String)
    }

    public let roots: [Certificate]
    /// Sub-CAs known here, used to build a path a peer presented without them (never trusted on their own).
    public let intermediates: [Certificate]

    public init(roots: [Certificate], intermediates: [Certificate] = []) {
        self.roots = roots
        self.intermediates = intermediates
    }

    /// `revoked` answers for a fingerprint (SHA-256 of the DER, hex) whether Voltaic revoked it.
    public func verify(chain: [Certificate], at now: Date, revoked: (String) -> Bool) async -> Verdict {
        guard let leaf = chain.first else { return .untrusted("no certificate was presented") }
        if leaf.notValidAfter < now { return .expired }
        if leaf.notValidBefore > now { return .notYetValid }
        guard !roots.isEmpty else { return .untrusted("no trusted root is configured") }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy(validationTime: now) }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(chain.dropFirst()) + intermediates))
        switch result {
        case .validCertificate(let path):
            let certificates = Array(path)
            if let bad = certificates.first(where: { revoked($0.fingerprint) }) { return .revoked(bad.fingerprint) }
            return .trusted(certificates)
        case .couldNotValidate(let failures):
            if chain.dropFirst().contains(where: { $0.notValidAfter < now }) { return .expired }
            let reason = failures.first.map { "\($0.policyFailureReason)" } ?? "no path to a trusted root"
            return .untrusted(String(reason.prefix(200)))
        }
    }
}

/// An X.509 certificate named as OCSP names it (RFC 6960 CertID), which is also how OCPP's CertificateHashData and
/// OCSPRequestData carry it: the hashes of the issuer's name and key, and the serial number, in hex.
public struct CertificateID: Hashable, Sendable, CustomStringConvertible {
    public var hashAlgorithm: String
    public var issuerNameHash: String
    public var issuerKeyHash: String
    public var serialNumber: String

    /// Hex values are compared without case and, for the serial, without leading zeros.
    public init(hashAlgorithm: String, issuerNameHash: String, issuerKeyHash: String, serialNumber: String) {
        self.hashAlgorithm = hashAlgorithm.uppercased()
        self.issuerNameHash = issuerNameHash.lowercased()
        self.issuerKeyHash = issuerKeyHash.lowercased()
        let serial = serialNumber.lowercased().drop { $0 == "0" }
        self.serialNumber = serial.isEmpty ? "0" : String(serial)
    }

    /// The id of `certificate`, issued by `issuer`, with SHA-256.
    public init(certificate: Certificate, issuer: Certificate) {
        var serializer = DER.Serializer()
        try! serializer.serialize(certificate.issuer)  // A parsed name always serializes.
        self.init(
            hashAlgorithm: "SHA256", issuerNameHash: sha256Hex(serializer.serializedBytes),
            issuerKeyHash: sha256Hex(issuer.publicKey.subjectPublicKeyInfoBytes), serialNumber: certificate.serialHex
        )
    }

    public var description: String { "\(hashAlgorithm):\(issuerNameHash.prefix(12))…/\(issuerKeyHash.prefix(12))…/\(serialNumber)" }
}

/// What a status source knows of a certificate.
public enum CertificateStatus: String, Sendable {
    case good
    case revoked
    /// The source does not know the certificate, or could not be asked.
    case unknown
}

/// Where revocation status comes from: Voltaic's own list (`StatusList` over the database), or an OCSP responder.
public protocol CertificateStatusSource: Sendable {
    /// The status of a certificate; `responder` is the OCSP URL where one is known.
    func status(of id: CertificateID, responder: String?) async -> CertificateStatus
    /// The eMAID a source knows the contract by, where it keeps one (the local list does).
    func eMAID(of id: CertificateID) async -> String?
}

extension CertificateStatusSource {
    public func eMAID(of id: CertificateID) async -> String? { nil }
}

/// Every source is asked: `revoked` from any of them wins (the local list's "good" does not hide an OCSP revocation),
/// then `good` from any, else `unknown`.
public struct CombinedStatusSource: CertificateStatusSource {
    public let sources: [any CertificateStatusSource]
    public init(_ sources: [any CertificateStatusSource]) { self.sources = sources }

    public func status(of id: CertificateID, responder: String?) async -> CertificateStatus {
        var good = false
        for source in sources {
            switch await source.status(of: id, responder: responder) {
            case .revoked: return .revoked
            case .good: good = true
            case .unknown: break
            }
        }
        return good ? .good : .unknown
    }

    public func eMAID(of id: CertificateID) async -> String? {
        for source in sources {
            if let eMAID = await source.eMAID(of: id) { return eMAID }
        }
        return nil
    }
}

func sha256Hex(_ bytes: some DataProtocol) -> String {
    SHA256.hash(data: Array(bytes)).map { String(format: "%02x", $0) }.joined()
}
