import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix
import Synchronization

/// Checks station passwords (security profile 1/2 Basic auth) without letting a flood of wrong ones
/// take the server down: bcrypt runs on NIO's blocking thread pool, never on the cooperative pool; at
/// most `maxConcurrent` run at once with a short bounded queue behind them; repeated failures for one
/// station id or one source address are refused without any bcrypt; and a successful check is
/// remembered for `successTTL`, so a reconnecting station costs one hash lookup.
final class PasswordVerifier: Sendable {
    enum Outcome: Equatable, Sendable {
        case accepted
        case wrongPassword
        /// Too many recent failures for this id or address: refused without checking (HTTP 429).
        case throttled
        /// Every verification slot and queue place is taken (HTTP 503).
        case busy
    }

    struct Limits: Sendable {
        var maxConcurrent = 2
        var maxQueued = 32
        var failureWindow: Duration = .seconds(60)
        var maxFailuresPerStation = 5
        var maxFailuresPerAddress = 20
        var successTTL: Duration = .seconds(300)
    }

    private struct State {
        var running = 0
        var queued: [CheckedContinuation<Void, Never>] = []
        var failures: [String: [ContinuousClock.Instant]] = [:]
        var successes: [[UInt8]: ContinuousClock.Instant] = [:]
    }

    let limits: Limits
    private let state = Mutex(State())

    init(limits: Limits = Limits()) { self.limits = limits }

    func verify(stationId: String, address: String?, password: String, hash: String) async -> Outcome {
        let now = ContinuousClock.now
        let key = Self.cacheKey(stationId: stationId, password: password, hash: hash)
        let keys = ["id:" + stationId] + (address.map { ["ip:" + $0] } ?? [])
        enum Gate: Sendable { case cached, throttled, run, wait, busy }
        let gate: Gate = state.withLock { s in
            if let until = s.successes[key], until > now { return .cached }
            for k in keys {
                let limit = k.hasPrefix("id:") ? limits.maxFailuresPerStation : limits.maxFailuresPerAddress
                let recent = (s.failures[k] ?? []).filter { now - $0 < limits.failureWindow }
                s.failures[k] = recent.isEmpty ? nil : recent
                if recent.count >= limit { return .throttled }
            }
            if s.running < limits.maxConcurrent {
                s.running += 1
                return .run
            }
            return s.queued.count < limits.maxQueued ? .wait : .busy
        }
        switch gate {
        case .cached: return .accepted
        case .throttled: return .throttled
        case .busy: return .busy
        case .wait: await withCheckedContinuation { c in enqueueOrRun(c) }
        case .run: break
        }
        let ok = (try? await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }) ?? false
        let done = ContinuousClock.now
        let next: CheckedContinuation<Void, Never>? = state.withLock { s in
            if ok {
                s.successes[key] = done + limits.successTTL
                if s.successes.count > 100_000 { s.successes = s.successes.filter { $0.value > done } }
            } else {
                for k in keys { s.failures[k, default: []].append(done) }
                if s.failures.count > 100_000 { s.failures = s.failures.filter { $0.value.contains { done - $0 < limits.failureWindow } } }
            }
            // The slot passes to the next queued check, or is freed.
            if s.queued.isEmpty {
                s.running -= 1
                return nil
            }
            return s.queued.removeFirst()
        }
        next?.resume()
        return ok ? .accepted : .wrongPassword
    }

    /// Queues a waiter, unless a slot freed up between the gate and here.
    private func enqueueOrRun(_ c: CheckedContinuation<Void, Never>) {
        let runNow: Bool = state.withLock { s in
            if s.running < limits.maxConcurrent {
                s.running += 1
                return true
            }
            s.queued.append(c)
            return false
        }
        if runNow { c.resume() }
    }

    private static func cacheKey(stationId: String, password: String, hash: String) -> [UInt8] {
        var h = SHA256()
        for part in [stationId, hash, password] {
            h.update(data: Data(part.utf8))
            h.update(data: Data([0]))
        }
        return Array(h.finalize())
    }
}
