public import Foundation
public import X509
public import Crypto
import SwiftASN1
import _CryptoExtras

/// Voltaic's certificate authority for charging stations: it signs the CSRs that stations send (SignCertificate),
/// and its certificate is the root that security profile 3 trusts by default. Its key lives in a file that only
/// its owner may read, and is never logged.
public struct StationCA: Sendable {
    public let certificate: Certificate
    let key: Certificate.PrivateKey

    public init(certificate: Certificate, key: Certificate.PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    /// Loads the CA from its certificate and key files. The key file must not be readable by group or others.
    public static func load(certificateFile: String, keyFile: String) throws(PKIError) -> StationCA {
        guard let certificate = try certificates(pemFile: certificateFile).first else { throw PKIError("\(certificateFile) holds no certificate") }
        let key = try privateKey(file: keyFile)
        guard key.publicKey == certificate.publicKey else { throw PKIError("\(keyFile) is not the key of \(certificateFile)") }
        guard let constraints = try? certificate.extensions.basicConstraints, case .isCertificateAuthority = constraints else {
            throw PKIError("\(certificateFile) is not a CA certificate (its basicConstraints do not say CA)")
        }
        return StationCA(certificate: certificate, key: key)
    }

    /// Reads a PEM private key (PKCS#8, SEC1 or PKCS#1) from a file that only its owner may read.
    public static func privateKey(file: String) throws(PKIError) -> Certificate.PrivateKey {
        try ownerOnly(file)
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw PKIError("cannot read \(file)")
        }
        do {
            return try Certificate.PrivateKey(pemEncoded: text)
        } catch {
            // Not the key's bytes: the error names the file only.
            throw PKIError("\(file) does not hold a PEM private key")
        }
    }

    /// Refuses a key file that others may read, as PostgreSQL does for its own key: owned by this process's user, it
    /// must be readable by that user only (0600); owned by root, its group may read it too (0640), which is how a
    /// Kubernetes secret mounted with fsGroup, or a root-owned file in the service's group, reaches a non-root process.
    public static func ownerOnly(_ file: String) throws(PKIError) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, let owner = (attributes[.ownerAccountID] as? NSNumber)?.uint32Value
        else { throw PKIError("cannot read \(file)") }
        if let why = KeyFileRule.refusal(mode: mode, owner: owner, user: geteuid()) {
            throw PKIError("\(file) \(why)")
        }
    }

    /// A new self-signed CA with a P-256 key, valid for `years`.
    public static func create(commonName: String, organization: String?, years: Int = 10, now: Date = Date()) throws -> StationCA {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            if let organization { OrganizationName(organization) }
            CommonName(commonName)
        }
        let publicKey = Certificate.PublicKey(key.publicKey)
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Double(years) * 365.25 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 1))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        return StationCA(certificate: certificate, key: Certificate.PrivateKey(key))
    }

    /// Writes the certificate (0644) and the key (0600, made so before any byte is written).
    public func write(certificateFile: String, keyFile: String) throws {
        let keyPEM = try key.serializeAsPEM().pemString
        try writeOwnerOnly(keyFile, Data(keyPEM.utf8))
        try Data(certificate.pem.utf8).write(to: URL(fileURLWithPath: certificateFile), options: .atomic)
    }

    /// Signs a checked request for `days`. The subject is the request's; the certificate is a station's client
    /// certificate (and a server certificate for ISO 15118 where the station asked for one).
    public func issue(_ request: CheckedSigningRequest, days: Int, now: Date = Date()) throws -> Certificate {
        let authorityKey = (try? certificate.extensions.subjectKeyIdentifier?.keyIdentifier) ?? SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier
        let usages: [ExtendedKeyUsage.Usage] = request.use == .v2g ? [.serverAuth, .clientAuth] : [.clientAuth]
        let notAfter = min(now.addingTimeInterval(Double(days) * 86400), certificate.notValidAfter)
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: request.request.publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: notAfter,
            issuer: certificate.subject, subject: request.request.subject, signatureAlgorithm: signatureAlgorithm,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: request.request.publicKey.isRSA, keyAgreement: !request.request.publicKey.isRSA))
                try ExtendedKeyUsage(usages)
                SubjectKeyIdentifier(hash: request.request.publicKey)
                AuthorityKeyIdentifier(keyIdentifier: authorityKey)
            },
            issuerPrivateKey: key
        )
    }

    var signatureAlgorithm: Certificate.SignatureAlgorithm {
        switch certificate.publicKey.kind {
        case .rsa: .sha256WithRSAEncryption
        case .p384: .ecdsaWithSHA384
        case .p521: .ecdsaWithSHA512
        default: .ecdsaWithSHA256
        }
    }
}

/// Writes a file that only its owner may read: made with mode 0600 before its bytes go in.
public func writeOwnerOnly(_ path: String, _ data: Data) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { throw PKIError("cannot write \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    guard fchmod(fd, 0o600) == 0 else { throw PKIError("cannot restrict \(path)") }
    let written = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
    guard written == data.count else { throw PKIError("cannot write \(path)") }
}

extension Certificate.PublicKey {
    enum Kind { case rsa, p256, p384, p521, ed25519, other }

    var kind: Kind {
        if _RSA.Signing.PublicKey(self) != nil { return .rsa }
        if P256.Signing.PublicKey(self) != nil { return .p256 }
        if P384.Signing.PublicKey(self) != nil { return .p384 }
        if P521.Signing.PublicKey(self) != nil { return .p521 }
        if Curve25519.Signing.PublicKey(self) != nil { return .ed25519 }
        return .other
    }

    var isRSA: Bool { kind == .rsa }
}

/// A server certificate for the TLS listener, self-signed: the quick start (stations then trust this certificate as
/// their CSMS root). A real deployment uses one from a CA the stations trust.
public enum SelfSignedServer {
    /// The certificate (for these DNS names and IP addresses) and its P-256 key as PEM.
    public static func make(hosts: [String], days: Int = 825, now: Date = Date()) throws -> (certificate: Certificate, keyPEM: String) {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(hosts.first ?? "localhost") }
        let publicKey = Certificate.PublicKey(key.publicKey)
        let names: [GeneralName] = hosts.map { host in
            if let v4 = IPv4(host) { return .ipAddress(ASN1OctetString(contentBytes: v4[...])) }
            return .dnsName(host)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Double(days) * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyAgreement: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        return (certificate, try Certificate.PrivateKey(key).serializeAsPEM().pemString)
    }

    static func IPv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? bytes : nil
    }
}

/// Who may read a key file (PostgreSQL's rule for its TLS key).
public enum KeyFileRule {
    /// Why a file of this mode and owner is not a safe key file for `user`, or nil when it is.
    public static func refusal(mode: Int, owner: UInt32, user: UInt32) -> String? {
        if owner == user {
            return mode & 0o077 == 0 ? nil : "may be read by others (mode \(String(mode, radix: 8))); make it readable by its owner only (chmod 600)"
        }
        if owner == 0 {
            return mode & 0o037 == 0 ? nil : "is owned by root and may be read by others (mode \(String(mode, radix: 8))); at most 640"
        }
        return "is owned by another user (uid \(owner)); it must be this process's (0600) or root's (0640)"
    }
}
