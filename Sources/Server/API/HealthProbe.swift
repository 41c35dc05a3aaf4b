import Foundation
import Logging
import PostgresNIO
import Storage
import Synchronization

/// The database half of `/health`, answered within a second whatever the database does: a probe's result
/// is kept for `cacheFor`, a probe counts as failed after `limit`, and only one probe runs at a time.
final class HealthProbe: Sendable {
    private let client: PostgresClient
    private let logger: Logger
    private let cacheFor: Duration
    private let limit: Duration
    /// A probe still running after this long is given up and a fresh one started.
    private let abandonAfter: Duration

    private struct State {
        var cached: (up: Bool, at: ContinuousClock.Instant)?
        var probe: (task: Task<Bool, Never>, started: ContinuousClock.Instant)?
    }
    private let state = Mutex(State())

    init(client: PostgresClient, logger: Logger, cacheFor: Duration = .seconds(1), limit: Duration = .milliseconds(800), abandonAfter: Duration = .seconds(5)) {
        self.client = client
        self.logger = logger
        self.cacheFor = cacheFor
        self.limit = limit
        self.abandonAfter = abandonAfter
    }

    func databaseUp() async -> Bool {
        let now = ContinuousClock.now
        let (cached, probe): (Bool?, Task<Bool, Never>?) = state.withLock { s in
            if let c = s.cached, now - c.at < cacheFor { return (c.up, nil) }
            if let p = s.probe, now - p.started < abandonAfter { return (nil, p.task) }
            s.probe?.task.cancel()
            let (client, logger) = (client, logger)
            // The probe records its own result when it ends, however late: a probe that outlived its
            // caller's deadline must not be read later as if it were fresh.
            let task = Task { [weak self] in
                let up = (try? await client.query("SELECT 1", logger: logger).collect()) != nil
                self?.state.withLock { s in
                    s.cached = (up, .now)
                    s.probe = nil
                }
                return up
            }
            s.probe = (task, now)
            return (nil, task)
        }
        if let cached { return cached }
        guard let probe else { return false }
        if let up = try? await Deadline.run(within: limit, { await probe.value }) { return up }
        state.withLock { s in s.cached = (false, .now) }
        return false
    }
}
