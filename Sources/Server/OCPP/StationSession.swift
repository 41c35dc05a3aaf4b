import CSMS
import Foundation
import HummingbirdWebSocket
import NIOWebSocket
import Logging
public import OCPP
import Synchronization

/// One connected station: its socket's outbound side, the CSMS→station call in flight, and the
/// replies to recent CALL ids so that a repeated id is answered without being applied twice.
public actor StationSession {
    public nonisolated let stationId: String
    public nonisolated let version: OCPPVersion
    nonisolated let logger: Logger
    private nonisolated let outbound: WebSocketOutboundWriter
    /// Read and written on every CALL without hopping onto the actor: the actor only serialises our own calls.
    private nonisolated let registration: Mutex<RegistrationStatus>
    private nonisolated let replies = Mutex(ReplyCache())

    /// A CALL we sent and its answer, once known.
    private struct Pending {
        let id: String
        let action: String
        var continuation: CheckedContinuation<CallAnswer, any Error>?
        var answer: Result<CallAnswer, any Error>?
    }
    private var pending: Pending?
    private var callInFlight = false
    private var callWaiters: [CheckedContinuation<Void, Never>] = []
    private var closed = false

    /// Committed replies to recent CALLs, by message id and action.
    struct ReplyCache {
        var replies: [ReplyKey: String] = [:]
        var order: [ReplyKey] = []
    }
    struct ReplyKey: Hashable {
        let id: String
        let action: String
    }
    static let rememberedReplies = 256

    /// The security profile this connection proved (0 to 3).
    public nonisolated let securityProfile: Int

    init(stationId: String, version: OCPPVersion, outbound: WebSocketOutboundWriter, registrationStatus: RegistrationStatus, logger: Logger, securityProfile: Int = 0) {
        self.stationId = stationId
        self.version = version
        self.securityProfile = securityProfile
        self.outbound = outbound
        self.registration = Mutex(registrationStatus)
        self.logger = logger
    }

    // MARK: Outbound frames

    nonisolated func send(_ text: String) async throws {
        try await outbound.write(.text(text))
    }

    func close(code: WebSocketErrorCode, reason: String) async {
        closed = true
        try? await outbound.close(code, reason: reason)
        failPending(StationDisconnected())
    }

    /// The socket is gone: calls waiting on it fail.
    func disconnected() {
        closed = true
        failPending(StationDisconnected())
        for w in callWaiters { w.resume() }
        callWaiters = []
    }

    // MARK: Replies to station CALLs

    nonisolated func rememberedReply(to id: String, action: String) -> String? {
        replies.withLock { $0.replies[ReplyKey(id: id, action: action)] }
    }

    nonisolated func remember(reply: String, to id: String, action: String) {
        let key = ReplyKey(id: id, action: action)
        replies.withLock { c in
            if c.replies.updateValue(reply, forKey: key) == nil {
                c.order.append(key)
                if c.order.count > Self.rememberedReplies { c.replies[c.order.removeFirst()] = nil }
            }
        }
    }

    nonisolated var registrationStatus: RegistrationStatus { registration.withLock { $0 } }

    nonisolated func setRegistrationStatus(_ status: RegistrationStatus) { registration.withLock { $0 = status } }

    // MARK: CSMS → station calls

    /// What a station answered to a CALL.
    public enum CallAnswer: Sendable {
        case result(JSONValue)
        case error(code: String, description: String, details: JSONValue)
    }

    /// Sends a CALL and waits for its answer. At most one call is in flight per station; others wait.
    public func call(action: String, payload: JSONValue, timeout: Duration) async throws -> CallAnswer {
        await acquireCallSlot()
        defer { releaseCallSlot() }
        guard !closed else { throw StationDisconnected() }
        let id = UUID().uuidString.lowercased()
        pending = Pending(id: id, action: action)
        do {
            try await send(Frame.call(id: id, action: action, payload: payload).serialized)
        } catch {
            pending = nil
            throw StationDisconnected()
        }
        return try await withThrowingTaskGroup(of: CallAnswer?.self) { group in
            group.addTask { try await self.awaitAnswer(id) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                await self.fail(id, CallTimedOut())
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let answer = next { return answer }
            }
            throw CallTimedOut()
        }
    }

    private func awaitAnswer(_ id: String) async throws -> CallAnswer {
        guard let p = pending, p.id == id else { throw CallTimedOut() }
        if let answer = p.answer {
            pending = nil
            return try answer.get()
        }
        return try await withCheckedThrowingContinuation { continuation in
            pending?.continuation = continuation
        }
    }

    private func fail(_ id: String, _ error: any Error) {
        guard let p = pending, p.id == id else { return }
        if let c = p.continuation {
            pending = nil
            c.resume(throwing: error)
        } else {
            pending?.answer = .failure(error)
        }
    }

    private func failPending(_ error: any Error) {
        if let id = pending?.id { fail(id, error) }
    }

    /// A CALLRESULT or CALLERROR arrived; false when it answers nothing we asked.
    func received(id: String, _ answer: CallAnswer) -> Bool {
        guard let p = pending, p.id == id else { return false }
        if let c = p.continuation {
            pending = nil
            c.resume(returning: answer)
        } else {
            pending?.answer = .success(answer)
        }
        return true
    }

    private func acquireCallSlot() async {
        if !callInFlight {
            callInFlight = true
            return
        }
        await withCheckedContinuation { callWaiters.append($0) }
    }

    private func releaseCallSlot() {
        pending = nil
        if callWaiters.isEmpty {
            callInFlight = false
        } else {
            callWaiters.removeFirst().resume()
        }
    }
}

public struct StationDisconnected: Error, CustomStringConvertible {
    public var description: String { "the station is not connected" }
}

public struct CallTimedOut: Error, CustomStringConvertible {
    public var description: String { "the station did not answer in time" }
}
