import CSMS
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import OCPP
import Prometheus
import Storage
import Synchronization
import X509
import SwiftASN1
import NIOSSL
import PKI

/// The request context of the WebSocket router: it keeps the channel so that a refused handshake
/// can be answered with the right status.
struct OCPPUpgradeContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    let channel: any Channel
    /// What the handshake read of the station, for the upgraded connection (hummingbird-websocket hands
    /// the same context to both): its row is read once per connection.
    let handshake = HandshakeRead()

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.channel = source.channel
    }
}

final class HandshakeRead: Sendable {
    private let value = Mutex<AdminRepository.StationCredentials?>(nil)
    private let usedProfile = Mutex<(profile: Int, certificate: String?)>((0, nil))
    var credentials: AdminRepository.StationCredentials? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
    /// The security profile this connection proved, and its client certificate's fingerprint at profile 3.
    var security: (profile: Int, certificate: String?) {
        get { usedProfile.withLock { $0 } }
        set { usedProfile.withLock { $0 = newValue } }
    }
}

/// `/ocpp/{stationId}`: handshake checks (identity, Basic auth, subprotocol), then the message loop.
struct OCPPEndpoint: Sendable {
    let configuration: ServerConfiguration
    let registry: StationRegistry
    let repository: AdminRepository
    let processor: InboundProcessor
    let passwords: PasswordVerifier
    let metrics: ServerMetrics
    /// Connects and disconnects, written coalesced.
    let presence: LivenessRecorder
    let budget: InflightBudget
    let logger: Logger
    /// Voltaic's revocation list, checked again at the upgrade (a resumed TLS session skips the handshake's check).
    var revocations: RevocationList?
    /// Coalesces the handshakes' station reads: a reconnect storm costs a few statements, not one per station.
    let credentialReads: BatchedLookup<String, AdminRepository.StationCredentials>

    init(
        configuration: ServerConfiguration, registry: StationRegistry, repository: AdminRepository, processor: InboundProcessor,
        passwords: PasswordVerifier, metrics: ServerMetrics, presence: LivenessRecorder, budget: InflightBudget, logger: Logger
    ) {
        self.configuration = configuration
        self.registry = registry
        self.repository = repository
        self.processor = processor
        self.passwords = passwords
        self.metrics = metrics
        self.presence = presence
        self.budget = budget
        self.logger = logger
        self.credentialReads = BatchedLookup(timeout: configuration.databaseTimeout) { [repository] ids in
            try await repository.credentials(stationIds: ids)
        }
    }

    func addRoutes(to router: Router<OCPPUpgradeContext>) {
        router.ws("/ocpp/{stationId}") { request, context in
            try await shouldUpgrade(request, context)
        } onUpgrade: { inbound, outbound, context in
            try await run(
                inbound: inbound, outbound: outbound, request: context.request, read: context.requestContext.handshake.credentials,
                security: context.requestContext.handshake.security
            )
        }
    }

    private func refuse(_ context: OCPPUpgradeContext, _ status: HTTPResponse.Status, _ why: String, _ id: String) -> RouterShouldUpgrade {
        // Counted, and logged at debug only: a flood of wrong passwords must not become a flood of log lines.
        metrics.handshakeRefused(status: status.code)
        logger.debug("handshake refused", metadata: ["ocpp.station.id": "\(id.prefix(60))", "http.status": "\(status.code)", "reason": "\(why)"])
        HandshakeRejections.shared.reject(context.channel, with: status)
        return .dontUpgrade
    }

    private func shouldUpgrade(_ request: Request, _ context: OCPPUpgradeContext) async throws -> RouterShouldUpgrade {
        let rawId = context.parameters.get("stationId") ?? ""
        let stationId = rawId.removingPercentEncoding ?? rawId
        guard StationIdentity.isValid(stationId) else { return refuse(context, .badRequest, "invalid station identity", stationId) }
        guard registry.count < configuration.maxConnections || registry.session(stationId) != nil else {
            return refuse(context, .serviceUnavailable, "connection limit reached", stationId)
        }
        guard var credentials = await readCredentials(stationId) else { return refuse(context, .serviceUnavailable, "the database did not answer", stationId) }
        if credentials.decommissioned { return refuse(context, .notFound, "station decommissioned", stationId) }
        if !credentials.exists {
            guard configuration.unknownStations != .reject else { return refuse(context, .notFound, "unknown station", stationId) }
            let status: RegistrationStatus = configuration.unknownStations == .accept ? .accepted : .pending
            let cap = configuration.maxUnknownStations
            guard let added = try? await Deadline.run(within: configuration.databaseTimeout, { [repository] in
                try await repository.registerUnknownStation(id: stationId, registrationStatus: status, cap: cap)
            }) else { return refuse(context, .serviceUnavailable, "the database did not answer", stationId) }
            if added {
                logger.notice("registered unknown station", metadata: ["ocpp.station.id": "\(stationId)", "ocpp.registration": "\(status.rawValue)"])
            }
            guard let registered = await readCredentials(stationId) else { return refuse(context, .serviceUnavailable, "the database did not answer", stationId) }
            credentials = registered
            guard credentials.exists else { return refuse(context, .forbidden, "the cap of \(configuration.maxUnknownStations) auto-registered stations is reached", stationId) }
        }
        // The profile this connection proves: 3 with a client certificate (checked against the roots, expiry and
        // the revocation list during the TLS handshake, and bound to this station here), 2 or 1 with the station's
        // password over TLS or not, 0 with nothing. It must reach the station's floor.
        let transport = await TransportSecurity.of(context.channel)
        var used = 0
        var certificate: String?
        if let leaf = transport.clientCertificate {
            guard leaf.commonName == stationId else {
                return refuse(context, .forbidden, "the client certificate's CN '\(String((leaf.commonName ?? "").prefix(48)))' is not the station id", stationId)
            }
            if let organization = configuration.tls?.organization, leaf.organization != organization {
                return refuse(context, .forbidden, "the client certificate's O is not the operator's organisation", stationId)
            }
            // A resumed TLS session skips the handshake's certificate check: its expiry and the revocation list are
            // checked again here.
            let now = Date()
            guard leaf.notValidBefore <= now, leaf.notValidAfter >= now else {
                return refuse(context, .forbidden, "the client certificate is not valid now", stationId)
            }
            if revocations?.contains(leaf.fingerprint) ?? false {
                return refuse(context, .forbidden, "the client certificate is revoked", stationId)
            }
            used = 3
            certificate = leaf.fingerprint
        } else if let hash = credentials.passwordHash {
            guard let (user, password) = Self.basicCredentials(request.headers[.authorization]), user == stationId else {
                return refuse(context, .unauthorized, "missing Basic credentials", stationId)
            }
            let address = context.channel.remoteAddress?.ipAddress
            switch await passwords.verify(stationId: stationId, address: address, password: password, hash: hash) {
            case .accepted: break
            case .wrongPassword: return refuse(context, .unauthorized, "wrong password", stationId)
            case .throttled: return refuse(context, .tooManyRequests, "too many failed attempts", stationId)
            case .busy: return refuse(context, .serviceUnavailable, "password checks saturated", stationId)
            }
            used = transport.tls ? 2 : 1
        }
        guard used >= credentials.securityProfile else {
            let needs = credentials.securityProfile == 3 ? "a client certificate" : credentials.securityProfile == 2 ? "TLS (wss://) and its password" : "its password"
            return refuse(context, .unauthorized, "the station is at security profile \(credentials.securityProfile), which needs \(needs); this connection is at \(used)", stationId)
        }
        context.handshake.credentials = credentials
        context.handshake.security = (used, certificate)
        // A supported subprotocol the station offered, or none: then OCPP-J wants the handshake completed
        // without Sec-WebSocket-Protocol and the socket closed, which `run` does.
        guard let version = OCPPVersion.negotiate(offered: request.headers[values: .secWebSocketProtocol]) else {
            return .upgrade([:])
        }
        return .upgrade([.secWebSocketProtocol: version.rawValue])
    }

    /// The station's row, within the database deadline; nil when the database did not answer: a handshake
    /// during an outage is refused (503), not held open. Concurrent handshakes share one read (`credentialReads`).
    private func readCredentials(_ stationId: String) async -> AdminRepository.StationCredentials? {
        do {
            return try await Deadline.run(within: configuration.databaseTimeout) { [credentialReads] in
                try await credentialReads.value(for: stationId) ?? .unknown
            }
        } catch {
            return nil
        }
    }

    static func basicCredentials(_ header: String?) -> (String, String)? {
        guard let header, header.count < 1024 else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic", let data = Data(base64Encoded: String(parts[1])),
            let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    private func run(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, request: Request, read: AdminRepository.StationCredentials?,
        security: (profile: Int, certificate: String?)
    ) async throws {
        let rawId = request.uri.path.split(separator: "/").last.map(String.init) ?? ""
        let stationId = rawId.removingPercentEncoding ?? rawId
        var log = logger
        log[metadataKey: "ocpp.station.id"] = "\(stationId)"
        guard let version = OCPPVersion.negotiate(offered: request.headers[values: .secWebSocketProtocol]) else {
            log.info("no supported subprotocol offered; closing")
            try await outbound.close(.protocolError, reason: "no supported OCPP subprotocol")
            return
        }
        log[metadataKey: "ocpp.version"] = "\(version.rawValue)"

        // Read by the handshake an instant ago.
        guard let credentials = read, credentials.exists, !credentials.decommissioned else {
            try await outbound.close(.policyViolation, reason: "station removed")
            return
        }
        let session = StationSession(
            stationId: stationId, version: version, outbound: outbound, registrationStatus: credentials.registrationStatus, logger: log, securityProfile: security.profile
        )
        switch registry.admit(session, cap: configuration.maxConnections) {
        case .full:
            // The handshake's check is early; this one is exact. 1013: try again later.
            metrics.handshakeRefused(status: 503)
            try await outbound.close(.unknown(1013), reason: "connection limit reached")
            return
        case .admitted(let replaced?):
            log.notice("new connection replaces the previous one")
            await replaced.close(code: .policyViolation, reason: "replaced by a new connection")
        case .admitted(nil):
            break
        }
        let connections = metrics.connections(version)
        connections.increment()
        defer { connections.decrement() }
        // Online in the database before its first message is applied; concurrent connects share one write.
        await presence.setPresenceAndWait(
            stationId: stationId, online: true, node: configuration.nodeInstance, at: Date(), profile: security.profile, certificate: security.certificate
        )
        log.info("station connected")
        defer { log.info("station disconnected") }
        do {
            for try await message in inbound.messages(maxSize: configuration.maxFrameSize) {
                let reply: String?
                switch message {
                case .text(let text):
                    // Frames held while their work waits on the database count against one budget for
                    // all stations; past it a CALL is answered "send it again" at once.
                    let size = text.utf8.count
                    if budget.take(size) {
                        reply = await processor.process(text, session: session)
                        budget.give(size)
                    } else {
                        reply = processor.busy(text, session: session)
                    }
                case .binary: reply = Frame.error(id: Frame.unreadableMessageId, .formatViolation, "OCPP-J messages are text frames", version: version).serialized
                }
                if let reply { try await session.send(reply) }
            }
        } catch {
            await disconnect(session, log)
            throw error
        }
        await disconnect(session, log)
    }

    private func disconnect(_ session: StationSession, _ log: Logger) async {
        await session.disconnected()
        if registry.remove(session) {
            presence.setPresence(stationId: session.stationId, online: false, node: configuration.nodeInstance, at: Date())
        }
    }
}

/// What the transport of a connection proves: TLS or not, and the client certificate the TLS handshake verified.
struct TransportSecurity: Sendable {
    var tls: Bool
    var clientCertificate: Certificate?

    static func of(_ channel: any Channel) async -> TransportSecurity {
        let read = try? await channel.eventLoop.submit { () -> (Bool, [UInt8]?) in
            guard let handler = try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self) else { return (false, nil) }
            return (true, try? handler.peerCertificate?.toDERBytes())
        }.get()
        guard let (tls, der) = read else { return TransportSecurity(tls: false, clientCertificate: nil) }
        return TransportSecurity(tls: tls, clientCertificate: der.flatMap { try? Certificate(derEncoded: $0) })
    }
}
