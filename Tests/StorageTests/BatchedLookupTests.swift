import Storage
import Synchronization
import Testing

@Suite struct BatchedLookupTests {
    final class Reads: Sendable {
        let batches = Mutex<[[Int]]>([])
    }

    /// 2,000 concurrent lookups are answered, each with its own value, by far fewer reads, none larger than
    /// the cap; a key the read does not return is nil.
    @Test func concurrentLookupsShareReads() async throws {
        let log = Reads()
        let lookup = BatchedLookup<Int, String>(leaders: 2, maxBatch: 300, timeout: .seconds(10)) { keys in
            log.batches.withLock { $0.append(keys) }
            try await Task.sleep(for: .milliseconds(5))
            return Dictionary(uniqueKeysWithValues: keys.filter { $0 % 7 != 0 }.map { ($0, "v\($0)") })
        }
        let answers = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for k in 0..<2000 { group.addTask { (k, try await lookup.value(for: k)) } }
            var out: [Int: String?] = [:]
            for try await (k, v) in group { out[k] = v }
            return out
        }
        #expect(answers.count == 2000)
        for k in 0..<2000 { #expect(answers[k]! == (k % 7 == 0 ? nil : "v\(k)")) }
        let batches = log.batches.withLock { $0 }
        #expect(batches.map(\.count).reduce(0, +) == 2000, "every key is read exactly once")
        #expect(batches.allSatisfy { $0.count <= 300 })
        #expect(batches.count < 100, "\(batches.count) reads for 2,000 lookups")
        #expect(lookup.reads == batches.count)
    }

    struct Down: Error {}

    /// A failed read fails every lookup in its batch, and the next lookups are read again.
    @Test func aFailedReadFailsItsBatchOnly() async throws {
        let failing = Mutex(true)
        let lookup = BatchedLookup<Int, Int>(leaders: 1, timeout: .seconds(10)) { keys in
            if failing.withLock({ $0 }) {
                try await Task.sleep(for: .milliseconds(20))
                throw Down()
            }
            return Dictionary(uniqueKeysWithValues: keys.map { ($0, $0 * 2) })
        }
        let failures = await withTaskGroup(of: Bool.self) { group in
            for k in 0..<50 { group.addTask { (try? await lookup.value(for: k)) == nil } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 50)
        failing.withLock { $0 = false }
        #expect(try await lookup.value(for: 21) == 42)
    }

    /// A read that never returns is given up at the timeout: its lookups fail, and the lead moves on.
    @Test func aHungReadTimesOut() async throws {
        let hang = Mutex(true)
        let lookup = BatchedLookup<Int, Int>(leaders: 1, timeout: .milliseconds(200)) { keys in
            if hang.withLock({ let h = $0; $0 = false; return h }) { try await Task.sleep(for: .seconds(3600)) }
            return Dictionary(uniqueKeysWithValues: keys.map { ($0, $0) })
        }
        await #expect(throws: Deadline.Exceeded.self) { try await lookup.value(for: 1) }
        #expect(try await lookup.value(for: 2) == 2)
    }

    /// A waiter whose caller gave up (cancelled: its handshake deadline passed) and that is then handed the
    /// lead still reads for the others in its batch.
    @Test func aCancelledLeaderStillAnswersItsBatch() async throws {
        let lookup = BatchedLookup<Int, Int>(leaders: 1, timeout: .seconds(10)) { keys in
            try await Task.sleep(for: .milliseconds(100))
            return Dictionary(uniqueKeysWithValues: keys.map { ($0, $0 + 1) })
        }
        let first = Task { try await lookup.value(for: 0) }
        try await Task.sleep(for: .milliseconds(20))
        let others = (1...20).map { k in Task { try await lookup.value(for: k) } }
        try await Task.sleep(for: .milliseconds(20))
        others[0].cancel()
        #expect(try await first.value == 1)
        for (i, task) in others.enumerated() { #expect(try await task.value == i + 2) }
    }
}
