import CSMS
import Foundation
import OCPP
import PostgresNIO
import Storage
import TestSupport

/// A fresh migrated database with a running group committer, the domain service and the inbound dispatcher
/// of both versions: the whole inbound path below the socket, on a real PostgreSQL.
struct Harness: Sendable {
    let client: PostgresClient
    let committer: GroupCommitter
    let repo: AdminRepository
    let service = ChargingService()

    static func with(
        workers: Int = 2, deadline: Duration = .seconds(5), startCommitter: Bool = true, _ body: @Sendable (Harness) async throws -> Void
    ) async throws {
        let location = try await TestPostgres.shared.database()
        let logger = TestPostgres.shared.logger
        try await PostgresClient.with(location) { client in
            let committer = GroupCommitter(client: client, logger: logger, workers: workers, deadline: deadline)
            try await withThrowingTaskGroup(of: Void.self) { group in
                if startCommitter { group.addTask { try await committer.run() } }
                defer { group.cancelAll() }
                try await body(Harness(client: client, committer: committer, repo: AdminRepository(client: client, logger: logger)))
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

    func station(_ id: String) async throws {
        _ = try await repo.createStation(id: id, passwordHash: nil)
    }

    func count(_ sql: String) async throws -> Int {
        try await client.scalar(Int.self, PostgresQuery(unsafeSQL: sql))
    }

    /// Rows in every table a station's messages write, keyed by table.
    func rowCounts() async throws -> [String: Int] {
        var out: [String: Int] = [:]
        for table in ["stations", "connectors", "status_history", "transactions", "transaction_events", "meter_values", "station_events", "outbox", "reservations"] {
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
