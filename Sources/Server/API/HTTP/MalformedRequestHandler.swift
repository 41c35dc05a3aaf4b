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

    /// A connection that sends no request within this long is closed (Hummingbird's own idle timer
    /// starts only once the first request is in).
    private let firstRequestTimeout: TimeAmount?
    private var sawRequest = false
    /// The first-request timer, cancelled as soon as it has nothing left to do: a timer left pending would keep the
    /// closed connection's handler and pipeline alive for the whole timeout (found by Benchmarks/tls_handshake.py:
    /// the server's cost per connection grew for a minute under a stream of short connections).
    private var timer: Scheduled<Void>?

    init(firstRequestTimeout: TimeAmount?) {
        self.firstRequestTimeout = firstRequestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let firstRequestTimeout else { return }
        let bound = NIOLoopBound((context, self), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: firstRequestTimeout) {
            let (context, handler) = bound.value
            handler.timer = nil
            if !handler.sawRequest { context.close(promise: nil) }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    /// Requests whose head has come in and whose response has not ended: a parser error behind them
    /// (pipelined bytes) is answered once they are.
    private var requestsInFlight = 0
    /// A response head has gone out without its end: a 400 cannot be written in the middle of it.
    private var responseInProgress = false
    private var refusalPending = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            requestsInFlight += 1
            sawRequest = true
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        switch part {
        case .head: responseInProgress = true
        case .end: responseInProgress = false
        case .body: break
        }
        context.write(data, promise: promise)
        if case .end = part {
            requestsInFlight = max(0, requestsInFlight - 1)
            if refusalPending, requestsInFlight == 0 { refuse(context: context) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if requestsInFlight > 0 || responseInProgress {
            refusalPending = true
        } else {
            refuse(context: context)
        }
    }

    private func refuse(context: ChannelHandlerContext) {
        refusalPending = false
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
    let firstRequestTimeout: TimeAmount?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Inner.Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(MalformedRequestHandler(firstRequestTimeout: firstRequestTimeout))
            return value
        }
    }

    func handle(value: Inner.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
