import CSMS
import Foundation
import OCPP
import PostgresNIO
import ServiceLifecycle
import Storage
import Synchronization
import Testing
import TestSupport

@Suite(.serialized) struct GroupCommitTests {
    /// Queues `count` status reports (item `failing` names an unknown station) before the committer runs,
    /// so that one worker takes them all as one batch and the per-item savepoints are exercised.
    @Test func aFailingItemInARealBatchRollsBackAlone() async throws {
        try await Harness.with(workers: 1, startCommitter: false) { h in
            try await h.station("GC-1")
            let service = h.service
            let committer = h.committer
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<40 {
                    group.addTask {
                        do {
                            try await committer.perform { uow in
                                try await service.status(uow, stationId: i == 17 ? "NO-SUCH" : "GC-1", ConnectorStatus(evseId: 1, connectorId: 1, status: "Available", reportedAt: Date(timeIntervalSince1970: Double(i))))
                            }
                            return true
                        } catch {
                            return false
                        }
                    }
                }
                while committer.queued < 40 { try await Task.sleep(for: .milliseconds(10)) }
                group.addTask {
                    try await committer.run()
                    return true
                }
                var ok = 0
                var failed = 0
                for _ in 0..<40 { if try await group.next()! { ok += 1 } else { failed += 1 } }
                group.cancelAll()
                #expect(ok == 39 && failed == 1)
            }
            #expect(committer.statistics.batches == 1 && committer.statistics.items == 40)
            // It ran optimistically first, failed on item 17, and ran again with a savepoint per item.
            #expect(committer.statistics.isolatedBatches == 1)
            #expect(try await h.count("SELECT count(*)::int FROM status_history WHERE station_id = 'GC-1'") == 39)
            #expect(try await h.count("SELECT count(*)::int FROM outbox WHERE topic = 'connector.status'") == 39)
        }
    }

    /// Work that outlives the deadline answers its caller with `unavailable` in bounded time; work in the
    /// same batch that was answered before it started is never run; and the hung batch does not hold the
    /// worker (a query on a dead connection ignores cancellation): later work commits while it still hangs.
    @Test func theDeadlineAnswersCallersAndSkipsWorkAlreadyAnswered() async throws {
        try await Harness.with(workers: 1, deadline: .milliseconds(300), startCommitter: false) { h in
            try await h.station("GC-2")
            let committer = h.committer
            let clock = ContinuousClock()
            let slowEnded = Atomic<Bool>(false)
            // Work that ignores cancellation, and an item queued behind it in the same batch.
            let slow = Task {
                try await committer.perform { _ in
                    await Task.detached { try? await Task.sleep(for: .seconds(3)) }.value
                    slowEnded.store(true, ordering: .sequentiallyConsistent)
                }
            }
            while committer.queued < 1 { try await Task.sleep(for: .milliseconds(5)) }
            let queued = Task {
                try await committer.perform { uow in
                    try await uow.recordStationEvent(stationId: "GC-2", kind: "late", payload: .object([:]), suspect: false, at: Date())
                }
            }
            while committer.queued < 2 { try await Task.sleep(for: .milliseconds(5)) }
            let began = clock.now
            let running = Task { try await committer.run() }
            defer { running.cancel() }
            await #expect(throws: StoreFailure.self) { try await slow.value }
            await #expect(throws: StoreFailure.self) { try await queued.value }
            #expect(clock.now - began < .seconds(2), "answered by the deadline, not when the work ends")
            // The worker is free again although the slow work still runs: later work commits meanwhile.
            var committed = false
            for _ in 0..<10 where !committed {
                committed = (try? await committer.perform { uow in
                    try await uow.recordStationEvent(stationId: "GC-2", kind: "later", payload: .object([:]), suspect: false, at: Date())
                }) != nil
            }
            #expect(committed && !slowEnded.load(ordering: .sequentiallyConsistent), "later work waited for the hung batch")
            // Once the slow work ends, its batch goes on and skips the item answered before it started.
            while !slowEnded.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(50)) }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await h.count("SELECT count(*)::int FROM station_events WHERE kind = 'late'") == 0)
            #expect(try await h.count("SELECT count(*)::int FROM station_events WHERE kind = 'later'") >= 1)
        }
    }

    @Test func startsAreIdempotentAndMeterValuesAreStoredOnce() async throws {
        try await Harness.with { h in
            try await h.station("GC-3")
            _ = try await h.repo.upsertToken(IdToken(value: "TOK"))
            let service = h.service
            let committer = h.committer
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            let start: @Sendable () async throws -> ChargingService.StartResult = {
                try await committer.perform { uow in
                    try await service.start(uow, stationId: "GC-3", connector: .fromOCPP16(connectorId: 1), idToken: "TOK", startedAt: t0, meterStartWh: 100, reservationId: nil, now: t0)
                }
            }
            let first = try await start()
            let again = try await start()
            #expect(first.transactionId == again.transactionId && again.duplicate && !first.duplicate)
            let sample = MeterSample(sampledAt: t0.addingTimeInterval(60), measurand: MeterSample.energyImportRegister, value: 150, unit: "Wh", rawValue: "150")
            for _ in 0..<3 {
                try await committer.perform { uow in
                    try await service.meterValues(uow, stationId: "GC-3", evseId: 1, transactionId: first.transactionId, samples: [sample], rawPayload: .object([:]), now: t0)
                }
            }
            #expect(try await h.repo.meterValues(transactionId: first.transactionId).count == 1)
            _ = try await committer.perform { uow in
                try await service.stop(uow, stationId: "GC-3", transactionId: first.transactionId, idToken: nil, stoppedAt: t0.addingTimeInterval(600), meterStopWh: 400, reason: nil, samples: [], rawPayload: .object([:]), now: t0)
            }
            let tx = try #require(try await h.repo.transaction(id: first.transactionId))
            #expect(tx.state == .ended && tx.energyWh == 300)
        }
    }

    /// MeterValues from many stations that arrive together are applied as one bulk work: one lookup of the
    /// transactions they name and one insert of all their samples. Each station's samples keep their own
    /// transaction, a transaction of another station is not taken, a correction between two CALLs of one
    /// station in the same batch is flagged as it would be one after the other, and an input that fails
    /// (one the database refuses) is refused alone while the rest of its batch commits.
    @Test func meterValuesOfManyStationsAreAppliedTogether() async throws {
        try await Harness.with(workers: 1) { h in
            for i in 0..<8 { try await h.station("MV-\(i)") }
            let tx = try await h.count(
                "WITH t AS (INSERT INTO transactions (uid, ocpp_version, station_id, evse_id, connector_id, state, meter_start_wh) VALUES ('x', 'ocpp1.6', 'MV-0', 1, 1, 'Active', 0) RETURNING id) SELECT id::int FROM t"
            )
            func meterValues(_ value: String, transaction: Int? = nil) -> String {
                let id = transaction.map { #","transactionId":\#($0)"# } ?? ""
                return #"{"connectorId":1\#(id),"meterValue":[{"timestamp":"2026-01-01T10:00:00Z","sampledValue":[{"value":"\#(value)"}]}]}"#
            }
            let calls: [(String, String)] = [("MV-0", meterValues("100", transaction: tx))] + (1...5).map { ("MV-\($0)", meterValues("10\($0)")) } + [
                ("MV-6", meterValues("106", transaction: tx)), ("MV-7", meterValues("200")), ("MV-7", meterValues("201")),
            ]
            let committer = h.committer
            func batch(_ calls: [(String, String)]) async throws -> [Frame] {
                try await h.batch(calls.enumerated().map { (i, c) in (.v16, c.0, "MeterValues", c.1, "mv-\(i)") })
            }
            let first = try await batch(calls)
            #expect(first.count == 9 && first.allSatisfy { $0.isResult })
            #expect(committer.statistics.bulkInputs == 9 && committer.statistics.isolatedBatches == 0)
            #expect(try await h.count("SELECT count(*)::int FROM meter_values") == 9)
            #expect(try await h.count("SELECT count(*)::int FROM meter_values WHERE transaction_id = \(tx)") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM meter_values WHERE transaction_id = \(tx) AND station_id = 'MV-0' AND raw_value = '100'") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM station_events WHERE kind = 'MeterValues.unknownTransaction' AND station_id = 'MV-6'") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM meter_values WHERE correction") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM meter_values WHERE correction AND station_id = 'MV-7' AND raw_value = '201'") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM station_events WHERE kind = 'MeterValues.suspect'") == 1)

            // A batch with an input that cannot be stored (here a constraint the test adds; meter values name no
            // parent by key since 0013): it alone is refused.
            try await h.client.query("ALTER TABLE meter_values ADD CONSTRAINT test_refused CHECK (station_id <> 'NO-SUCH')", logger: TestPostgres.shared.logger)
            let second = try await batch((1...4).map { ("MV-\($0)", meterValues("30\($0)")) } + [("NO-SUCH", meterValues("1"))])
            #expect(second.prefix(4).allSatisfy { $0.isResult })
            #expect(second.last?.errorCode == "PropertyConstraintViolation")
            #expect(committer.statistics.isolatedBatches == 1)
            #expect(try await h.count("SELECT count(*)::int FROM meter_values") == 13)
        }
    }

    /// Boots of many stations in one batch are one bulk work, with the reply guard around it: a replayed
    /// boot gets its kept reply and appends no event, a boot that comes twice in the batch is applied once,
    /// and each station gets its own registration.
    @Test func bootsOfManyStationsAreAppliedTogether() async throws {
        try await Harness.with(workers: 1) { h in
            for i in 0..<5 { try await h.station("BT-\(i)") }
            _ = try await h.repo.createStation(id: "BT-P", passwordHash: nil, registrationStatus: .pending)
            let boot16 = #"{"chargePointVendor":"V","chargePointModel":"M"}"#
            let boot201 = #"{"reason":"PowerUp","chargingStation":{"vendorName":"V2","model":"M2"}}"#
            // BT-0 booted once before: its replay must be answered from the kept reply.
            let earlier = try await h.call(.v16, "BT-0", "BootNotification", boot16, id: "b-0")
            #expect(try await h.count("SELECT count(*)::int FROM outbox WHERE topic = 'station.booted'") == 1)
            let frames = try await h.batch([
                (.v16, "BT-0", "BootNotification", boot16, "b-0"),
                (.v16, "BT-1", "BootNotification", boot16, "b-1"),
                (.v201, "BT-2", "BootNotification", boot201, "b-2"),
                (.v16, "BT-3", "BootNotification", boot16, "b-3"),
                (.v16, "BT-3", "BootNotification", boot16, "b-3"),
                (.v201, "BT-4", "BootNotification", boot201, "b-4"),
                (.v16, "BT-P", "BootNotification", boot16, "b-p"),
            ])
            #expect(frames.count == 7 && frames.allSatisfy { $0.isResult })
            #expect(frames[0].result == earlier.result, "the replay gets the reply kept for it")
            #expect(frames[3].result == frames[4].result)
            #expect(frames.map { $0.result?["status"]?.stringValue } == ["Accepted", "Accepted", "Accepted", "Accepted", "Accepted", "Accepted", "Pending"])
            // Two bulk works (one per version), the 1.6 one for 5 CALLs, the 2.0.1 one for 2.
            #expect(h.committer.statistics.bulkInputs == 7)
            // One new event per station that booted now: BT-1, BT-2, BT-3 (once), BT-4, BT-P.
            #expect(try await h.count("SELECT count(*)::int FROM outbox WHERE topic = 'station.booted'") == 6)
            #expect(try await h.count("SELECT count(*)::int FROM outbox WHERE topic = 'station.booted' AND payload->>'stationId' = 'BT-3'") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM stations WHERE last_boot_at IS NOT NULL") == 6)
            #expect(try await h.count("SELECT count(*)::int FROM stations WHERE id = 'BT-2' AND vendor = 'V2' AND boot_reason = 'PowerUp' AND ocpp_version = 'ocpp2.0.1'") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM inbound_replies WHERE action = 'BootNotification'") == 6)
        }
    }
}
