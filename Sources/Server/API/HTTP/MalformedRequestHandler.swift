import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Answers a request NIO's HTTP parser refuses (a control byte in a header, a raw 0xFF in the path, an
/// unknown HTTP version, `Content-Length: abc`) with `400` and `Connection: close`, and closes the socket.
///
/// Hummingbird's WebSocket-upgrade pipeline leaves such an error to the upgrade handler, which neither
/// answers nor closes, so the client waits forever. This handler sits behind the HTTP decoder (it is added
/// when the pipeline is set up, before the upgrade decision), sees the parser error, and does what
/// NIO's `HTTPServerProtocolErrorHandler` does, plus the close. It steps aside after a WebSocket upgrade.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// A response head has gone out without its end: a 400 cannot be written in the middle of it.
    private var responseInProgress = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head: responseInProgress = true
        case .end: responseInProgress = false
        case .body: break
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !responseInProgress else {
            context.close(promise: nil)
            return
        }
        let head = HTTPResponseHead(version: .http1_1, status: .badRequest, headers: ["Connection": "close", "Content-Length": "0"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .upgradeComplete = event as? HTTPServerUpgradeEvents {
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// A server child channel with `MalformedRequestHandler` added to its pipeline once `inner` has set it up.
struct MalformedRequestGuard<Inner: ServerChildChannel>: ServerChildChannel {
    let inner: Inner

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Inner.Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(MalformedRequestHandler())
            return value
        }
    }

    func handle(value: Inner.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
