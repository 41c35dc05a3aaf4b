// voltaic-echo: the floor Voltaic is measured against. A bare OCPP-J endpoint on the same stack as
// `voltaic serve` (Hummingbird 2 + hummingbird-websocket, a router-based upgrade at /ocpp/{id}, the same
// WebSocket settings: 1 MiB frames, auto-ping, UTF-8 validation) that does the least an OCPP server must do
// per CALL: parse the frame as JSON, and answer a CALLRESULT. No database, no schema validation, no state.
//
//     voltaic-echo [--host 127.0.0.1] [--port 8190] [--ping-interval 30]
//
// Answers: Heartbeat {"currentTime"}, BootNotification {"status":"Accepted","currentTime","interval":300},
// StartTransaction {"transactionId":n,"idTagInfo":{"status":"Accepted"}}, Authorize (1.6 idTagInfo, 2.0.1
// idTokenInfo) Accepted, anything else {}. A frame that is not a JSON array with a string id gets a
// CALLERROR. GET /health answers {"status":"ok"}.
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import Synchronization

struct Options {
    var host = "127.0.0.1"
    var port = 8190
    var pingInterval = 30.0

    init(_ args: [String]) {
        var i = 1
        func value() -> String {
            i += 1
            guard i < args.count else { fatalError("\(args[i - 1]) needs a value") }
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--host": host = value()
            case "--port": port = Int(value()) ?? port
            case "--ping-interval": pingInterval = Double(value()) ?? pingInterval
            case "-h", "--help":
                print("voltaic-echo [--host 127.0.0.1] [--port 8190] [--ping-interval 30]")
                exit(0)
            default: fatalError("unknown argument \(args[i])")
            }
            i += 1
        }
    }
}

/// The subprotocols Voltaic supports, in its order of preference.
let supported = ["ocpp2.0.1", "ocpp1.6"]

func negotiate(_ headerValues: [String]) -> String? {
    let offered = Set(headerValues.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
    return supported.first { offered.contains($0) }
}

let transactionIds = Atomic<Int>(0)

func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

func now() -> String { Date.now.formatted(.iso8601) }

/// The reply to one text frame, or nil for a CALLRESULT/CALLERROR from the station (nothing to answer).
func reply(to text: String, version: String) -> String? {
    guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)), let frame = object as? [Any], let type = frame.first as? Int else {
        return #"[4,"-1","\#(version == "ocpp1.6" ? "FormationViolation" : "FormatViolation")","not an OCPP-J frame",{}]"#
    }
    guard type == 2 else { return nil }
    guard frame.count == 4, let id = frame[1] as? String, let action = frame[2] as? String, frame[3] is [String: Any] else {
        return #"[4,"-1","\#(version == "ocpp1.6" ? "FormationViolation" : "FormatViolation")","malformed CALL",{}]"#
    }
    let payload: String
    switch action {
    case "Heartbeat": payload = #"{"currentTime":"\#(now())"}"#
    case "BootNotification": payload = #"{"status":"Accepted","currentTime":"\#(now())","interval":300}"#
    case "StartTransaction":
        let tx = transactionIds.add(1, ordering: .relaxed).newValue
        payload = #"{"transactionId":\#(tx),"idTagInfo":{"status":"Accepted"}}"#
    case "Authorize": payload = version == "ocpp1.6" ? #"{"idTagInfo":{"status":"Accepted"}}"# : #"{"idTokenInfo":{"status":"Accepted"}}"#
    default: payload = "{}"
    }
    return "[3,\(jsonString(id)),\(payload)]"
}

let options = Options(CommandLine.arguments)
var logger = Logger(label: "voltaic-echo")
logger.logLevel = .warning

let router = Router()
router.get("/health") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
}

let wsRouter = Router(context: BasicWebSocketRequestContext.self)
wsRouter.ws("/ocpp/{stationId}") { request, _ in
    guard let version = negotiate(request.headers[values: .secWebSocketProtocol]) else { return .upgrade([:]) }
    return .upgrade([.secWebSocketProtocol: version])
} onUpgrade: { inbound, outbound, context in
    guard let version = negotiate(context.request.headers[values: .secWebSocketProtocol]) else {
        try await outbound.close(.protocolError, reason: "no supported OCPP subprotocol")
        return
    }
    for try await message in inbound.messages(maxSize: 1 << 20) {
        guard case .text(let text) = message else { continue }
        if let answer = reply(to: text, version: version) { try await outbound.write(.text(answer)) }
    }
}

let wsConfiguration = HTTP1WebSocketUpgradeChannel.Configuration(
    http1: .init(idleTimeout: .seconds(60)),
    ws: .init(maxFrameSize: 1 << 20, autoPing: .enabled(timePeriod: .milliseconds(Int(options.pingInterval * 1000))), closeTimeout: .seconds(5), validateUTF8: true)
)
let app = Application(
    router: router,
    server: .http1WebSocketUpgrade(webSocketRouter: wsRouter, configuration: wsConfiguration),
    configuration: .init(address: .hostname(options.host, port: options.port), serverName: "voltaic-echo"),
    logger: logger
)
try await app.runService()
