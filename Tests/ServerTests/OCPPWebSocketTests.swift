import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import NIOWebSocket
import WSClient
import OCPP
import Testing

@Suite struct OCPPWebSocketTests {
    @Test func aStationBootsAndIsAcknowledgedAfterCommit() async throws {
        try await AppHarness.app().test(.live) { client in
            let (status, _, _) = try await client.json(.post, "/api/v1/stations", #"{"id":"WS-1","securityProfile":0}"#)
            #expect(status == .created)
            let replies = ReplyBox()
            try await client.ws("/ocpp/WS-1", configuration: .init(additionalHeaders: [.secWebSocketProtocol: "ocpp2.0.1"])) { inbound, outbound, _ in
                try await outbound.write(.text(#"[2,"1","BootNotification",{"chargingStation":{"vendorName":"V","model":"M"},"reason":"PowerUp"}]"#))
                try await outbound.write(.text(#"[2,"2","Heartbeat",{}]"#))
                var iterator = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                for _ in 0..<2 {
                    if let message = try await iterator.next(), case .text(let t) = message { replies.append(t) }
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
            let frames = try replies.all.map { try Frame.decode($0).get() }
            #expect(frames.map(\.id) == ["1", "2"])
            guard case .callResult(_, let boot) = frames[0] else {
                Issue.record("unexpected replies \(replies.all)")
                return
            }
            #expect(boot["status"]?.stringValue == "Accepted")
            let (_, body, _) = try await client.json(.get, "/api/v1/stations/WS-1")
            #expect((body["station"] as? [String: Any])?["vendor"] as? String == "V")
        }
    }
}

final class ReplyBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ s: String) { lock.withLock { items.append(s) } }
    var all: [String] { lock.withLock { items } }
}
