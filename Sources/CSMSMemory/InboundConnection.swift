public import CSMS
public import Foundation
public import OCPP

/// One station's connection, as Server's StationSession and InboundProcessor handle it, over main's
/// `InboundDispatcher`: the frame is decoded, answers to the CSMS's own calls are dropped (none are pending
/// here), a CALL id already answered with committed work gets that reply again, and everything else goes
/// to the dispatcher — schema, NUL refusal, admission, the adapter's prepare, the writes in one unit of
/// work with the replay guard, and the CALLERROR for every failure. Only this glue is mirrored here
/// (InboundProcessor.process and StationSession's reply cache); the dispatcher is the server's own.
public struct InboundConnection: Sendable {
    /// StationSession.rememberedReplies
    public static let rememberedReplies = 256

    public let dispatcher: InboundDispatcher
    public let stationId: String
    public let version: OCPPVersion
    /// Read from the station row when the station connects; a BootNotification's answer changes it.
    public private(set) var registrationStatus: RegistrationStatus

    private struct ReplyKey: Hashable {
        var id: String
        var action: String
    }

    private var recentReplies: [ReplyKey: String] = [:]
    private var recentOrder: [ReplyKey] = []

    public init(dispatcher: InboundDispatcher, stationId: String, version: OCPPVersion, registrationStatus: RegistrationStatus) {
        self.dispatcher = dispatcher
        self.stationId = stationId
        self.version = version
        self.registrationStatus = registrationStatus
    }

    /// How one text frame was answered.
    public struct Outcome: Sendable {
        /// The frame to send back; nil for a CALLRESULT or CALLERROR from the station, which is never answered.
        public var reply: String?
        /// The CALL this answers, when the frame was a CALL.
        public var call: (id: String, action: String, payload: JSONValue)?
        /// The reply is the one remembered for an earlier CALL with the same id and action: nothing was applied.
        public var repeated = false
        /// The dispatcher's answer, when it was asked.
        public var answer: InboundDispatcher.Answer?
        /// Why the frame could not be decoded, when it could not.
        public var frameError: FrameError?
    }

    public mutating func process(_ text: String, now: Date) async -> Outcome {
        switch Frame.decode(text) {
        case .failure(let error):
            return Outcome(reply: error.callError(version: version)?.serialized, frameError: error)
        case .success(.callResult), .success(.callError):
            return Outcome(reply: nil)
        case .success(.call(let id, let action, let payload)):
            let key = ReplyKey(id: id, action: action)
            if let earlier = recentReplies[key] {
                return Outcome(reply: earlier, call: (id, action, payload), repeated: true)
            }
            let answer = await dispatcher.answer(
                id: id, action: action, payload: payload, version: version, stationId: stationId, registration: registrationStatus, now: now
            )
            if let status = answer.registration { registrationStatus = status }
            let reply = answer.frame.serialized
            if answer.committed { remember(reply, key) }
            return Outcome(reply: reply, call: (id, action, payload), answer: answer)
        }
    }

    private mutating func remember(_ reply: String, _ key: ReplyKey) {
        if recentReplies.updateValue(reply, forKey: key) == nil {
            recentOrder.append(key)
            if recentOrder.count > Self.rememberedReplies {
                recentReplies[recentOrder.removeFirst()] = nil
            }
        }
    }
}
