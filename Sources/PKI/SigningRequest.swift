public import Foundation
public import X509
import Crypto
import SwiftASN1
import _CryptoExtras

/// What a station's certificate is for, as SignCertificate says (`certificateType`).
public enum CertificateUse: String, Sendable, CaseIterable {
    /// The station's client certificate towards the CSMS (security profile 3).
    case chargingStation = "ChargingStationCertificate"
    /// The station's ISO 15118 (TLS towards the car) certificate.
    case v2g = "V2GCertificate"
}

/// A CSR that was read and checked: well-formed PEM, a valid self-signature, an acceptable key, and a subject that
/// names the station that sent it (CN = station id, and O = the operator's organisation where one is configured).
public struct CheckedSigningRequest: Sendable {
    public let request: CertificateSigningRequest
    public let use: CertificateUse

    /// Checks a PEM CSR; the error says what is wrong, for the log and the station's refusal.
    public init(pem: String, stationId: String, organization: String?, use: CertificateUse) throws(PKIError) {
        guard pem.utf8.count <= 16_384 else { throw PKIError("the CSR is longer than 16 KiB") }
        let document: PEMDocument
        do {
            document = try PEMDocument(pemString: pem.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw PKIError("the CSR is not PEM")
        }
        guard ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"].contains(document.discriminator) else {
            throw PKIError("the PEM block is a \(document.discriminator), not a CERTIFICATE REQUEST")
        }
        let request: CertificateSigningRequest
        do {
            request = try CertificateSigningRequest(derEncoded: document.derBytes)
        } catch {
            throw PKIError("the CSR does not decode as PKCS#10")
        }
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw PKIError("the CSR's signature does not verify with its own key")
        }
        switch request.publicKey.kind {
        case .p256, .p384, .p521: break
        case .rsa:
            guard let rsa = _RSA.Signing.PublicKey(request.publicKey), rsa.keySizeInBits >= 2048 else { throw PKIError("an RSA key must have 2048 bits or more") }
        case .ed25519, .other:
            throw PKIError("the key must be ECDSA (P-256, P-384, P-521) or RSA")
        }
        let cn = request.subject.firstValue(of: .RDNAttributeType.commonName)
        guard cn == stationId else {
            throw PKIError("the CSR's subject CN is '\(String((cn ?? "").prefix(64)))', not the station id '\(stationId)'")
        }
        if let organization {
            let o = request.subject.firstValue(of: .RDNAttributeType.organizationName)
            guard o == organization else {
                throw PKIError("the CSR's subject O is '\(String((o ?? "").prefix(64)))', not the operator's organisation '\(organization)'")
            }
        }
        self.request = request
        self.use = use
    }
}
