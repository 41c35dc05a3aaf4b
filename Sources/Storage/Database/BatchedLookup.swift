import Synchronization

/// Coalesces concurrent lookups by key into one read of many keys.
///
/// When 10,000 stations reconnect at once, each handshake needs its station's row. Read one by one, those
/// reads queue behind the pool and each waits for the ones before it. Here, a caller that finds fewer than
/// `leaders` reads in flight reads at once; the others wait, and the next leader takes every key waiting then
/// (up to `maxBatch`) in one statement. A leader reads once and hands the lead to a waiter, so no caller
/// does another's work after its own answer. Each read is bounded by `timeout`: a database that stops
/// answering fails the batch, every waiter in it gets the error, and the lead moves on.
public final class BatchedLookup<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    public typealias Read = @Sendable ([Key]) async throws -> [Key: Value]

    private enum Wake: Sendable {
        case answer(Result<Value?, any Error>)
        case lead
    }

    private struct Waiter {
        var key: Key
        var continuation: CheckedContinuation<Wake, Never>
    }

    private struct State {
        var waiting: [Waiter] = []
        var leading = 0
        var reads = 0
    }

    private let state = Mutex(State())
    private let read: Read
    private let leaders: Int
    private let maxBatch: Int
    private let timeout: Duration

    public init(leaders: Int = 2, maxBatch: Int = 1000, timeout: Duration, read: @escaping Read) {
        precondition(leaders >= 1 && maxBatch >= 1)
        self.read = read
        self.leaders = leaders
        self.maxBatch = maxBatch
        self.timeout = timeout
    }

    /// Reads run so far (for tests and metrics).
    public var reads: Int { state.withLock { $0.reads } }

    /// The value for `key`, nil when the read found none.
    public func value(for key: Key) async throws -> Value? {
        let wake = await withCheckedContinuation { (continuation: CheckedContinuation<Wake, Never>) in
            let lead = state.withLock { s -> Bool in
                if s.leading < leaders {
                    s.leading += 1
                    return true
                }
                s.waiting.append(Waiter(key: key, continuation: continuation))
                return false
            }
            if lead { continuation.resume(returning: .lead) }
        }
        switch wake {
        case .answer(let result): return try result.get()
        case .lead: return try await lead(key)
        }
    }

    private func lead(_ key: Key) async throws -> Value? {
        let others: [Waiter] = state.withLock { s in
            let n = min(s.waiting.count, maxBatch - 1)
            defer { s.waiting.removeFirst(n) }
            s.reads += 1
            return Array(s.waiting.prefix(n))
        }
        let keys = [key] + others.map(\.key)
        let read = self.read
        // In a task of its own: the leader's caller may be cancelled (its handshake deadline passed), and that
        // must not fail the batch it reads for everyone else.
        let timeout = self.timeout
        let outcome = await Task { await Result { try await Deadline.run(within: timeout) { try await read(keys) } } }.value
        for waiter in others {
            waiter.continuation.resume(returning: .answer(outcome.map { $0[waiter.key] }))
        }
        let next: Waiter? = state.withLock { s in
            guard !s.waiting.isEmpty else {
                s.leading -= 1
                return nil
            }
            return s.waiting.removeFirst()
        }
        next?.continuation.resume(returning: .lead)
        return try outcome.get()[key]
    }
}
