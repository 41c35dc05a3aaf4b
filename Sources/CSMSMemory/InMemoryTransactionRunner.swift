public import CSMS
import Foundation

/// Runs each work alone against an `InMemoryDatabase`, one at a time, as Storage's GroupCommitter runs a
/// batch of one: the work's tables are rolled back when it throws, and a database error reaches the caller
/// as GroupCommitter's `classify` makes it (`DatabaseRejection.storeFailure`: class 22 and 23 `rejected`,
/// the rest `unavailable`); every other error passes unchanged.
///
/// Work that hit a database error, swallowed it and returned is rolled back too and fails with
/// `unavailable`, and the database notes an anomaly: on PostgreSQL the COMMIT of an aborted transaction
/// rolls back without an error, so the caller would have been told that work succeeded.
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
        let uow = InMemoryUnitOfWork(database: database, now: database.now)
        let value: T
        do {
            value = try await work(uow)
        } catch let rejection as DatabaseRejection {
            database.restore(saved)
            throw rejection.storeFailure
        } catch {
            database.restore(saved)
            throw error
        }
        if let failure = uow.failure {
            database.restore(saved)
            database.anomaly("work returned after the database refused a statement (\(failure)); PostgreSQL's COMMIT would roll it all back unseen")
            throw StoreFailure.unavailable("the transaction was aborted by \(failure)")
        }
        database.committed()
        return value
    }

    /// A read: run like a transaction, and rolled back (it wrote nothing), so it counts as no commit.
    public func read<T: Sendable>(_ work: @escaping @Sendable (any UnitOfWork) async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        let saved = database.snapshot()
        defer { database.restore(saved) }
        let uow = InMemoryUnitOfWork(database: database, now: database.now)
        do {
            return try await work(uow)
        } catch let rejection as DatabaseRejection {
            throw rejection.storeFailure
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
