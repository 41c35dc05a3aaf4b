import CSMS
import Foundation
import OCPP
import PostgresNIO
import Storage
import Synchronization
import Testing
import TestSupport

/// A fresh migrated database with a running group committer, the domain service and the inbound dispatcher
/// of both versions: the whole inbound path below the socket, on a real PostgreSQL.
struct Harness: Sendable {
    let client: PostgresClient
    let committer: GroupCommitter
    let repo: AdminRepository
    var service = ChargingService()

    static func with(
        workers: Int = 2, deadline: Duration = .seconds(5), startCommitter: Bool = true, service: ChargingService = ChargingService(),
        _ body: @Sendable (Harness) async throws -> Void
    ) async throws {
        let location = try await TestPostgres.shared.database()
        let logger = TestPostgres.shared.logger
        try await PostgresClient.with(location) { client in
            let committer = GroupCommitter(client: client, logger: logger, workers: workers, deadline: deadline)
            try await withThrowingTaskGroup(of: Void.self) { group in
                if startCommitter { group.addTask { try await committer.run() } }
                defer { group.cancelAll() }
                try await body(Harness(client: client, committer: committer, repo: AdminRepository(client: client, logger: logger), service: service))
            }
        }
    }

    func dispatcher(runner: (any TransactionRunner)? = nil) -> InboundDispatcher {
        InboundDispatcher(runner: runner ?? committer, adapters: [.v16: OCPP16Adapter(service: service), .v201: OCPP201Adapter(service: service)])
    }

    /// Sends one CALL through the dispatcher and returns the reply frame.
    @discardableResult
    func call(_ version: OCPPVersion, _ station: String, _ action: String, _ payload: String, id: String = UUID().uuidString, runner: (any TransactionRunner)? = nil) async throws -> Frame {
        let value = try JSONParser.parse(payload)
        return await dispatcher(runner: runner).answer(id: id, action: action, payload: value, version: version, stationId: station, registration: .accepted, now: Date()).frame
    }

    /// Sends the CALLs so that one worker (`workers: 1`) takes them all as one batch: the worker is held by
    /// a gate while they queue behind it, in order. Their reply frames, in order.
    func batch(_ calls: [(OCPPVersion, String, String, String, String)]) async throws -> [Frame] {
        let before = committer.statistics.batches
        let held = Atomic<Bool>(false)
        let release = Atomic<Bool>(false)
        let committer = self.committer
        let gate = Task {
            try await committer.perform { _ in
                held.store(true, ordering: .sequentiallyConsistent)
                while !release.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(5)) }
            }
        }
        while !held.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(5)) }
        return try await withThrowingTaskGroup(of: (Int, Frame).self) { group in
            for (i, (version, station, action, payload, id)) in calls.enumerated() {
                group.addTask { (i, try await self.call(version, station, action, payload, id: id)) }
                while committer.queued < i + 1 { try await Task.sleep(for: .milliseconds(5)) }
            }
            release.store(true, ordering: .sequentiallyConsistent)
            try await gate.value
            var frames = [Frame?](repeating: nil, count: calls.count)
            for try await (i, frame) in group { frames[i] = frame }
            #expect(committer.statistics.batches == before + 2, "the gate, then all the CALLs in one batch")
            return frames.compactMap { $0 }
        }
    }

    func station(_ id: String) async throws {
        _ = try await repo.createStation(id: id, passwordHash: nil)
    }

    func count(_ sql: String) async throws -> Int {
        try await client.scalar(Int.self, PostgresQuery(unsafeSQL: sql))
    }

    /// Rows in every table a station's messages write, keyed by table.
    func rowCounts() async throws -> [String: Int] {
        var out: [String: Int] = [:]
        for table in ["stations", "connectors", "status_history", "transactions", "transaction_events", "meter_values", "station_events", "outbox", "reservations", "certificate_signing_requests"] {
            out[table] = try await count("SELECT count(*)::int FROM \(table)")
        }
        out["stations.last_boot_at"] = try await count("SELECT count(DISTINCT last_boot_at)::int FROM stations")
        return out
    }
}

extension Frame {
    var isResult: Bool { if case .callResult = self { true } else { false } }
    var errorCode: String? { if case .callError(_, let code, _, _) = self { code } else { nil } }
    var result: JSONValue? { if case .callResult(_, let p) = self { p } else { nil } }
    var errorDescription: String? { if case .callError(_, _, let d, _) = self { d } else { nil } }
}

extension JSONValue {
    var int64Value: Int64? { if case .number(let n) = self { n.int64Value } else { nil } }
}
