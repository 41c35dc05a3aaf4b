import Foundation
import NIOSSL
import Storage
import Testing

/// sslmode and sslrootcert of a database URL mean what they mean to libpq.
@Suite struct DatabaseTLSTests {
    @Test(arguments: [
        ("disable", DatabaseTLS.Negotiation.disable, false, false),
        ("allow", .prefer, false, false),
        ("prefer", .prefer, false, false),
        ("require", .require, false, false),
        ("verify-ca", .require, true, false),
        ("verify-full", .require, true, true),
    ])
    func sslmodes(mode: String, negotiation: DatabaseTLS.Negotiation, chain: Bool, hostname: Bool) throws {
        let tls = try DatabaseTLS(sslmode: mode)
        #expect(tls.negotiation == negotiation && tls.verifiesChain == chain && tls.verifiesHostname == hostname)
        let expected: String = hostname ? "fullVerification" : chain ? "noHostnameVerification" : "none"
        #expect("\(tls.tlsConfiguration().certificateVerification)".hasPrefix(expected))
    }

    @Test func theDefaultIsPrefer() throws {
        #expect(try DatabaseTLS(sslmode: nil) == DatabaseTLS(sslmode: "prefer"))
        _ = try DatabaseLocation.url("postgres://u@db.example/voltaic").clientConfiguration()
    }

    @Test func unknownModesAreRefusedByName() throws {
        for mode in ["verify_full", "on", "", "REQUIRE"] {
            #expect(throws: DatabaseConfigError.self) { try DatabaseTLS(sslmode: mode) }
            do {
                _ = try DatabaseLocation.url("postgres://u@db.example/voltaic?sslmode=\(mode)").clientConfiguration()
                Issue.record("sslmode=\(mode) was accepted")
            } catch {
                #expect("\(error)".contains("'\(mode)'"))
            }
        }
    }

    @Test func sslrootcertIsHonoured() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("voltaic-root-\(UUID().uuidString).pem").path
        try "not read until a connection is made\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ca = try DatabaseTLS(sslmode: "verify-ca", sslrootcert: path)
        #expect(ca.rootCertificatePath == path && "\(ca.tlsConfiguration().trustRoots!)".contains(path))
        // With a root file, require verifies the chain, as libpq's require does.
        #expect(try DatabaseTLS(sslmode: "require", sslrootcert: path).verifiesChain)
        #expect(try DatabaseTLS(sslmode: "verify-full", sslrootcert: "system").rootCertificatePath == nil)
        #expect(throws: DatabaseConfigError.self) { try DatabaseTLS(sslmode: "verify-full", sslrootcert: "/nonexistent/root.pem") }
    }
}
