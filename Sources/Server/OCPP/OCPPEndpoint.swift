import CSMS
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import OCPP
import Storage

/// The request context of the WebSocket router: it keeps the channel so that a refused handshake
/// can be answered with the right status.
struct OCPPUpgradeContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.channel = source.channel
    }
}

/// `/ocpp/{stationId}`: handshake checks (identity, Basic auth, subprotocol), then the message loop.
struct OCPPEndpoint: Sendable {
    let configuration: ServerConfiguration
    let registry: StationRegistry
    let repository: AdminRepository
    let processor: InboundProcessor
    let passwords: PasswordVerifier
    let budget: InflightBudget
    let logger: Logger

    func addRoutes(to router: Router<OCPPUpgradeContext>) {
        router.ws("/ocpp/{stationId}") { request, context in
            try await shouldUpgrade(request, context)
        } onUpgrade: { inbound, outbound, context in
            try await run(inbound: inbound, outbound: outbound, request: context.request)
        }
    }

    private func refuse(_ context: OCPPUpgradeContext, _ status: HTTPResponse.Status, _ why: String, _ id: String) -> RouterShouldUpgrade {
        logger.info("handshake refused", metadata: ["ocpp.station.id": "\(id.prefix(60))", "http.status": "\(status.code)", "reason": "\(why)"])
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
        var credentials = try await repository.credentials(stationId: stationId)
        if credentials.decommissioned { return refuse(context, .notFound, "station decommissioned", stationId) }
        if !credentials.exists {
            guard configuration.unknownStations != .reject else { return refuse(context, .notFound, "unknown station", stationId) }
            let status: RegistrationStatus = configuration.unknownStations == .accept ? .accepted : .pending
            if try await repository.registerUnknownStation(id: stationId, registrationStatus: status, cap: configuration.maxUnknownStations) {
                logger.notice("registered unknown station", metadata: ["ocpp.station.id": "\(stationId)", "ocpp.registration": "\(status.rawValue)"])
            }
            credentials = try await repository.credentials(stationId: stationId)
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
        // A supported subprotocol the station offered, or none: then OCPP-J wants the handshake completed
        // without Sec-WebSocket-Protocol and the socket closed, which `run` does.
        guard let version = OCPPVersion.negotiate(offered: request.headers[values: .secWebSocketProtocol]) else {
            return .upgrade([:])
        }
        return .upgrade([.secWebSocketProtocol: version.rawValue])
    }

    static func basicCredentials(_ header: String?) -> (String, String)? {
        guard let header, header.count < 1024 else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic", let data = Data(base64Encoded: String(parts[1])),
            let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    private func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, request: Request) async throws {
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

        let credentials = try await repository.credentials(stationId: stationId)
        guard credentials.exists, !credentials.decommissioned else {
            try await outbound.close(.policyViolation, reason: "station removed")
            return
        }
        let session = StationSession(stationId: stationId, version: version, outbound: outbound, registrationStatus: credentials.registrationStatus, logger: log)
        if let replaced = registry.register(session) {
            log.notice("new connection replaces the previous one")
            await replaced.close(code: .policyViolation, reason: "replaced by a new connection")
        }
        try? await repository.setOnline(stationId: stationId, online: true, node: configuration.nodeId, at: Date())
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
            do {
                try await repository.setOnline(stationId: session.stationId, online: false, node: nil, at: Date())
            } catch {
                log.warning("could not mark station offline", metadata: ["error.type": "\(String(reflecting: error))"])
            }
        }
    }
}
