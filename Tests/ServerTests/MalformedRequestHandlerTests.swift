import NIOCore
import NIOEmbedded
import Testing

@testable import Server

@Suite struct MalformedRequestHandlerTests {
    /// A connection that closes before its first request leaves nothing behind: its first-request timer is cancelled,
    /// so the handler (and with it the pipeline) is freed at once, not when the timer would have fired.
    @Test func aClosedConnectionFreesItsHandlerAtOnce() throws {
        weak var released: MalformedRequestHandler?
        // The loop outlives the connection, as a server's does (and is not drained, as EmbeddedChannel.finish would).
        let loop = EmbeddedEventLoop()
        do {
            let channel = EmbeddedChannel(loop: loop)
            let handler = MalformedRequestHandler(firstRequestTimeout: .seconds(60))
            released = handler
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try channel.close().wait()
            loop.run()
        }
        #expect(released == nil, "the first-request timer still holds the handler of a closed connection")
        _ = loop
    }

    /// The timer still does its job on a connection that stays silent.
    @Test func aSilentConnectionIsClosedAtTheTimeout() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(MalformedRequestHandler(firstRequestTimeout: .seconds(60)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        loop.advanceTime(by: .seconds(59))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }
}
