import Foundation
import Synchronization

/// Runs an operation against a deadline and returns at the deadline even when the operation does not.
///
/// A postgres-nio query already sent on a connection to a server that stopped answering cannot be
/// cancelled, so a child task would keep its parent (and the HTTP response) waiting. The operation
/// therefore runs in its own task, which is cancelled when the deadline passes or the caller is
/// cancelled; whichever of the operation, the timer and the cancellation comes first answers.
public enum Deadline {
    public struct Exceeded: Error, CustomStringConvertible {
        public var description: String { "no answer within the deadline" }
    }

    public static func run<T: Sendable>(within limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let race = Race<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                race.start(
                    continuation,
                    work: Task { race.finish(await Result(catching: operation)) },
                    timer: Task {
                        try? await Task.sleep(for: limit)
                        race.finish(.failure(Exceeded()))
                    }
                )
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }

    private final class Race<T: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<T, any Error>?
            var outcome: Result<T, any Error>?
            var tasks: [Task<Void, Never>] = []
        }
        private let state = Mutex(State())

        func start(_ continuation: CheckedContinuation<T, any Error>, work: Task<Void, Never>, timer: Task<Void, Never>) {
            let early: Result<T, any Error>? = state.withLock { s in
                s.tasks = [work, timer]
                if let outcome = s.outcome { return outcome }
                s.continuation = continuation
                return nil
            }
            if let early {
                work.cancel()
                timer.cancel()
                continuation.resume(with: early)
            }
        }

        /// The first outcome answers; the others are dropped and both tasks are cancelled.
        func finish(_ outcome: Result<T, any Error>) {
            let (continuation, tasks): (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) = state.withLock { s in
                guard s.outcome == nil else { return (nil, []) }
                s.outcome = outcome
                defer { s.continuation = nil }
                return (s.continuation, s.tasks)
            }
            for task in tasks { task.cancel() }
            continuation?.resume(with: outcome)
        }
    }
}

extension Result where Failure == any Error {
    public init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}


extension Duration {
    /// Seconds with their fraction, for SQL intervals.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
