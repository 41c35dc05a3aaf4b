/// One OCPP-J RPC message.
public enum Frame: Sendable, Hashable {
    case call(id: String, action: String, payload: JSONValue)
    case callResult(id: String, payload: JSONValue)
    case callError(id: String, code: String, description: String, details: JSONValue)

    public static let maxMessageIdLength = 36
    public static let maxActionLength = 36
    /// Used as the message id of a CALLERROR when the offending frame's id cannot be read.
    public static let unreadableMessageId = "-1"

    public var id: String {
        switch self {
        case .call(let id, _, _), .callResult(let id, _), .callError(let id, _, _, _): id
        }
    }

    public var serialized: String {
        switch self {
        case .call(let id, let action, let payload):
            JSONValue.array([.number(JSONNumber(2)), .string(id), .string(action), payload]).serialized
        case .callResult(let id, let payload):
            JSONValue.array([.number(JSONNumber(3)), .string(id), payload]).serialized
        case .callError(let id, let code, let description, let details):
            JSONValue.array([.number(JSONNumber(4)), .string(id), .string(code), .string(description), details]).serialized
        }
    }

    /// A CALLERROR in the spelling of `version`.
    public static func error(id: String, _ code: RPCErrorCode, _ description: String, version: OCPPVersion) -> Frame {
        .callError(id: id, code: code.wireName(for: version), description: description, details: .object([:]))
    }

    /// Decodes one WebSocket text message. On failure the error says which CALLERROR to send, if any.
    public static func decode(_ text: String) -> Result<Frame, FrameError> {
        let value: JSONValue
        do {
            value = try JSONParser.parse(text)
        } catch {
            let id = salvageMessageId(text)
            return .failure(FrameError(messageId: id, code: id == nil ? .rpcFrameworkError : .formatViolation, reason: error.description, answerable: true))
        }
        guard case .array(let items) = value, !items.isEmpty else {
            return .failure(FrameError(messageId: nil, code: .rpcFrameworkError, reason: "an RPC frame is a JSON array of 3 to 5 elements", answerable: true))
        }
        let readableId = items.count > 1 ? items[1].stringValue : nil
        guard case .number(let typeNumber) = items[0], let type = typeNumber.int64Value else {
            return .failure(FrameError(messageId: readableId, code: .rpcFrameworkError, reason: "the message type id must be an integer", answerable: true))
        }
        // Before OCPP 2.1 nothing may answer a CALLRESULT or CALLERROR, however broken.
        let answerable = type != 3 && type != 4
        guard items.count >= 3 else {
            return .failure(FrameError(messageId: readableId, code: answerable ? .rpcFrameworkError : .formatViolation, reason: "an RPC frame is a JSON array of 3 to 5 elements", answerable: answerable))
        }
        guard case .string(let id) = items[1], !id.isEmpty else {
            return .failure(FrameError(messageId: nil, code: .rpcFrameworkError, reason: "the message id must be a non-empty string", answerable: answerable))
        }
        guard id.count <= maxMessageIdLength else {
            return .failure(FrameError(messageId: id, code: .rpcFrameworkError, reason: "the message id is longer than \(maxMessageIdLength) characters", answerable: answerable))
        }
        switch type {
        case 2:
            guard items.count == 4, case .string(let action) = items[2] else {
                return .failure(FrameError(messageId: id, code: .formatViolation, reason: "a CALL is [2, id, action, payload]", answerable: true))
            }
            return .success(.call(id: id, action: action, payload: items[3]))
        case 3:
            guard items.count == 3 else {
                return .failure(FrameError(messageId: id, code: .formatViolation, reason: "a CALLRESULT is [3, id, payload]", answerable: false))
            }
            return .success(.callResult(id: id, payload: items[2]))
        case 4:
            guard items.count == 5, case .string(let code) = items[2], case .string(let description) = items[3] else {
                return .failure(FrameError(messageId: id, code: .formatViolation, reason: "a CALLERROR is [4, id, code, description, details]", answerable: false))
            }
            return .success(.callError(id: id, code: code, description: description, details: items[4]))
        default:
            return .failure(FrameError(messageId: id, code: .messageTypeNotSupported, reason: "message type \(type) is not supported", answerable: true))
        }
    }

    /// Best effort: reads the id of `[2,"id",...` from text that is not valid JSON.
    static func salvageMessageId(_ text: String) -> String? {
        var s = Substring(text).drop(while: { $0.isWhitespace })
        guard s.first == "[" else { return nil }
        s = s.dropFirst().drop(while: { $0.isWhitespace })
        s = s.drop(while: { $0.isNumber })
        s = s.drop(while: { $0.isWhitespace })
        guard s.first == "," else { return nil }
        s = s.dropFirst().drop(while: { $0.isWhitespace })
        guard s.first == "\"" else { return nil }
        s = s.dropFirst()
        guard let end = s.firstIndex(where: { $0 == "\"" || $0 == "\\" }), s[end] == "\"" else { return nil }
        let id = String(s[..<end])
        return id.isEmpty || id.count > maxMessageIdLength ? nil : id
    }
}

/// Why a frame could not be decoded, and how to answer it.
public struct FrameError: Error, Sendable, Hashable {
    /// The id to answer with; nil when unreadable (answered with `Frame.unreadableMessageId`).
    public var messageId: String?
    public var code: RPCErrorCode
    public var reason: String
    /// False for a malformed CALLRESULT or CALLERROR, which before OCPP 2.1 must not be answered.
    public var answerable: Bool

    public func callError(version: OCPPVersion) -> Frame? {
        guard answerable else { return nil }
        return .error(id: messageId ?? Frame.unreadableMessageId, code, reason, version: version)
    }
}
