import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import PKI
import ServiceLifecycle
import UnixSignals
import Synchronization
import X509
import SwiftASN1

/// The `wss://` listener's settings: its certificate and key, and the roots that client certificates (security
/// profile 3) must chain to.
public struct TLSSettings: Sendable {
    /// The port of the TLS listener.
    public var port: Int
    /// The server certificate chain (PEM, leaf first) and its key (PEM, readable by its owner only).
    public var certificateFile: String
    public var keyFile: String
    /// PEM files of the roots that station client certificates must chain to; the station CA's certificate is added
    /// when there is one.
    public var clientRootFiles: [String] = []
    /// Where configured, a station certificate's subject O must be this (A00.FR.404).
    public var organization: String?

    public init(port: Int, certificateFile: String, keyFile: String) {
        self.port = port
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    /// OCPP's security part names these for TLS 1.2 (ECDHE with AES-GCM, ECDSA and RSA certificates, and the plain
    /// RSA ones it still allows); TLS 1.3's own suites are all AEAD and are always on.
    static let cipherSuites: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        .TLS_RSA_WITH_AES_128_GCM_SHA256, .TLS_RSA_WITH_AES_256_GCM_SHA384,
    ]
}

/// What the TLS listener serves with, swapped whole on SIGHUP: the server certificate and key, and the client roots.
/// A connection keeps the context it was accepted with, so a reload drops none.
final class TLSMaterial: Sendable {
    struct Loaded: Sendable {
        var context: NIOSSLContext
        var roots: [Certificate]
        var serverCertificate: Certificate
    }

    let settings: TLSSettings
    /// The station CA's certificate file, trusted for client certificates.
    let stationCAFile: String?
    private let current: Mutex<Loaded>
    let logger: Logger

    init(settings: TLSSettings, stationCAFile: String?, logger: Logger) throws {
        self.settings = settings
        self.stationCAFile = stationCAFile
        self.logger = logger
        self.current = Mutex(try Self.load(settings, stationCAFile: stationCAFile))
    }

    var loaded: Loaded { current.withLock { $0 } }

    /// Reads the files again; on any error the listener keeps what it had, and the error is logged.
    @discardableResult
    func reload() -> Bool {
        do {
            let fresh = try Self.load(settings, stationCAFile: stationCAFile)
            current.withLock { $0 = fresh }
            logger.notice(
                "TLS certificate reloaded",
                metadata: ["tls.certificate.fingerprint": "\(fresh.serverCertificate.fingerprint)", "tls.certificate.not_after": "\(fresh.serverCertificate.notValidAfter)"]
            )
            return true
        } catch {
            logger.error("TLS reload failed; the listener keeps its certificate", metadata: ["error.message": "\(error)"])
            return false
        }
    }

    static func load(_ settings: TLSSettings, stationCAFile: String?) throws -> Loaded {
        let chain = try certificates(pemFile: settings.certificateFile)
        try StationCA.ownerOnly(settings.keyFile)
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: settings.keyFile, format: .pem)
        } catch {
            throw PKIError("\(settings.keyFile) does not hold a PEM private key")
        }
        var roots: [Certificate] = []
        for file in settings.clientRootFiles + (stationCAFile.map { [$0] } ?? []) {
            roots += try certificates(pemFile: file)
        }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try chain.map { .certificate(try NIOSSLCertificate(bytes: $0.derBytes, format: .der)) }, privateKey: .privateKey(key)
        )
        tls.minimumTLSVersion = .tlsv12
        tls.maximumTLSVersion = .tlsv13
        tls.cipherSuiteValues = TLSSettings.cipherSuites
        if roots.isEmpty {
            tls.certificateVerification = .none
        } else {
            // Asked for, checked when given (by `ClientCertificateCheck`), not required: profile 2 stations have none.
            tls.certificateVerification = .optionalVerification
            tls.trustRoots = .certificates(try roots.map { try NIOSSLCertificate(bytes: $0.derBytes, format: .der) })
            tls.sendCANameList = true
        }
        return Loaded(context: try NIOSSLContext(configuration: tls), roots: roots, serverCertificate: chain[0])
    }
}

/// Voltaic's own revocation list of station certificates (fingerprints), as the database holds it; refreshed every
/// few seconds on every node, so a revocation from the CLI closes the door within that time.
final class RevocationList: Sendable {
    /// nil until the list was first read: until then no client certificate is accepted (fail closed).
    private let fingerprints = Mutex<Set<String>?>(nil)

    var loaded: Bool { fingerprints.withLock { $0 != nil } }

    /// Whether the certificate is revoked; true while the list is not loaded yet.
    func contains(_ fingerprint: String) -> Bool { fingerprints.withLock { $0?.contains(fingerprint) ?? true } }

    /// Replaces the list; returns the fingerprints that are new.
    @discardableResult
    func replace(with list: Set<String>) -> Set<String> {
        fingerprints.withLock { old in
            defer { old = list }
            return list.subtracting(old ?? [])
        }
    }
}

/// Checks a client certificate chain during the TLS handshake: it must chain to a client root, be valid now, and not
/// be revoked. The station id is not known yet (it is in the URL); the upgrade checks CN and O against it.
struct ClientCertificateCheck: Sendable {
    let material: TLSMaterial
    let revoked: RevocationList
    let metrics: ServerMetrics?
    let logger: Logger

    func verify(_ presented: [NIOSSLCertificate]) async -> NIOSSLVerificationResult {
        let chain: [Certificate]
        do {
            chain = try presented.map { try Certificate(derEncoded: try $0.toDERBytes()) }
        } catch {
            return refuse("a presented certificate does not decode")
        }
        let verdict = await ChainCheck(roots: material.loaded.roots).verify(chain: chain, at: Date(), revoked: revoked.contains)
        switch verdict {
        case .trusted: return .certificateVerified
        case .expired: return refuse("expired", chain.first)
        case .notYetValid: return refuse("not yet valid", chain.first)
        case .revoked: return refuse("revoked", chain.first)
        case .untrusted(let why): return refuse("untrusted: \(why)", chain.first)
        }
    }

    private func refuse(_ why: String, _ leaf: Certificate? = nil) -> NIOSSLVerificationResult {
        metrics?.handshakeRefused(status: 495)  // nginx's "SSL certificate error"
        logger.debug("client certificate refused", metadata: ["reason": "\(why)", "tls.client.subject": "\(leaf.map { "\($0.subject)" } ?? "-")"])
        return .failed
    }
}

/// A child channel that starts with TLS, using whatever context `TLSMaterial` holds when the connection is accepted,
/// and the client certificate check; then the HTTP/WebSocket channel as on the plain listener.
struct StationTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let material: TLSMaterial
    let check: ClientCertificateCheck

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let context = material.loaded.context
        let check = self.check
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                NIOSSLServerHandler(context: context, customVerificationCallback: { certificates, promise in
                    promise.completeWithTask { await check.verify(certificates) }
                }, configuration: .init())
            )
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Reloads the TLS material on SIGHUP, and keeps the revocation list fresh.
struct TLSMaintenance: Service {
    let material: TLSMaterial?
    let revoked: RevocationList
    let load: @Sendable () async throws -> Set<String>
    let interval: Duration
    let logger: Logger
    /// Told of fingerprints newly on the list: the connections that used them are closed.
    var onRevoked: @Sendable (Set<String>) async -> Void = { _ in }
    /// Opened once the migrations ran (the first read of the list is the server's own, before it starts).
    var ready: StartupGate?

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                if let material {
                    group.addTask {
                        for await _ in await UnixSignalsSequence(trapping: .sighup) { material.reload() }
                    }
                }
                group.addTask {
                    // The first read is the server's own, before it starts, after the migrations: refreshes wait for those.
                    await ready?.wait()
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        guard !Task.isCancelled else { break }
                        do {
                            let fresh = revoked.replace(with: try await load())
                            if !fresh.isEmpty {
                                logger.notice("certificates revoked", metadata: ["count": "\(fresh.count)"])
                                await onRevoked(fresh)
                            }
                        } catch {
                            logger.warning("could not read the certificate revocation list; the last one stays", metadata: ["error.type": "\(String(reflecting: error))"])
                        }
                    }
                }
                await group.waitForAll()
            }
        }
    }
}
