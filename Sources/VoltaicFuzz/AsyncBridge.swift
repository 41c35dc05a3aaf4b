import Dispatch
import Synchronization

/// Runs async work to completion from libFuzzer's synchronous callback, on the calling thread. The work's
/// task prefers `InlineExecutor`, so every job of it — the start, each resumption after an actor hop (the
/// in-memory runner is an actor; default actors run on the task's preferred executor) — is queued there,
/// and the calling thread runs the queue until the work is done. No other thread is involved, so an input
/// costs no context switch; `voltaic-fuzz --measure` prints what the bridge costs.
enum AsyncBridge {
    static let executor = InlineExecutor()

    static func run<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let box = ResultBox<T>()
        Task(executorPreference: executor) {
            box.set(await body())
        }
        executor.drain { box.isSet }
        return box.value!
    }
}

/// A task executor whose jobs run only when `drain` runs them, on the thread that calls it.
final class InlineExecutor: TaskExecutor, @unchecked Sendable {
    private let queue = Mutex<[UnownedJob]>([])
    /// Counts queued jobs, so that a drain with nothing to run sleeps until a job arrives (from another
    /// thread: a continuation resumed elsewhere). Nothing in the in-memory world does that.
    private let ready = DispatchSemaphore(value: 0)

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        queue.withLock { $0.append(unowned) }
        ready.signal()
    }

    func drain(until done: () -> Bool) {
        while !done() {
            ready.wait()
            guard let job = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// Written by the task before `isSet` turns true, and read only after.
private final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let flag = Atomic<Bool>(false)
    var value: T?

    func set(_ v: T) {
        value = v
        flag.store(true, ordering: .releasing)
    }

    var isSet: Bool { flag.load(ordering: .acquiring) }
}
