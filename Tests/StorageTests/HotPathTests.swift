import CSMS
import Foundation
import OCPP
import PostgresNIO
import Storage
import Testing
import TestSupport

/// The fast paths keep the rule: nothing that carries data is acknowledged before its COMMIT, and what
/// carries only liveness never waits on the database.
@Suite(.serialized) struct HotPathTests {
    /// A deferred constraint trigger fails the COMMIT after all the work ran: the CALL gets InternalError,
    /// never a CALLRESULT, and nothing is kept. The same message is applied once the commit can succeed.
    @Test(arguments: [1, 24]) func aCommitThatFailsAfterTheWorkGivesNoCallResult(_ batch: Int) async throws {
        try await Harness.with(workers: 1) { h in
            try await h.station("HP-1")
            _ = try await h.repo.upsertToken(IdToken(value: "TOK"))
            let start = try await h.call(.v16, "HP-1", "StartTransaction", #"{"connectorId":1,"idTag":"TOK","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}"#)
            let tx = try #require(start.result?["transactionId"]?.int64Value)
            let logger = TestPostgres.shared.logger
            try await h.client.query(
                """
                CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'commit refused by the test' USING ERRCODE = '40003'; END $$
                """,
                logger: logger
            )
            try await h.client.query(
                "CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON meter_values DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_at_commit()",
                logger: logger
            )
            func meterValues(_ i: Int) -> String {
                #"{"connectorId":1,"transactionId":\#(tx),"meterValue":[{"timestamp":"2026-01-01T00:\#(String(format: "%02d", i + 1)):00Z","sampledValue":[{"value":"\#(100 * (i + 1))"}]}]}"#
            }
            let frames = try await withThrowingTaskGroup(of: Frame.self) { group in
                for i in 0..<batch { group.addTask { try await h.call(.v16, "HP-1", "MeterValues", meterValues(i), id: "mv-\(i)") } }
                return try await group.reduce(into: [Frame]()) { $0.append($1) }
            }
            #expect(frames.count == batch)
            #expect(frames.allSatisfy { $0.errorCode == "InternalError" }, "\(frames.map(\.serialized))")
            #expect(try await h.count("SELECT count(*)::int FROM meter_values") == 0)

            // The retry, with the same ids, is applied once the database commits again.
            try await h.client.query("DROP TRIGGER fail_at_commit ON meter_values", logger: logger)
            for i in 0..<batch {
                #expect(try await h.call(.v16, "HP-1", "MeterValues", meterValues(i), id: "mv-\(i)").isResult)
            }
            #expect(try await h.count("SELECT count(*)::int FROM meter_values") == batch)
        }
    }

    /// A Heartbeat is answered without the database: here every transaction fails, and it is still answered.
    @Test func aHeartbeatNeedsNoTransaction() async throws {
        try await Harness.with { h in
            struct Down: TransactionRunner {
                func perform<T: Sendable>(_ work: @escaping @Sendable (any UnitOfWork) async throws -> T) async throws -> T {
                    throw StoreFailure.unavailable("down for the test")
                }
            }
            for version in [OCPPVersion.v16, .v201] {
                let frame = try await h.call(version, "HP-2", "Heartbeat", "{}", runner: Down())
                #expect(frame.result?["currentTime"]?.stringValue != nil, "\(frame.serialized)")
            }
            // Decoding and range checks happen before the transaction: a value out of range is refused as
            // such even while the database is down, and never costs a batch its optimistic run.
            let outOfRange = try await h.call(.v16, "HP-2", "StartTransaction", #"{"connectorId":2147483648,"idTag":"T","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}"#, runner: Down())
            #expect(outOfRange.errorCode == "PropertyConstraintViolation", "\(outOfRange.serialized)")
            // Anything that writes still needs it.
            let status = try await h.call(.v16, "HP-2", "StatusNotification", #"{"connectorId":1,"errorCode":"NoError","status":"Available"}"#, runner: Down())
            #expect(status.errorCode == "InternalError")
        }
    }

    /// Liveness is written behind, in one statement for all stations; a newer time is never overwritten by
    /// an older one, and a failed write keeps its times for the next.
    @Test func livenessIsWrittenBehindNewestFirst() async throws {
        try await Harness.with { h in
            for i in 0..<50 { try await h.station("LV-\(i)") }
            let recorder = LivenessRecorder(client: h.client, logger: TestPostgres.shared.logger, interval: .seconds(3600))
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            for i in 0..<50 { recorder.seen(stationId: "LV-\(i)", at: t0.addingTimeInterval(Double(i))) }
            recorder.seen(stationId: "LV-0", at: t0.addingTimeInterval(-100))  // older: ignored
            #expect(recorder.backlog == 50)
            #expect(try await h.count("SELECT count(*)::int FROM stations WHERE last_seen_at IS NOT NULL") == 0)
            await recorder.flush()
            #expect(recorder.backlog == 0)
            #expect(try await h.count("SELECT count(*)::int FROM stations WHERE last_seen_at = to_timestamp(1800000000) + (substr(id, 4)::int * interval '1 second')") == 50)
            // A time older than the stored one does not move it back.
            recorder.seen(stationId: "LV-1", at: t0)
            await recorder.flush()
            #expect(try await h.count("SELECT count(*)::int FROM stations WHERE id = 'LV-1' AND last_seen_at = to_timestamp(1800000001)") == 1)

            // The database refuses the write (the column is renamed away): the times are kept, then written.
            let logger = TestPostgres.shared.logger
            try await h.client.query("ALTER TABLE stations RENAME COLUMN last_seen_at TO seen_elsewhere", logger: logger)
            recorder.seen(stationId: "LV-2", at: t0.addingTimeInterval(1000))
            await recorder.flush()
            #expect(recorder.backlog == 1)
            try await h.client.query("ALTER TABLE stations RENAME COLUMN seen_elsewhere TO last_seen_at", logger: logger)
            await recorder.flush()
            #expect(recorder.backlog == 0)
            #expect(try await h.count("SELECT count(*)::int FROM stations WHERE id = 'LV-2' AND last_seen_at = to_timestamp(1800001000)") == 1)
        }
    }

    /// A storm of connects costs a few coalesced writes, not one commit each, and every connect is in the
    /// database when its caller goes on.
    @Test func connectsAreWrittenCoalescedAndAwaited() async throws {
        try await Harness.with { h in
            for i in 0..<200 { try await h.station("PR-\(i)") }
            let recorder = LivenessRecorder(client: h.client, logger: TestPostgres.shared.logger, interval: .seconds(3600))
            let running = Task { try await recorder.run() }
            defer { running.cancel() }
            // A connect waits for its write only once the writer runs (a busy machine may start the task late).
            let started = ContinuousClock.now
            while !recorder.isRunning, ContinuousClock.now - started < .seconds(10) { try await Task.sleep(for: .milliseconds(10)) }
            #expect(recorder.isRunning)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<200 {
                    group.addTask {
                        await recorder.setPresenceAndWait(stationId: "PR-\(i)", online: true, node: "node-a", at: Date())
                        // Awaited: this station is online in the database now.
                        let online = try await h.count("SELECT count(*)::int FROM stations WHERE id = 'PR-\(i)' AND online AND connected_node = 'node-a'")
                        #expect(online == 1)
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await h.count("SELECT count(*)::int FROM stations WHERE online") == 200)
            #expect(recorder.presenceWrites < 50, "\(recorder.presenceWrites) writes for 200 connects")
            // The newest state per station wins: a disconnect after the connect leaves it offline.
            recorder.setPresence(stationId: "PR-0", online: true, node: "node-a", at: Date())
            await recorder.setPresenceAndWait(stationId: "PR-0", online: false, node: "node-a", at: Date())
            #expect(try await h.count("SELECT count(*)::int FROM stations WHERE id = 'PR-0' AND NOT online AND connected_node IS NULL") == 1)
            // A node that lost a station to another node does not mark it offline there.
            await recorder.setPresenceAndWait(stationId: "PR-1", online: true, node: "node-b", at: Date())
            await recorder.setPresenceAndWait(stationId: "PR-1", online: false, node: "node-a", at: Date())
            #expect(try await h.count("SELECT count(*)::int FROM stations WHERE id = 'PR-1' AND online AND connected_node = 'node-b'") == 1)
        }
    }
}
