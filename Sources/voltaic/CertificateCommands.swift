import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PKI
import Storage
import X509

struct CACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca", abstract: "The station certificate authority: it signs stations' CSRs (SignCertificate), and profile 3 trusts it.",
        subcommands: [Init.self]
    )

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a station CA: <dir>/station-ca.pem and <dir>/station-ca.key (owner-only). Refuses to overwrite.")
        @Option(help: "Where to write the files.") var dir: String
        @Option(help: "The CA's common name.") var name = "Voltaic station CA"
        @Option(help: "The CA's organisation (O).") var organization: String?
        @Option(help: "Years the CA is valid.") var years = 10

        func run() async throws {
            guard (1...30).contains(years) else { throw ValidationError("--years is 1 to 30") }
            let certificate = dir + "/station-ca.pem", key = dir + "/station-ca.key"
            for f in [certificate, key] where FileManager.default.fileExists(atPath: f) { throw ValidationError("\(f) exists; a CA is not replaced by accident") }
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let ca = try StationCA.create(commonName: name, organization: organization, years: years)
            try ca.write(certificateFile: certificate, keyFile: key)
            print("Station CA \(ca.certificate.subject), valid until \(ca.certificate.notValidAfter)")
            print("  certificate: \(certificate)\n  key (owner-only): \(key)")
            print("Serve with --station-ca-certificate \(certificate) --station-ca-key \(key)")
        }
    }
}

struct TLSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tls", abstract: "Server certificates for the wss:// listener.", subcommands: [SelfSigned.self])

    struct SelfSigned: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "self-signed", abstract: "Make a self-signed server certificate (the quick start): <dir>/server.pem and <dir>/server.key."
        )
        @Option(help: "Where to write the files.") var dir: String
        @Option(name: .customLong("host"), help: "A DNS name or IPv4 address the stations use (repeat for several).") var hosts: [String] = ["localhost", "127.0.0.1"]
        @Option(help: "Days it is valid.") var days = 825

        func run() async throws {
            guard (1...3650).contains(days) else { throw ValidationError("--days is 1 to 3650") }
            guard !hosts.isEmpty, hosts.allSatisfy({ !$0.isEmpty && $0.count <= 253 }) else { throw ValidationError("--host: a name of 1 to 253 characters") }
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let (certificate, key) = try SelfSignedServer.make(hosts: hosts, days: days)
            try writeOwnerOnly(dir + "/server.key", Data(key.utf8))
            try Data(certificate.pem.utf8).write(to: URL(fileURLWithPath: dir + "/server.pem"), options: .atomic)
            print("Server certificate for \(hosts.joined(separator: ", ")) (SHA-256 \(certificate.fingerprint))")
            print("Serve with --tls-port 8443 --tls-certificate \(dir)/server.pem --tls-key \(dir)/server.key; stations trust \(dir)/server.pem")
        }
    }
}

struct CertificateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certificate", abstract: "Station certificates: list, revoke; and the Plug & Charge contract status list.",
        subcommands: [List.self, Revoke.self, Contract.self, Install.self, Installed.self, Delete.self, Renew.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A station's signing requests and issued certificates.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The station id.") var station: String

        func run() async throws {
            let logger = makeLogger("warning")
            let station = station
            let (requests, certificates) = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await SecurityRepository(client: client, logger: logger).station(station)
            }
            print("Certificates of \(station):")
            for c in certificates {
                print("  \(c.fingerprint.prefix(16))… serial \(c.serial) \(c.certificateUse) until \(c.notAfter)\(c.revokedAt.map { " REVOKED \($0)" } ?? "")")
            }
            print("Signing requests:")
            for r in requests { print("  #\(r.id) \(r.certificateUse) \(r.state) attempts \(r.attempts)\(r.lastError.map { " (\($0))" } ?? "")") }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a station certificate by SHA-256 fingerprint (any certificate) or serial (one the station CA issued); every node refuses it within seconds."
        )
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The fingerprint (64 hex digits, colons allowed) or the serial (hex).") var certificate: String
        @Option(help: "Why, for the record.") var reason: String?

        func run() async throws {
            let key = certificate.replacingOccurrences(of: ":", with: "")
            guard (1...64).contains(key.count), key.isASCIIHex else {
                throw ValidationError("certificate: a fingerprint (64 hex digits) or a serial (1 to 40 hex digits)")
            }
            let logger = makeLogger("warning")
            let reason = reason
            let outcome = try await database.withDatabase(logger: logger, migrate: false) { client in
                try await SecurityRepository(client: client, logger: logger).revoke(fingerprintOrSerial: key, reason: reason)
            }
            switch outcome {
            case .revoked(let f): print("Revoked \(f).")
            case .alreadyRevoked(let f): print("\(f) was revoked already.")
            case .unknownSerial: throw ValidationError("certificate: no certificate the station CA issued has serial \(key)")
            }
        }
    }

    struct Contract: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put a contract certificate on the local status list (good or revoked), by its PEM and its issuer's PEM."
        )
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The contract certificate (PEM file).") var certificate: String
        @Option(help: "Its issuer's certificate (PEM file).") var issuer: String
        @Option(help: "good, revoked, or unknown (remove it from the list).") var status: String
        @Option(help: "Why, for the record.") var reason: String?

        func run() async throws {
            guard let status = CertificateStatus(rawValue: status) else { throw ValidationError("--status is good, revoked or unknown") }
            let leaf: Certificate, issuing: Certificate
            do {
                guard let l = try certificates(pemFile: certificate).first, let i = try certificates(pemFile: issuer).first else { throw PKIError("no certificate") }
                (leaf, issuing) = (l, i)
            } catch {
                throw ValidationError("--certificate/--issuer: \(error)")
            }
            guard leaf.issuer == issuing.subject else { throw ValidationError("--issuer: \(issuer) did not issue \(certificate)") }
            let id = CertificateID(certificate: leaf, issuer: issuing)
            let logger = makeLogger("warning")
            let (eMAID, reason) = (leaf.commonName, reason)
            try await database.withDatabase(logger: logger, migrate: false) { client in
                try await SecurityRepository(client: client, logger: logger).setContractStatus(id, status: status, eMAID: eMAID, reason: reason)
            }
            print("Contract \(eMAID ?? "?") (\(id)) is \(status.rawValue).")
        }
    }
}

/// Where the running server's admin API is, for the commands that act on a connected station.
struct APIOptions: ParsableArguments {
    @Option(name: .customLong("server"), help: "The server's base URL. Env: VOLTAIC_SERVER. Default: http://127.0.0.1:8180") var server: String?
    @Option(name: .customLong("admin-token"), help: "An API key or the admin token. Env: VOLTAIC_ADMIN_TOKEN. Default: <data-dir>/admin-token") var token: String?
    @Option(name: .customLong("data-dir"), help: "Where the admin token file is. Env: VOLTAIC_DATA_DIR. Default: ./.voltaic") var dataDir: String?

    /// Sends a JSON request to /api/v1; prints the answer; exits non-zero with the problem's detail on an error.
    func call(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws {
        let env = ProcessInfo.processInfo.environment
        let base = server ?? env["VOLTAIC_SERVER"] ?? "http://127.0.0.1:8180"
        let dir = dataDir ?? env["VOLTAIC_DATA_DIR"] ?? ".voltaic"
        guard let token = token ?? env["VOLTAIC_ADMIN_TOKEN"]
            ?? (try? String(contentsOfFile: dir + "/admin-token", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        else { throw ValidationError("--admin-token: none given, and no \(dir)/admin-token") }
        var request = HTTPClientRequest(url: (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/api/v1" + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        } catch {
            throw ValidationError("--server: \(base) did not answer (\(error))")
        }
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard (200..<300).contains(Int(response.status.code)) else {
            let detail = (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["detail"] as? String
            FileHandle.standardError.write(Data("error: HTTP \(response.status.code): \(detail ?? text)\n".utf8))
            throw ExitCode(1)
        }
        print(text)
    }
}

extension CertificateCommand {
    static func stationPath(_ id: String) -> String { "/stations/" + (id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? id) }

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "InstallCertificate on a connected station (through the running server).")
        @OptionGroup var api: APIOptions
        @Argument(help: "The station id.") var station: String
        @Option(help: "CSMSRootCertificate, V2GRootCertificate, MORootCertificate or ManufacturerRootCertificate.") var type: String
        @Option(help: "The certificate (PEM file).") var certificate: String

        func run() async throws {
            guard let text = try? String(contentsOfFile: certificate, encoding: .utf8) else { throw ValidationError("--certificate: cannot read \(certificate)") }
            try await api.call(.POST, CertificateCommand.stationPath(station) + "/certificates/install", ["certificateType": type, "certificate": text])
        }
    }

    struct Installed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "GetInstalledCertificateIds of a connected station.")
        @OptionGroup var api: APIOptions
        @Argument(help: "The station id.") var station: String
        @Option(help: "A certificate type to ask for (repeat for several).") var type: [String] = []

        func run() async throws {
            let query = type.isEmpty ? "" : "?" + type.map { "type=\($0)" }.joined(separator: "&")
            try await api.call(.GET, CertificateCommand.stationPath(station) + "/certificates/installed" + query)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "DeleteCertificate on a connected station, by the hash data GetInstalledCertificateIds gave.")
        @OptionGroup var api: APIOptions
        @Argument(help: "The station id.") var station: String
        @Option(help: "SHA256, SHA384 or SHA512.") var hashAlgorithm = "SHA256"
        @Option(help: "Hex.") var issuerNameHash: String
        @Option(help: "Hex.") var issuerKeyHash: String
        @Option(help: "Hex.") var serialNumber: String

        func run() async throws {
            try await api.call(
                .POST, CertificateCommand.stationPath(station) + "/certificates/delete",
                ["hashAlgorithm": hashAlgorithm, "issuerNameHash": issuerNameHash, "issuerKeyHash": issuerKeyHash, "serialNumber": serialNumber]
            )
        }
    }

    struct Renew: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask a connected station for a new CSR now (TriggerMessage / ExtendedTriggerMessage).")
        @OptionGroup var api: APIOptions
        @Argument(help: "The station id.") var station: String

        func run() async throws {
            try await api.call(.POST, CertificateCommand.stationPath(station) + "/certificates/renew")
        }
    }
}
