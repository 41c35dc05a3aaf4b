public import CSMS
import Foundation
public import Logging
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// Group commit: work from many stations that arrives together is applied in one PostgreSQL
/// transaction, and every caller is resumed only after that COMMIT. A batch runs first without
/// savepoints; if an item fails, it runs again with a SAVEPOINT per item, so the failing item rolls back
/// alone. A deadlock or serialization failure is retried in a later batch.
///
/// Every caller is answered within `deadline`, whatever the database does: a reaper fails work that
/// waited or ran too long with `StoreFailure.unavailable`, and work that was failed before it started
/// is never run. Work failed while it ran may still commit later; callers therefore only hand in work
/// that is idempotent under replay, which the station's retry then finds already applied.
public final class GroupCommitter: TransactionRunner, Service {
    /// One caller's work and its single answer.
    final class Ticket: Sendable {
        /// The work alone (for bulk work: its input applied alone, as an isolated run does).
        let work: @Sendable (any UnitOfWork) async throws -> any Sendable
        /// Set for an input of `BulkWork`: applied with the batch's other inputs of the same work.
        let bulk: Bulk?
        let enqueuedAt: ContinuousClock.Instant
        private let continuation: Mutex<CheckedContinuation<any Sendable, any Error>?>
        let attempts: Int

        init(work: @escaping @Sendable (any UnitOfWork) async throws -> any Sendable, bulk: Bulk? = nil, continuation: CheckedContinuation<any Sendable, any Error>, attempts: Int = 0, enqueuedAt: ContinuousClock.Instant = .now) {
            self.work = work
            self.bulk = bulk
            self.continuation = Mutex(continuation)
            self.attempts = attempts
            self.enqueuedAt = enqueuedAt
        }

        /// Answers the caller, once; later answers are dropped. False when it was already answered.
        @discardableResult
        func resume(_ result: Result<any Sendable, any Error>) -> Bool {
            guard let c = continuation.withLock({ c in defer { c = nil }; return c }) else { return false }
            c.resume(with: result)
            return true
        }

        var isAnswered: Bool { continuation.withLock { $0 == nil } }

        /// The same work, for a retry; the caller's continuation moves to the new ticket.
        func retried() -> Ticket? {
            guard let c = continuation.withLock({ c in defer { c = nil }; return c }) else { return nil }
            return Ticket(work: work, bulk: bulk, continuation: c, attempts: attempts + 1, enqueuedAt: enqueuedAt)
        }
    }

    /// One input of a `BulkWork`, its types erased.
    struct Bulk: Sendable {
        let name: String
        let input: any Sendable
        let apply: @Sendable (any UnitOfWork, [any Sendable]) async throws -> [any Sendable]
    }

    struct State {
        var queue: [Ticket] = []
        var waiters: [CheckedContinuation<[Ticket], Never>] = []
        var running: [ObjectIdentifier: [Ticket]] = [:]
        var open = true
    }

    private let client: PostgresClient
    private let logger: Logger
    private let maxBatch: Int
    private let maxBulk: Int
    private let workers: Int
    public let deadline: Duration
    private let state = Mutex(State())
    private let stats = Mutex(Statistics())

    /// Committed batches and the items in them, since start.
    public struct Statistics: Sendable {
        public var batches = 0
        public var items = 0
        /// Batches that had to run again with a savepoint per item, because an item failed.
        public var isolatedBatches = 0
        /// Items committed as inputs of a bulk work applied for several callers at once.
        public var bulkInputs = 0
    }

    public var statistics: Statistics { stats.withLock { $0 } }
    /// Items waiting for a worker.
    public var queued: Int { state.withLock { $0.queue.count } }

    /// Told of every committed batch: its size, how long its oldest item waited, and whether it had to
    /// run again with a savepoint per item.
    public typealias BatchObserver = @Sendable (_ size: Int, _ wait: Duration, _ isolated: Bool) -> Void
    private let onBatch: BatchObserver?

    /// - Parameter deadline: the longest a caller waits for its answer (`--db-timeout`).
    /// - Parameter maxBatch: single works per batch; under PostgreSQL's 64 cached subtransactions, for the
    ///   isolated rerun's savepoints. `maxBulk`: inputs of bulk works per batch.
    public init(client: PostgresClient, logger: Logger, maxBatch: Int = 64, maxBulk: Int = 1000, workers: Int = 2, deadline: Duration = .seconds(5), onBatch: BatchObserver? = nil) {
        self.onBatch = onBatch
        self.client = client
        self.logger = logger
        self.maxBatch = maxBatch
        self.maxBulk = maxBulk
        self.workers = workers
        self.deadline = deadline
    }

    public func perform<T: Sendable>(_ work: @escaping @Sendable (any UnitOfWork) async throws -> T) async throws -> T {
        let result: any Sendable = try await withCheckedThrowingContinuation { continuation in
            enqueue(Ticket(work: { try await work($0) }, continuation: continuation))
        }
        guard let value = result as? T else { throw StoreFailure.unavailable("unexpected result type \(type(of: result))") }
        return value
    }

    public func perform<Input: Sendable, Output: Sendable>(_ work: BulkWork<Input, Output>, _ input: Input) async throws -> Output {
        let bulk = Bulk(name: work.name, input: input) { uow, inputs in
            let typed = inputs.compactMap { $0 as? Input }
            guard typed.count == inputs.count else { throw StoreFailure.unavailable("\(work.name) was handed another work's input") }
            return try await work.apply(uow, typed).map { $0 as any Sendable }
        }
        let result: any Sendable = try await withCheckedThrowingContinuation { continuation in
            enqueue(Ticket(work: { try await work.applyOne($0, input) }, bulk: bulk, continuation: continuation))
        }
        guard let value = result as? Output else { throw StoreFailure.unavailable("unexpected result type \(type(of: result))") }
        return value
    }

    private func enqueue(_ ticket: Ticket) {
        enum Next { case queued, closed, handOff(CheckedContinuation<[Ticket], Never>, [Ticket]) }
        let next: Next = state.withLock { s in
            guard s.open else { return .closed }
            s.queue.append(ticket)
            guard !s.waiters.isEmpty else { return .queued }
            return .handOff(s.waiters.removeFirst(), Self.take(&s.queue, maxBatch, maxBulk: maxBulk))
        }
        switch next {
        case .queued: break
        case .closed: ticket.resume(.failure(StoreFailure.unavailable("the server is shutting down")))
        case .handOff(let waiter, let batch): waiter.resume(returning: batch)
        }
    }

    /// Tickets from the head of the queue, leaving out those already answered (timed out): up to `max` single
    /// works, and up to `maxBulk` inputs of bulk works, which cost a few statements per work however many
    /// inputs they carry (a boot storm's 10,000 BootNotifications are a few dozen batches, not hundreds).
    static func take(_ queue: inout [Ticket], _ max: Int, maxBulk: Int) -> [Ticket] {
        var batch: [Ticket] = []
        var taken = 0
        var singles = 0
        var bulks = 0
        for t in queue {
            if t.bulk == nil ? singles == max : bulks == maxBulk { break }
            taken += 1
            guard !t.isAnswered else { continue }
            batch.append(t)
            if t.bulk == nil { singles += 1 } else { bulks += 1 }
        }
        queue.removeFirst(taken)
        return batch
    }

    private func nextBatch() async -> [Ticket]? {
        await withCheckedContinuation { (continuation: CheckedContinuation<[Ticket], Never>) in
            let ready: [Ticket]? = state.withLock { s in
                let batch = Self.take(&s.queue, maxBatch, maxBulk: maxBulk)
                if !batch.isEmpty { return batch }
                if !s.open { return [] }
                s.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    public func run() async throws {
        // Stopped by graceful shutdown or by cancellation, whichever comes first.
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                for _ in 0..<workers {
                    group.addTask { await self.workerLoop() }
                }
                group.addTask { await self.reaperLoop() }
                group.addTask {
                    try? await gracefulShutdown()
                    self.shutdown()
                }
            }
        } onCancel: {
            self.shutdown()
        }
    }

    private func shutdown() {
        let (tickets, waiters) = state.withLock { s in
            s.open = false
            defer { s.queue = []; s.waiters = [] }
            return (s.queue, s.waiters)
        }
        for w in waiters { w.resume(returning: []) }
        for t in tickets { t.resume(.failure(StoreFailure.unavailable("the server is shutting down"))) }
    }

    /// Answers, with `unavailable`, every caller that has waited longer than the deadline, queued or running.
    private func reaperLoop() async {
        let tick = min(deadline / 10, .milliseconds(100))
        while state.withLock({ $0.open }), !Task.isCancelled {
            do { try await Task.sleep(for: tick) } catch { return }
            let cutoff = ContinuousClock.now - deadline
            let late: [Ticket] = state.withLock { s in
                var late = s.queue.prefix { $0.enqueuedAt < cutoff }.filter { !$0.isAnswered }
                for batch in s.running.values { late += batch.filter { $0.enqueuedAt < cutoff && !$0.isAnswered } }
                return late
            }
            guard !late.isEmpty else { continue }
            var answered = 0
            for t in late where t.resume(.failure(StoreFailure.unavailable("no commit within \(deadline)"))) { answered += 1 }
            if answered > 0 { logger.warning("database deadline passed", metadata: ["db.timed_out": "\(answered)"]) }
        }
    }

    private func workerLoop() async {
        while let batch = await nextBatch(), !batch.isEmpty {
            let key = ObjectIdentifier(batch[0])
            state.withLock { $0.running[key] = batch }
            await commit(batch)
            _ = state.withLock { $0.running.removeValue(forKey: key) }
        }
    }

    /// A lease or a query that outlasts the deadline is cancelled: a worker never hangs on a dead database.
    private func commit(_ batch: [Ticket]) async {
        let wait = ContinuousClock.now - (batch.map(\.enqueuedAt).min() ?? .now)
        do {
            let result = try await withDeadline(deadline) { [client, logger, maxBatch] () async throws -> Outcomes in
                try await client.withConnection { conn -> Outcomes in
                    // Optimistic first: no savepoints, so a batch is BEGIN, the items' own statements and
                    // COMMIT. Items rarely fail inside the database (decoding and range checks happen before),
                    // and when one does the batch is rolled back and run again with a savepoint per item,
                    // so that only the failing item is lost. Nothing is answered before its COMMIT either way.
                    if batch.count > 1, let fast = try await Self.run(batch, on: conn, isolated: false, logger: logger) { return fast }
                    // Isolated, in transactions of at most `maxBatch` items: a batch with 1,000 bulk inputs would
                    // otherwise hold 1,000 savepoints, far past the 64 subtransactions PostgreSQL caches.
                    var merged: Outcomes = ([], [], batch.count > 1, 0)
                    for start in stride(from: 0, to: batch.count, by: maxBatch) {
                        let part = try await Self.run(Array(batch[start..<min(start + maxBatch, batch.count)]), on: conn, isolated: true, logger: logger)!
                        merged.done += part.done
                        merged.retry += part.retry
                        merged.bulkInputs += part.bulkInputs
                    }
                    return merged
                }
            }
            stats.withLock {
                $0.batches += 1
                $0.items += batch.count
                if result.isolated { $0.isolatedBatches += 1 }
                $0.bulkInputs += result.bulkInputs
            }
            onBatch?(batch.count, wait, result.isolated)
            for (ticket, outcome) in result.done { ticket.resume(outcome) }
            for ticket in result.retry { if let again = ticket.retried() { enqueue(again) } }
        } catch {
            logger.error("group commit failed", metadata: ["error.type": "\(String(reflecting: error))", "db.batch": "\(batch.count)"])
            for ticket in batch { ticket.resume(.failure(StoreFailure.unavailable("the database did not commit"))) }
        }
    }

    typealias Outcomes = (done: [(Ticket, Result<any Sendable, any Error>)], retry: [Ticket], isolated: Bool, bulkInputs: Int)

    /// One transaction over the batch. Not isolated, the inputs of each bulk work are applied together, at
    /// the place of the first, and the first failing item (or bulk work) rolls everything back and the answer
    /// is nil (run it again isolated). Isolated, each item runs alone with its savepoint (a batch of one needs
    /// none: its transaction is its own) and fails alone.
    private static func run(_ batch: [Ticket], on conn: PostgresConnection, isolated: Bool, logger: Logger) async throws -> Outcomes? {
        var outcomes: [(Ticket, Result<any Sendable, any Error>)] = []
        var retry: [Ticket] = []
        let savepoints = isolated && batch.count > 1
        var applied: Set<String> = []
        var bulkInputs = 0
        try await conn.query("BEGIN", logger: logger)
        do {
            let uow = PostgresUnitOfWork(connection: conn, logger: logger)
            for ticket in batch {
                // Answered already (the deadline passed while it waited): its caller has moved on.
                if ticket.isAnswered { continue }
                if !isolated, let bulk = ticket.bulk {
                    guard applied.insert(bulk.name).inserted else { continue }
                    let group = batch.compactMap { t in t.bulk.flatMap { $0.name == bulk.name && !t.isAnswered ? (t, $0.input) : nil } }
                    do {
                        let values = try await bulk.apply(uow, group.map(\.1))
                        guard values.count == group.count else { throw StoreFailure.unavailable("\(bulk.name) answered \(values.count) of \(group.count)") }
                        for ((t, _), v) in zip(group, values) { outcomes.append((t, .success(v))) }
                        if group.count > 1 { bulkInputs += group.count }
                    } catch {
                        try await conn.query("ROLLBACK", logger: logger)
                        return nil
                    }
                    continue
                }
                if savepoints { try await conn.query("SAVEPOINT item", logger: logger) }
                do {
                    let value = try await ticket.work(uow)
                    if savepoints { try await conn.query("RELEASE SAVEPOINT item", logger: logger) }
                    outcomes.append((ticket, .success(value)))
                } catch {
                    guard isolated else {
                        try await conn.query("ROLLBACK", logger: logger)
                        return nil
                    }
                    try await conn.query(savepoints ? "ROLLBACK TO SAVEPOINT item" : "ROLLBACK", logger: logger)
                    if !savepoints { try await conn.query("BEGIN", logger: logger) }
                    if isTransient(error), ticket.attempts < 3 {
                        retry.append(ticket)
                    } else {
                        outcomes.append((ticket, .failure(classify(error))))
                    }
                }
            }
            try await conn.query("COMMIT", logger: logger)
            return (outcomes, retry, isolated && batch.count > 1, bulkInputs)
        } catch {
            _ = try? await conn.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    static func isTransient(_ error: any Error) -> Bool {
        guard let psql = error as? PSQLError, let code = psql.serverInfo?[.sqlState] else { return false }
        return code == "40P01" || code == "40001"
    }

    /// What an item's failure means to its caller: data PostgreSQL refuses (SQLSTATE class 22, data
    /// exception, and 23, integrity violation) is `rejected`; every other database error is `unavailable`.
    static func classify(_ error: any Error) -> any Error {
        guard let psql = error as? PSQLError else { return error }
        guard let code = psql.serverInfo?[.sqlState] else { return StoreFailure.unavailable("\(psql.code)") }
        let message = psql.serverInfo?[.message] ?? code
        if code.hasPrefix("22") || code.hasPrefix("23") { return StoreFailure.rejected("\(message) (SQLSTATE \(code))") }
        return StoreFailure.unavailable("SQLSTATE \(code)")
    }
}

/// Runs `work` within `limit`, or throws `StoreFailure.unavailable`. The work runs in its own task
/// (`Deadline`): a postgres-nio query on a connection whose server died ignores cancellation, and a
/// structured child would hold its caller, a commit worker, until the socket times out.
func withDeadline<T: Sendable>(_ limit: Duration, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
    do {
        return try await Deadline.run(within: limit, work)
    } catch is Deadline.Exceeded {
        throw StoreFailure.unavailable("no answer within \(limit)")
    }
}
