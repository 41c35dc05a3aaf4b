import Crypto
import Foundation
import PKI
import Testing
import X509
import SwiftASN1

@Suite struct StationCATests {
    static func csr(cn: String, o: String? = nil, key: P256.Signing.PrivateKey = P256.Signing.PrivateKey()) throws -> String {
        let subject = try DistinguishedName {
            if let o { OrganizationName(o) }
            CommonName(cn)
        }
        let request = try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: Certificate.PrivateKey(key), attributes: CertificateSigningRequest.Attributes(),
            signatureAlgorithm: .ecdsaWithSHA256
        )
        return try request.serializeAsPEM().pemString
    }

    @Test func signsACheckedRequestIntoAClientCertificateThatChainsToTheCA() async throws {
        let ca = try StationCA.create(commonName: "Voltaic station CA", organization: "Voltaic")
        let checked = try CheckedSigningRequest(pem: try Self.csr(cn: "CS-1", o: "Voltaic"), stationId: "CS-1", organization: "Voltaic", use: .chargingStation)
        let issued = try ca.issue(checked, days: 365)
        #expect(issued.commonName == "CS-1")
        #expect(issued.issuer == ca.certificate.subject)
        #expect(try issued.extensions.extendedKeyUsage?.contains(.clientAuth) == true)
        let verdict = await ChainCheck(roots: [ca.certificate]).verify(chain: [issued], at: Date(), revoked: { _ in false })
        guard case .trusted(let path) = verdict else { Issue.record("not trusted: \(verdict)"); return }
        #expect(path.count == 2)
        // Never past the CA's own end.
        #expect(issued.notValidAfter <= ca.certificate.notValidAfter)
    }

    @Test func refusesARequestForAnotherStationAnotherOrganisationOrWithABrokenSignature() throws {
        #expect(throws: PKIError.self) { try CheckedSigningRequest(pem: try Self.csr(cn: "CS-2"), stationId: "CS-1", organization: nil, use: .chargingStation) }
        #expect(throws: PKIError.self) { try CheckedSigningRequest(pem: try Self.csr(cn: "CS-1", o: "Other"), stationId: "CS-1", organization: "Voltaic", use: .chargingStation) }
        #expect(throws: PKIError.self) { try CheckedSigningRequest(pem: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----", stationId: "CS-1", organization: nil, use: .chargingStation) }
        // One byte of the signed part changed: the self-signature no longer verifies.
        let pem = try Self.csr(cn: "CS-1")
        let document = try PEMDocument(pemString: pem)
        var der = document.derBytes
        if let at = der.indices.dropFirst(20).first(where: { der[$0] == UInt8(ascii: "C") && der[$0 + 1] == UInt8(ascii: "S") }) { der[at] = UInt8(ascii: "D") }
        let tampered = PEMDocument(type: "CERTIFICATE REQUEST", derBytes: der).pemString
        #expect(throws: PKIError.self) { try CheckedSigningRequest(pem: tampered, stationId: "DS-1", organization: nil, use: .chargingStation) }
    }

    @Test func aChainIsExpiredUntrustedOrRevokedAsItIs() async throws {
        let ca = try StationCA.create(commonName: "CA", organization: nil)
        let other = try StationCA.create(commonName: "Other CA", organization: nil)
        let checked = try CheckedSigningRequest(pem: try Self.csr(cn: "CS-1"), stationId: "CS-1", organization: nil, use: .chargingStation)
        let issued = try ca.issue(checked, days: 30)
        let check = ChainCheck(roots: [ca.certificate])
        #expect(await check.verify(chain: [issued], at: Date().addingTimeInterval(40 * 86400), revoked: { _ in false }) == .expired)
        if case .untrusted = await ChainCheck(roots: [other.certificate]).verify(chain: [issued], at: Date(), revoked: { _ in false }) {} else {
            Issue.record("a certificate of another CA was trusted")
        }
        #expect(await check.verify(chain: [issued], at: Date(), revoked: { $0 == issued.fingerprint }) == .revoked(issued.fingerprint))
        if case .trusted = await check.verify(chain: [issued], at: Date(), revoked: { _ in false }) {} else { Issue.record("the good chain was not trusted") }
    }

    @Test func theKeyFileMustBeTheOwnersOnly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pki-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = try StationCA.create(commonName: "CA", organization: nil)
        try ca.write(certificateFile: dir + "/ca.pem", keyFile: dir + "/ca.key")
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/ca.key")[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        let loaded = try StationCA.load(certificateFile: dir + "/ca.pem", keyFile: dir + "/ca.key")
        #expect(loaded.certificate == ca.certificate)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dir + "/ca.key")
        #expect(throws: PKIError.self) { try StationCA.load(certificateFile: dir + "/ca.pem", keyFile: dir + "/ca.key") }
    }
}

@Suite struct KeyFileRuleTests {
    @Test func ownedByThisUserOnlyItMayRead() {
        #expect(KeyFileRule.refusal(mode: 0o600, owner: 10001, user: 10001) == nil)
        #expect(KeyFileRule.refusal(mode: 0o400, owner: 10001, user: 10001) == nil)
        #expect(KeyFileRule.refusal(mode: 0o640, owner: 10001, user: 10001) != nil)
        #expect(KeyFileRule.refusal(mode: 0o604, owner: 10001, user: 10001) != nil)
    }

    /// A Kubernetes secret mounted with fsGroup is root's and group-readable: let in, as PostgreSQL lets its key in.
    @Test func ownedByRootItsGroupMayReadToo() {
        #expect(KeyFileRule.refusal(mode: 0o440, owner: 0, user: 10001) == nil)
        #expect(KeyFileRule.refusal(mode: 0o640, owner: 0, user: 10001) == nil)
        #expect(KeyFileRule.refusal(mode: 0o644, owner: 0, user: 10001) != nil)
        #expect(KeyFileRule.refusal(mode: 0o660, owner: 0, user: 10001) != nil)
        #expect(KeyFileRule.refusal(mode: 0o600, owner: 20002, user: 10001) != nil)
    }
}
