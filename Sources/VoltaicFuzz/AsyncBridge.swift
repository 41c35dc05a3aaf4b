import Dispatch

/// Runs async work to completion from libFuzzer's synchronous callback: a detached task does the work
/// and a semaphore holds the calling thread until it is done. Nothing the work awaits suspends for long
/// (the in-memory store never waits), so the hop costs a few microseconds; `voltaic-fuzz --measure`
/// prints how many.
enum AsyncBridge {
    static func run<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            box.value = await body()
            done.signal()
        }
        done.wait()
        return box.value!
    }
}

/// Written by the task before the semaphore is signalled and read by the waiter only after.
private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
