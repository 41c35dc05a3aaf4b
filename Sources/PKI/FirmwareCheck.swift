public import Foundation
public import X509

/// A signed firmware image (1.6 SignedUpdateFirmware, 2.0.1 UpdateFirmware): the signing certificate must chain to a
/// configured manufacturer root and be valid now, and the signature (Base64, as OCPP carries it) must verify over the
/// image with its key: ECDSA (DER signature) with SHA-256/384/512 by curve, or RSA PKCS#1 v1.5 with SHA-256.
public enum FirmwareCheck {
    public static func verify(image: [UInt8], signature: String, signingCertificate: String, roots: [Certificate], at now: Date) async throws(PKIError) {
        guard let signatureBytes = Data(base64Encoded: signature.trimmingCharacters(in: .whitespacesAndNewlines)), !signatureBytes.isEmpty else {
            throw PKIError("signature: not Base64")
        }
        let chain: [Certificate]
        do {
            chain = try certificates(pemBundle: signingCertificate)
        } catch {
            throw PKIError("signingCertificate: \(error.message)")
        }
        switch await ChainCheck(roots: roots).verify(chain: chain, at: now, revoked: { _ in false }) {
        case .trusted: break
        case .expired: throw PKIError("signingCertificate: expired")
        case .notYetValid: throw PKIError("signingCertificate: not yet valid")
        case .revoked: throw PKIError("signingCertificate: revoked")
        case .untrusted(let why): throw PKIError("signingCertificate: not issued under a firmware root (\(why))")
        }
        let key = chain[0].publicKey
        let algorithm: Certificate.SignatureAlgorithm
        switch key.kind {
        case .p256: algorithm = .ecdsaWithSHA256
        case .p384: algorithm = .ecdsaWithSHA384
        case .p521: algorithm = .ecdsaWithSHA512
        case .rsa: algorithm = .sha256WithRSAEncryption
        case .ed25519: algorithm = .ed25519
        case .other: throw PKIError("signingCertificate: its key type is not supported")
        }
        guard key.isValidSignature(Array(signatureBytes), for: image, signatureAlgorithm: algorithm) else {
            throw PKIError("signature: does not verify over the image with the signing certificate's key")
        }
    }
}
