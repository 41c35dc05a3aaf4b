import CSMS
import Foundation
import OCPP
import PostgresNIO
import ServiceLifecycle
import Storage
import Testing
import TestSupport

@Suite struct GroupCommitTests {
    /// Runs `body` with a started GroupCommitter on a fresh migrated database.
    func withCommitter(_ body: @Sendable (GroupCommitter, AdminRepository) async throws -> Void) async throws {
        let location = try await TestPostgres.shared.database()
        let logger = TestPostgres.shared.logger
        try await PostgresClient.with(location) { client in
            let committer = GroupCommitter(client: client, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await committer.run() }
                defer { group.cancelAll() }
                try await body(committer, AdminRepository(client: client, logger: logger))
            }
        }
    }

    @Test func concurrentWorkIsCommittedAndAFailingItemRollsBackAlone() async throws {
        try await withCommitter { committer, repo in
            _ = try await repo.createStation(id: "GC-1", passwordHash: nil)
            let service = ChargingService()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<200 {
                    group.addTask {
                        try await committer.perform { uow in
                            try await service.status(uow, stationId: "GC-1", ConnectorStatus(evseId: 1, connectorId: 1, status: "Available", reportedAt: Date(timeIntervalSince1970: Double(i))))
                        }
                    }
                }
                try await group.waitForAll()
            }
            // A failing item (unknown station violates the foreign key) does not take the batch down.
            await #expect(throws: (any Error).self) {
                try await committer.perform { uow in
                    _ = try await uow.recordStatus(stationId: "NO-SUCH", ConnectorStatus(evseId: 1, connectorId: 1, status: "Faulted", reportedAt: Date()))
                }
            }
            let rows = try await repo.client.query("SELECT count(*)::int FROM status_history WHERE station_id = 'GC-1'", logger: repo.logger)
            for try await n in rows.decode(Int.self) { #expect(n == 200) }
        }
    }

    @Test func startsAreIdempotentAndMeterValuesAreStoredOnce() async throws {
        try await withCommitter { committer, repo in
            _ = try await repo.createStation(id: "GC-2", passwordHash: nil)
            _ = try await repo.upsertToken(IdToken(value: "TOK"))
            let service = ChargingService()
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            let start: @Sendable () async throws -> ChargingService.StartResult = {
                try await committer.perform { uow in
                    try await service.start(uow, stationId: "GC-2", connector: .fromOCPP16(connectorId: 1), idToken: "TOK", startedAt: t0, meterStartWh: 100, reservationId: nil, now: t0)
                }
            }
            let first = try await start()
            let again = try await start()
            #expect(first.transactionId == again.transactionId && again.duplicate && !first.duplicate)
            let sample = MeterSample(sampledAt: t0.addingTimeInterval(60), measurand: MeterSample.energyImportRegister, value: 150, unit: "Wh", rawValue: "150")
            for _ in 0..<3 {
                try await committer.perform { uow in
                    try await service.meterValues(uow, stationId: "GC-2", evseId: 1, transactionId: first.transactionId, samples: [sample], rawPayload: .object([:]), now: t0)
                }
            }
            #expect(try await repo.meterValues(transactionId: first.transactionId).count == 1)
            _ = try await committer.perform { uow in
                try await service.stop(uow, stationId: "GC-2", transactionId: first.transactionId, idToken: nil, stoppedAt: t0.addingTimeInterval(600), meterStopWh: 400, reason: nil, samples: [], rawPayload: .object([:]), now: t0)
            }
            let tx = try #require(try await repo.transaction(id: first.transactionId))
            #expect(tx.state == .ended && tx.energyWh == 300)
        }
    }
}
