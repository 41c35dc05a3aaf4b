import CSMS
import CSMSMemory
import Foundation
import OCPP
import Testing

/// The in-memory store keeps the PostgreSQL schema's dedupe rules and fails where PostgreSQL fails.
@Suite struct InMemoryUnitOfWorkTests {
    let now = Date(timeIntervalSince1970: 1_767_268_800)

    func world() async throws -> (InMemoryDatabase, InMemoryTransactionRunner) {
        let clock = now
        let database = InMemoryDatabase(clock: { clock })
        let runner = InMemoryTransactionRunner(database: database)
        try await runner.perform { try await $0.createStation(id: "CS", registrationStatus: .accepted) }
        return (database, runner)
    }

    @Test func replayedReportsAreStoredOnce() async throws {
        let (database, runner) = try await world()
        let status = ConnectorStatus(evseId: 1, connectorId: 1, status: "Available", reportedAt: now)
        let sample = MeterSample(sampledAt: now, measurand: MeterSample.energyImportRegister, value: 5, unit: "Wh", rawValue: "5")
        let fresh = try await runner.perform { uow in
            let tx = try await uow.insertTransaction(NewTransaction(uid: "T", stationId: "CS", connector: .init(evseId: 1, connectorId: 1), idToken: nil, startedAt: now, meterStartWh: nil))
            try await uow.insertMeterSamples(stationId: "CS", evseId: 1, transactionId: tx.id, [sample, sample])
            try await uow.insertMeterSamples(stationId: "CS", evseId: 1, transactionId: tx.id, [sample])
            return [
                try await uow.recordStatus(stationId: "CS", status), try await uow.recordStatus(stationId: "CS", status),
                try await uow.recordTransactionEvent(transactionId: tx.id, seqNo: 0, eventType: "Started", triggerReason: "Authorized", offline: false, at: now),
                try await uow.recordTransactionEvent(transactionId: tx.id, seqNo: 0, eventType: "Started", triggerReason: "Authorized", offline: false, at: now),
            ]
        }
        #expect(fresh == [true, false, true, false])
        #expect(database.meterValueCount == 1 && database.statusHistoryCount == 1 && database.transactionEventCount == 1)
    }

    @Test func aRepeatedStartIdentityIsAUniqueViolation() async throws {
        let (_, runner) = try await world()
        let start = NewTransaction(stationId: "CS", connector: .init(evseId: 1, connectorId: 1), idToken: "A", startedAt: now, meterStartWh: 10)
        await #expect(throws: DatabaseRejection.self) {
            try await runner.perform { uow in
                _ = try await uow.insertTransaction(start)
                _ = try await uow.insertTransaction(start)
            }
        }
    }

    @Test func outOfRangeValuesFailAndRollBackButKeepTheSequence() async throws {
        let (database, runner) = try await world()
        let wide = NewTransaction(stationId: "CS", connector: .init(evseId: Int(Int32.max) + 1, connectorId: 1), idToken: nil, startedAt: now, meterStartWh: nil)
        await #expect(throws: DatabaseRejection.self) {
            try await runner.perform { uow in
                try await uow.appendOutbox(topic: "x", payload: .object([:]))
                _ = try await uow.insertTransaction(wide)
            }
        }
        #expect(database.outbox.isEmpty && database.transactions.isEmpty)
        let next = try await runner.perform { uow in
            try await uow.insertTransaction(NewTransaction(stationId: "CS", connector: .init(evseId: 1, connectorId: 1), idToken: nil, startedAt: now, meterStartWh: nil))
        }
        #expect(next.id == 2 && next.uid == "2")
    }

    @Test func whatPostgreSQLCannotStoreIsRejected() async throws {
        let (_, runner) = try await world()
        await #expect(throws: DatabaseRejection.self) {
            try await runner.perform { try await $0.recordStationEvent(stationId: "CS", kind: "k", payload: .string("a\u{0}b"), suspect: false, at: now) }
        }
        await #expect(throws: DatabaseRejection.self) {
            try await runner.perform { try await $0.appendOutbox(topic: "k", payload: .number(JSONNumber(literal: "1e131072"))) }
        }
        try await runner.perform { try await $0.appendOutbox(topic: "k", payload: .number(JSONNumber(literal: "1e999"))) }
        await #expect(throws: DatabaseRejection.self) {
            try await runner.perform { _ = try await $0.token(value: "\u{0}") }
        }
        await #expect(throws: DatabaseRejection.self) {
            try await runner.perform { _ = try await $0.recordStatus(stationId: "CS", ConnectorStatus(evseId: -1, connectorId: 1, status: "Available", reportedAt: now)) }
        }
        let huge = MeterSample(sampledAt: now, measurand: MeterSample.energyImportRegister, value: Decimal(string: "1e30"), unit: "Wh", rawValue: "1e30")
        await #expect(throws: DatabaseRejection.self) {
            try await runner.perform { uow in
                let tx = try await uow.insertTransaction(NewTransaction(uid: "T", stationId: "CS", connector: .init(evseId: 1, connectorId: 1), idToken: nil, startedAt: now, meterStartWh: nil))
                try await uow.insertMeterSamples(stationId: "CS", evseId: 1, transactionId: tx.id, [huge])
                return try await uow.registerReadings(transactionId: tx.id)
            }
        }
    }

    @Test func anOpenReservationPastItsTimeReadsAsExpired() async throws {
        let (database, runner) = try await world()
        let open = try database.insertReservation(stationId: "CS", evseId: 1, idToken: "A", expiresAt: now + 60, status: .accepted)
        let late = try database.insertReservation(stationId: "CS", evseId: 1, idToken: "A", expiresAt: now, status: .accepted)
        let statuses = try await runner.perform { uow in
            [try await uow.reservation(id: open)?.status, try await uow.reservation(id: late)?.status]
        }
        #expect(statuses == [.accepted, .expired])
    }
}
