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
    var credentials: AdminRepository.StationCredentials? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
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
            try await run(inbound: inbound, outbound: outbound, request: context.request, read: context.requestContext.handshake.credentials)
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
        if let hash = credentials.passwordHash {
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
        }
        context.handshake.credentials = credentials
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

    private func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, request: Request, read: AdminRepository.StationCredentials?) async throws {
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
        let session = StationSession(stationId: stationId, version: version, outbound: outbound, registrationStatus: credentials.registrationStatus, logger: log)
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
        await presence.setPresenceAndWait(stationId: stationId, online: true, node: configuration.nodeInstance, at: Date())
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
