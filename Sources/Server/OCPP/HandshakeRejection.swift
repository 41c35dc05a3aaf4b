import HTTPTypes
import HummingbirdCore
import NIOHTTPTypes
import NIOCore
import Synchronization

/// hummingbird-websocket answers every refused upgrade with 400. OCPP needs 401 for a bad password
/// (with a Basic challenge) and 404 for an unknown station, so the upgrade check records the status it
/// wants for the channel here, and `HandshakeRejectionHandler` rewrites the 400 on its way out.
final class HandshakeRejections: Sendable {
    static let shared = HandshakeRejections()
    private let statuses = Mutex<[ObjectIdentifier: HTTPResponse.Status]>([:])

    func reject(_ channel: any Channel, with status: HTTPResponse.Status) {
        statuses.withLock { $0[ObjectIdentifier(channel)] = status }
    }

    func take(_ channel: any Channel) -> HTTPResponse.Status? {
        statuses.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Forgets a channel that closed before its rejection was written.
    func forget(_ channel: any Channel) { _ = take(channel) }
}

final class HandshakeRejectionHandler: ChannelOutboundHandler, RemovableChannelHandler, Sendable {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var part = unwrapOutboundIn(data)
        if case .head(var head) = part, head.status == .badRequest, let status = HandshakeRejections.shared.take(context.channel) {
            head.status = status
            if status == .unauthorized { head.headerFields[.wwwAuthenticate] = "Basic realm=\"voltaic\", charset=\"UTF-8\"" }
            part = .head(head)
        }
        context.write(wrapOutboundOut(part), promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        HandshakeRejections.shared.forget(context.channel)
    }
}
