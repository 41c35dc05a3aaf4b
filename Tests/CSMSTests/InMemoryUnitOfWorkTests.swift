import CSMS
import CSMSMemory
import Foundation
import OCPP
import Testing

/// The in-memory store keeps the PostgreSQL schema's dedupe rules and fails where PostgreSQL fails, with
/// the StoreFailure that Storage's GroupCommitter gives.
@Suite struct InMemoryUnitOfWorkTests {
    let now = Date(timeIntervalSince1970: 1_767_268_800)

    func world() throws -> (InMemoryDatabase, InMemoryTransactionRunner) {
        let database = InMemoryDatabase(now: now)
        try database.insertStation(id: "CS")
        return (database, InMemoryTransactionRunner(database: database))
    }

    func newTransaction(_ uid: String? = "T", version: OCPPVersion = .v201, evseId: Int = 1, idToken: String? = nil, meterStartWh: Int64? = nil) -> NewTransaction {
        NewTransaction(uid: uid, version: version, stationId: "CS", connector: .init(evseId: evseId, connectorId: 1), idToken: idToken, startedAt: now, meterStartWh: meterStartWh)
    }

    func isRejected(_ body: @Sendable () async throws -> Void) async -> Bool {
        do {
            try await body()
            return false
        } catch StoreFailure.rejected {
            return true
        } catch {
            return false
        }
    }

    @Test func replayedReportsAreStoredOnce() async throws {
        let (database, runner) = try world()
        let status = ConnectorStatus(evseId: 1, connectorId: 1, status: "Available", reportedAt: now)
        let sample = MeterSample(sampledAt: now, measurand: MeterSample.energyImportRegister, value: 5, unit: "Wh", rawValue: "5")
        let tx = newTransaction()
        let fresh = try await runner.perform { uow in
            let tx = try await uow.insertTransaction(tx)
            let corrections = [
                try await uow.insertMeterSamples(stationId: "CS", evseId: 1, transactionId: tx.id, [sample, sample]),
                try await uow.insertMeterSamples(stationId: "CS", evseId: 1, transactionId: tx.id, [sample]),
            ]
            #expect(corrections == [0, 0])
            return [
                try await uow.recordStatus(stationId: "CS", status), try await uow.recordStatus(stationId: "CS", status),
                try await uow.recordTransactionEvent(transactionId: tx.id, seqNo: 0, eventType: "Started", triggerReason: "Authorized", offline: false, at: now),
                try await uow.recordTransactionEvent(transactionId: tx.id, seqNo: 0, eventType: "Started", triggerReason: "Authorized", offline: false, at: now),
            ]
        }
        #expect(fresh == [true, false, true, false])
        #expect(database.meterValueCount == 1 && database.statusHistoryCount == 1 && database.transactionEventCount == 1)
    }

    /// 0013_meter_values_hot.sql: the first value of a sample is stored as such; every other value of it, stored
    /// before or in the same call, is kept once and counted as a correction; a value equal to the first is a replay.
    @Test func anotherValueForAStoredSampleIsACorrection() async throws {
        let (database, runner) = try world()
        @Sendable func sample(_ raw: String) -> MeterSample {
            MeterSample(sampledAt: now, measurand: MeterSample.energyImportRegister, value: Decimal(string: raw), unit: "Wh", rawValue: raw)
        }
        let tx = newTransaction()
        let (counts, readings) = try await runner.perform { uow in
            let tx = try await uow.insertTransaction(tx)
            let counts = [
                // Two values of one sample in one call: the second contradicts the first.
                try await uow.insertMeterSamples(stationId: "CS", evseId: 1, transactionId: tx.id, [sample("10"), sample("11")]),
                try await uow.insertMeterSamples(stationId: "CS", evseId: 1, transactionId: tx.id, [sample("12"), sample("12"), sample("10")]),
                try await uow.insertMeterSamples(stationId: "CS", evseId: 2, transactionId: tx.id, [sample("99")]),
            ]
            return (counts, try await uow.registerReadings(transactionId: tx.id))
        }
        #expect(counts == [1, 1, 0])
        #expect(database.meterValueCount == 4 && database.correctionCount == 2)
        // One reading per time: the latest stored.
        #expect(readings.map(\.1) == [99])
    }

    @Test func aRepeated16StartIdentityIsAUniqueViolation() async throws {
        let (_, runner) = try world()
        let start = newTransaction(nil, version: .v16, idToken: "A", meterStartWh: 10)
        #expect(await isRejected { try await runner.perform { uow in _ = try await uow.insertTransaction(start); _ = try await uow.insertTransaction(start) } })
        // Outside 1.6 the index does not apply.
        let (_, other) = try world()
        let a = newTransaction("A", idToken: "A", meterStartWh: 10), b = newTransaction("B", idToken: "A", meterStartWh: 10)
        try await other.perform { uow in _ = try await uow.insertTransaction(a); _ = try await uow.insertTransaction(b) }
    }

    @Test func outOfRangeValuesAreRejectedAndRolledBackButKeepTheSequence() async throws {
        let (database, runner) = try world()
        let wide = newTransaction(nil, version: .v16, evseId: Int(Int32.max) + 1)
        #expect(
            await isRejected {
                try await runner.perform { uow in
                    try await uow.appendOutbox(topic: "x", payload: .object([:]))
                    _ = try await uow.insertTransaction(wide)
                }
            })
        #expect(database.outbox.isEmpty && database.transactions.isEmpty && database.commits == 0)
        let plain = newTransaction(nil, version: .v16)
        let next = try await runner.perform { uow in try await uow.insertTransaction(plain) }
        #expect(next.id == 2 && next.uid == "2" && next.ocppVersion == .v16 && database.commits == 1)
    }

    @Test func whatPostgreSQLCannotStoreIsRejected() async throws {
        let (_, runner) = try world()
        let now = now
        #expect(await isRejected { try await runner.perform { try await $0.recordStationEvent(stationId: "CS", kind: "k", payload: .string("a\u{0}b"), suspect: false, at: now) } })
        #expect(await isRejected { try await runner.perform { try await $0.appendOutbox(topic: "k", payload: .number(JSONNumber(literal: "1e131072"))) } })
        try await runner.perform { try await $0.appendOutbox(topic: "k", payload: .number(JSONNumber(literal: "1e999"))) }
        #expect(await isRejected { try await runner.perform { _ = try await $0.token(value: "\u{0}") } })
        #expect(await isRejected { try await runner.perform { _ = try await $0.recordStatus(stationId: "CS", ConnectorStatus(evseId: -1, connectorId: 1, status: "Available", reportedAt: now)) } })
        #expect(await isRejected { try await runner.perform { try await $0.recordStationEvent(stationId: "NOPE", kind: "k", payload: .null, suspect: false, at: now) } })
        #expect(await isRejected { try await runner.perform { _ = try await $0.committedReply(stationId: "CS", messageId: "\u{0}", action: "DataTransfer", payload: .null, within: .seconds(900)) } })
        let huge = MeterSample(sampledAt: now, measurand: MeterSample.energyImportRegister, value: Decimal(string: "1e30"), unit: "Wh", rawValue: "1e30")
        let tx = newTransaction()
        #expect(
            await isRejected {
                _ = try await runner.perform { uow in
                    let tx = try await uow.insertTransaction(tx)
                    try await uow.insertMeterSamples(stationId: "CS", evseId: 1, transactionId: tx.id, [huge])
                    return try await uow.registerReadings(transactionId: tx.id)
                }
            })
    }

    @Test func workThatSwallowsADatabaseErrorIsAnAnomalyAndCommitsNothing() async throws {
        let (database, runner) = try world()
        await #expect(throws: StoreFailure.self) {
            try await runner.perform { uow in
                try await uow.appendOutbox(topic: "x", payload: .null)
                _ = try? await uow.token(value: "\u{0}")
            }
        }
        #expect(database.outbox.isEmpty && database.commits == 0 && database.anomalies.count == 1)
    }

    @Test func anOpenReservationPastItsTimeReadsAsExpired() async throws {
        let (database, runner) = try world()
        let open = try database.insertReservation(stationId: "CS", evseId: 1, idToken: "A", expiresAt: now + 60, status: .accepted)
        let late = try database.insertReservation(stationId: "CS", evseId: 1, idToken: "A", expiresAt: now, status: .accepted)
        let statuses = try await runner.perform { uow in
            [try await uow.reservation(id: open)?.status, try await uow.reservation(id: late)?.status]
        }
        #expect(statuses == [.accepted, .expired])
        database.advance(by: 60)
        #expect(try await runner.perform { try await $0.reservation(id: open)?.status } == .expired)
    }

    @Test func anotherActiveTransactionExcludesTheOneNamed() async throws {
        let (_, runner) = try world()
        let tx = newTransaction(idToken: "TOK")
        let (id, any, excluded, other) = try await runner.perform { uow in
            let tx = try await uow.insertTransaction(tx)
            return (
                tx.id, try await uow.hasActiveTransaction(idToken: "TOK", excluding: nil), try await uow.hasActiveTransaction(idToken: "TOK", excluding: tx.id),
                try await uow.hasActiveTransaction(idToken: "TOK", excluding: tx.id + 1)
            )
        }
        #expect(id == 1 && any && !excluded && other)
    }

    @Test func repliesAreKeptForTheirWindowAndPurged() async throws {
        let (database, runner) = try world()
        let payload: JSONValue = .object(["vendorId": .string("v")])
        try await runner.perform { try await $0.recordReply(stationId: "CS", messageId: "1", action: "DataTransfer", payload: payload, reply: .object(["status": .string("Accepted")])) }
        func lookup(_ p: JSONValue = payload) async throws -> JSONValue? {
            try await runner.perform { try await $0.committedReply(stationId: "CS", messageId: "1", action: "DataTransfer", payload: p, within: .seconds(900)) }
        }
        #expect(try await lookup()?["status"]?.stringValue == "Accepted")
        #expect(try await lookup(.object(["vendorId": .string("w")])) == nil)
        database.advance(by: 900)
        #expect(try await lookup() == nil)
        let now = database.now
        #expect(try await runner.perform { try await $0.purgeReplies(before: now.addingTimeInterval(-60)) } == 1)
        #expect(database.replyCount == 0)
    }

    @Test func staleTransactionsAreActiveAndQuietSinceTheCutoff() async throws {
        let (database, runner) = try world()
        let quiet = newTransaction("Q"), busy = newTransaction("B"), ended = newTransaction("E")
        let now = now
        try await runner.perform { uow in
            _ = try await uow.insertTransaction(quiet)
            _ = try await uow.insertTransaction(busy)
            var e = try await uow.insertTransaction(ended)
            e.state = .ended
            e.stoppedAt = now
            try await uow.updateTransaction(e)
        }
        database.advance(by: 3600)
        let sample = MeterSample(sampledAt: now, measurand: MeterSample.energyImportRegister, value: 5, unit: "Wh", rawValue: "5")
        try await runner.perform { uow in _ = try await uow.insertMeterSamples(stationId: "CS", evseId: 1, transactionId: 2, [sample]) }
        let cutoff = database.now.addingTimeInterval(-60)
        let stale = try await runner.perform { try await $0.staleTransactions(before: cutoff, limit: 10) }
        #expect(stale.map(\.uid) == ["Q"])
    }
}
