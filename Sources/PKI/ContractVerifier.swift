public import Foundation
public import X509

/// ISO 15118 Plug & Charge: the contract certificate a car presents (through the station's Authorize), checked
/// against the mobility-operator and V2G roots and a revocation source. The outcome is OCPP 2.0.1's
/// AuthorizeCertificateStatusEnumType, and the contract's eMAID (the certificate's CN) is the driver's identity.
public struct ContractVerifier: Sendable {
    public enum Outcome: String, Sendable, CaseIterable {
        case accepted = "Accepted"
        case signatureError = "SignatureError"
        case expired = "CertificateExpired"
        case revoked = "CertificateRevoked"
        case noCertificateAvailable = "NoCertificateAvailable"
        case chainError = "CertChainError"
        case contractCancelled = "ContractCancelled"
    }

    public struct Verdict: Sendable, Equatable {
        public var outcome: Outcome
        /// The eMAID the contract certificate names, when there was one to read.
        public var eMAID: String?
        /// Why, for the log.
        public var reason: String
    }

    /// The V2G root and the mobility operators' roots (self-signed), and their sub-CAs (paths only, not anchors).
    public let roots: [Certificate]
    public let intermediates: [Certificate]
    public let status: any CertificateStatusSource

    /// `certificates` are the configured contract PKI: the self-signed ones are the roots, the others sub-CAs.
    public init(certificates: [Certificate], status: any CertificateStatusSource) {
        self.roots = certificates.filter { $0.subject == $0.issuer }
        self.intermediates = certificates.filter { $0.subject != $0.issuer }
        self.status = status
    }

    /// A full contract certificate chain (PEM, leaf first, sub-CAs after).
    public func verify(pemChain: String, at now: Date) async -> Verdict {
        let chain: [Certificate]
        do {
            chain = try certificates(pemBundle: pemChain)
        } catch {
            return Verdict(outcome: .noCertificateAvailable, eMAID: nil, reason: error.message)
        }
        let leaf = chain[0]
        let eMAID = leaf.commonName
        switch await ChainCheck(roots: roots, intermediates: intermediates).verify(chain: chain, at: now, revoked: { _ in false }) {
        case .expired, .notYetValid:
            return Verdict(outcome: .expired, eMAID: eMAID, reason: "the contract certificate or one of its CAs is not valid now")
        case .untrusted(let why):
            // A path that exists but does not verify is a signature error; no path at all is a chain error.
            let signed = (roots + intermediates + chain.dropFirst()).contains { $0.subject == leaf.issuer }
            return Verdict(outcome: signed && why.localizedCaseInsensitiveContains("signature") ? .signatureError : .chainError, eMAID: eMAID, reason: why)
        case .revoked(let fingerprint):
            return Verdict(outcome: .revoked, eMAID: eMAID, reason: "\(fingerprint) is revoked")
        case .trusted(let path):
            guard let eMAID, !eMAID.isEmpty else { return Verdict(outcome: .chainError, eMAID: nil, reason: "the contract certificate names no eMAID (CN)") }
            // Each certificate of the path but the root, by the status source, with its issuer.
            for (certificate, issuer) in zip(path, path.dropFirst()) {
                let id = CertificateID(certificate: certificate, issuer: issuer)
                if await status.status(of: id, responder: certificate.ocspResponder) == .revoked {
                    return Verdict(outcome: certificate == leaf ? .revoked : .chainError, eMAID: eMAID, reason: "\(id) is revoked")
                }
            }
            return Verdict(outcome: .accepted, eMAID: eMAID, reason: "valid")
        }
    }

    /// Only the hashes of the chain (`iso15118CertificateHashData`): the station verified the chain itself, and the
    /// CSMS answers for its revocation status. A contract whose status nobody knows is not accepted.
    public func verify(hashes: [(id: CertificateID, responder: String?)]) async -> Verdict {
        guard let leaf = hashes.first else { return Verdict(outcome: .noCertificateAvailable, eMAID: nil, reason: "no certificate hash data") }
        var leafStatus = CertificateStatus.unknown
        for (i, entry) in hashes.enumerated() {
            let status = await status.status(of: entry.id, responder: entry.responder)
            if status == .revoked { return Verdict(outcome: i == 0 ? .revoked : .chainError, eMAID: nil, reason: "\(entry.id) is revoked") }
            if i == 0 { leafStatus = status }
        }
        guard leafStatus == .good else { return Verdict(outcome: .noCertificateAvailable, eMAID: nil, reason: "the status of \(leaf.id) is not known") }
        // Where the list knows the contract's eMAID, that is the identity (an idToken naming another is not this car).
        return Verdict(outcome: .accepted, eMAID: await status.eMAID(of: leaf.id), reason: "good")
    }
}

extension Certificate {
    /// The OCSP responder of the Authority Information Access extension, if any.
    public var ocspResponder: String? {
        guard let access = try? extensions.authorityInformationAccess else { return nil }
        for description in access where description.method == .ocspServer {
            if case .uniformResourceIdentifier(let uri) = description.location { return uri }
        }
        return nil
    }
}
