public import CSMS
import Foundation
public import Logging
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// Group commit: work from many stations that arrives together is applied in one PostgreSQL
/// transaction, one SAVEPOINT per item, and every caller is resumed only after that COMMIT.
/// An item that fails rolls back to its savepoint alone; a deadlock or serialization failure
/// is retried in a later batch.
public final class GroupCommitter: TransactionRunner, Service {
    struct Item: Sendable {
        let work: @Sendable (any UnitOfWork) async throws -> any Sendable
        let resume: @Sendable (Result<any Sendable, any Error>) -> Void
        var attempts = 0
    }

    struct State {
        var queue: [Item] = []
        var waiters: [CheckedContinuation<[Item], Never>] = []
        var running = true
    }

    private let client: PostgresClient
    private let logger: Logger
    private let maxBatch: Int
    private let workers: Int
    private let state = Mutex(State())

    public init(client: PostgresClient, logger: Logger, maxBatch: Int = 256, workers: Int = 2) {
        self.client = client
        self.logger = logger
        self.maxBatch = maxBatch
        self.workers = workers
    }

    public func perform<T: Sendable>(_ work: @escaping @Sendable (any UnitOfWork) async throws -> T) async throws -> T {
        let result: any Sendable = try await withCheckedThrowingContinuation { continuation in
            let item = Item(work: { try await work($0) }, resume: { continuation.resume(with: $0) })
            enqueue(item)
        }
        guard let value = result as? T else { throw StoreUnavailable(reason: "unexpected result type") }
        return value
    }

    private func enqueue(_ item: Item) {
        enum Next { case queued, rejected, handOff(CheckedContinuation<[Item], Never>, [Item]) }
        let next: Next = state.withLock { s in
            guard s.running else { return .rejected }
            s.queue.append(item)
            guard !s.waiters.isEmpty else { return .queued }
            let batch = Array(s.queue.prefix(maxBatch))
            s.queue.removeFirst(batch.count)
            return .handOff(s.waiters.removeFirst(), batch)
        }
        switch next {
        case .queued: break
        case .rejected: item.resume(.failure(StoreUnavailable(reason: "the server is shutting down")))
        case .handOff(let waiter, let batch): waiter.resume(returning: batch)
        }
    }

    private func nextBatch() async -> [Item]? {
        await withCheckedContinuation { (continuation: CheckedContinuation<[Item], Never>) in
            let ready: [Item]? = state.withLock { s in
                if !s.queue.isEmpty {
                    let batch = Array(s.queue.prefix(maxBatch))
                    s.queue.removeFirst(batch.count)
                    return batch
                }
                if !s.running { return [] }
                s.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for _ in 0..<workers {
                group.addTask { await self.workerLoop() }
            }
            group.addTask {
                try? await gracefulShutdown()
                self.shutdown()
            }
        }
    }

    private func shutdown() {
        let (items, waiters) = state.withLock { s in
            s.running = false
            defer { s.queue = []; s.waiters = [] }
            return (s.queue, s.waiters)
        }
        for w in waiters { w.resume(returning: []) }
        for i in items { i.resume(.failure(StoreUnavailable(reason: "the server is shutting down"))) }
    }

    private func workerLoop() async {
        while let batch = await nextBatch(), !batch.isEmpty {
            await commit(batch)
        }
    }

    private func commit(_ batch: [Item]) async {
        var outcomes: [(Item, Result<any Sendable, any Error>)] = []
        var retry: [Item] = []
        do {
            try await client.withConnection { conn in
                try await conn.query("BEGIN", logger: logger)
                do {
                    let uow = PostgresUnitOfWork(connection: conn, logger: logger)
                    // A batch of one needs no savepoint: its failure rolls back the transaction, which is
                    // only its own. That saves two round trips per message when the load is light.
                    let isolate = batch.count > 1
                    for item in batch {
                        if isolate { try await conn.query("SAVEPOINT item", logger: logger) }
                        do {
                            let value = try await item.work(uow)
                            if isolate { try await conn.query("RELEASE SAVEPOINT item", logger: logger) }
                            outcomes.append((item, .success(value)))
                        } catch {
                            try await conn.query(isolate ? "ROLLBACK TO SAVEPOINT item" : "ROLLBACK", logger: logger)
                            if !isolate { try await conn.query("BEGIN", logger: logger) }
                            if Self.isTransient(error), item.attempts < 3 {
                                var again = item
                                again.attempts += 1
                                retry.append(again)
                            } else {
                                outcomes.append((item, .failure(error)))
                            }
                        }
                    }
                    try await conn.query("COMMIT", logger: logger)
                } catch {
                    _ = try? await conn.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch {
            logger.error("group commit failed", metadata: ["error.type": "\(String(reflecting: error))", "db.batch": "\(batch.count)"])
            for item in batch { item.resume(.failure(StoreUnavailable(reason: "the database did not commit"))) }
            return
        }
        for (item, outcome) in outcomes { item.resume(outcome) }
        for item in retry { enqueue(item) }
    }

    static func isTransient(_ error: any Error) -> Bool {
        guard let psql = error as? PSQLError, let code = psql.serverInfo?[.sqlState] else { return false }
        return code == "40P01" || code == "40001"
    }
}

/// The database could not take the work; the caller answers a station with InternalError.
public struct StoreUnavailable: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
