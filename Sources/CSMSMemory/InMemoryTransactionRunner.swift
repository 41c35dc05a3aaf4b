public import CSMS
import Foundation

/// Runs each work alone against an `InMemoryDatabase`, one at a time. A work that throws, or that hit a
/// database error it then swallowed, is rolled back to the tables as they were when it started.
public actor InMemoryTransactionRunner: TransactionRunner {
    public let database: InMemoryDatabase
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public init(database: InMemoryDatabase) {
        self.database = database
    }

    public func perform<T: Sendable>(_ work: @escaping @Sendable (any UnitOfWork) async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        let saved = database.snapshot()
        let uow = InMemoryUnitOfWork(database: database, now: database.clock())
        do {
            let value = try await work(uow)
            // PostgreSQL refuses to commit (RELEASE SAVEPOINT) a transaction a statement aborted.
            if let failure = uow.failure { throw failure }
            return value
        } catch {
            database.restore(saved)
            throw error
        }
    }

    private func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}
