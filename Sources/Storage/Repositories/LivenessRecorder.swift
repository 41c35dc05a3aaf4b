public import CSMS
public import Foundation
public import Logging
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// `last_seen_at`, written behind. A Heartbeat (and any frame) carries no data beyond "this station is
/// alive", so it is answered at once and its time is kept here, then written for every station seen, in
/// one statement, every `interval`. A write that fails keeps its times for the next one, and graceful
/// shutdown writes what is left. At most one interval of liveness is lost in a crash, never data.
public final class LivenessRecorder: StationLiveness, Service {
    private let client: PostgresClient
    private let logger: Logger
    private let interval: Duration
    private let deadline: Duration
    private let pending = Mutex<[String: Date]>([:])

    public init(client: PostgresClient, logger: Logger, interval: Duration = .seconds(5), deadline: Duration = .seconds(5)) {
        self.client = client
        self.logger = logger
        self.interval = interval
        self.deadline = deadline
    }

    public func seen(stationId: String, at: Date) {
        pending.withLock { p in
            if let known = p[stationId], known >= at { return }
            p[stationId] = at
        }
    }

    /// Stations whose time waits to be written.
    public var backlog: Int { pending.withLock { $0.count } }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: self.interval) } catch { break }
                await self.flush()
            }
        }
        await flush()
    }

    /// Writes every pending time; on failure they are kept (the newer of two times wins).
    public func flush() async {
        let batch = pending.withLock { p in defer { p = [:] }; return p }
        guard !batch.isEmpty else { return }
        let ids = Array(batch.keys)
        let times = ids.map { batch[$0]! }
        do {
            try await withDeadline(deadline) { [client, logger] in
                try await client.query(
                    """
                    UPDATE stations SET last_seen_at = v.at
                    FROM unnest(\(ids)::text[], \(times)::timestamptz[]) AS v(id, at)
                    WHERE stations.id = v.id AND (stations.last_seen_at IS NULL OR stations.last_seen_at < v.at)
                    """,
                    logger: logger
                )
            }
        } catch {
            logger.warning("could not write station liveness; kept for the next write", metadata: ["stations": "\(batch.count)", "error.type": "\(String(reflecting: error))"])
            pending.withLock { p in p.merge(batch) { max($0, $1) } }
        }
    }
}
