import CSMS
import Foundation
import OCPP
import PostgresNIO
@testable import Storage
import Testing
import TestSupport

/// Hostile numbers, rules that must agree across versions, and history that survives admin actions,
/// all on a real PostgreSQL through the dispatcher.
@Suite(.serialized) struct HardeningTests {
    // MARK: Numbers from the wire

    static let extremeMultipliers = ["-9223372036854775808", "9223372036854775807", "1000000000", "-1000000000", "19", "-19"]

    @Test(arguments: extremeMultipliers) func anExtremeMultiplierIsStoredRawAndFlagged(_ multiplier: String) async throws {
        try await Harness.with { h in
            try await h.station("EX-1")
            _ = try await h.repo.upsertToken(IdToken(value: "TOK"))
            let started = try await h.call(.v201, "EX-1", "TransactionEvent", #"{"eventType":"Started","timestamp":"2026-01-01T00:00:00Z","triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"X-1"},"idToken":{"idToken":"TOK","type":"ISO14443"},"evse":{"id":1,"connectorId":1},"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":1000}]}]}"#)
            #expect(started.isResult)
            let frame = try await h.call(.v201, "EX-1", "TransactionEvent", #"{"eventType":"Updated","timestamp":"2026-01-01T00:01:00Z","triggerReason":"MeterValuePeriodic","seqNo":1,"transactionInfo":{"transactionId":"X-1"},"meterValue":[{"timestamp":"2026-01-01T00:01:00Z","sampledValue":[{"value":5,"unitOfMeasure":{"unit":"Wh","multiplier":"# + multiplier + "}}]}]}")
            #expect(frame.isResult, "\(frame.serialized)")
            #expect(try await h.count("SELECT count(*)::int FROM meter_values WHERE value IS NULL AND raw_value = '5.0'") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM transactions WHERE 'sampled value out of range' = ANY(suspect_reasons)") == 1)
            // The plain 2.0.1 MeterValues takes the same path.
            let mv = try await h.call(.v201, "EX-1", "MeterValues", #"{"evseId":1,"meterValue":[{"timestamp":"2026-01-01T00:02:00Z","sampledValue":[{"value":5,"unitOfMeasure":{"multiplier":"# + multiplier + "}}]}]}")
            #expect(mv.isResult, "\(mv.serialized)")
        }
    }

    @Test func aSmallMultiplierIsExact() {
        let (v, unit) = UnitNormalizer.normalize(value: Decimal(string: "1.5")!, unit: "kWh", multiplier: -3, measurand: MeterSample.energyImportRegister)
        #expect(v == Decimal(string: "1.5") && unit == "Wh")
        let (w, _) = UnitNormalizer.normalize(value: 12, unit: "Wh", multiplier: 2, measurand: MeterSample.energyImportRegister)
        #expect(w == 1200)
        #expect(UnitNormalizer.normalize(value: 1, unit: "Wh", multiplier: Int.min, measurand: "Energy.Active.Import.Register").0 == nil)
    }

    static let extremeRegisters: [(Int64, Int64)] = [(Int64.min, Int64.max), (Int64.max, Int64.min), (0, Int64.max), (-1, Int64.max), (Int64.min, 0)]

    @Test(arguments: extremeRegisters) func extremeMeterStartAndStopAreAcknowledgedAndFlagged(_ pair: (Int64, Int64)) async throws {
        try await Harness.with { h in
            try await h.station("EX-2")
            _ = try await h.repo.upsertToken(IdToken(value: "TOK"))
            let start = try await h.call(.v16, "EX-2", "StartTransaction", #"{"connectorId":1,"idTag":"TOK","meterStart":\#(pair.0),"timestamp":"2026-01-01T00:00:00Z"}"#)
            let tx = try #require(start.result?["transactionId"]?.int64Value, "\(start.serialized)")
            let stop = try await h.call(.v16, "EX-2", "StopTransaction", #"{"transactionId":\#(tx),"meterStop":\#(pair.1),"timestamp":"2026-01-01T01:00:00Z"}"#)
            #expect(stop.isResult, "\(stop.serialized)")
            let t = try #require(try await h.repo.transaction(id: tx))
            #expect(t.state == .ended && t.suspect && t.energyWh == nil)
        }
    }

    @Test(arguments: ["2147483648", "-1", "9223372036854775807"]) func anIdBeyondItsColumnIsAPropertyConstraintViolation(_ n: String) async throws {
        try await Harness.with { h in
            try await h.station("EX-3")
            let f16 = try await h.call(.v16, "EX-3", "StatusNotification", #"{"connectorId":\#(n),"errorCode":"NoError","status":"Available"}"#)
            #expect(f16.errorCode == "PropertyConstraintViolation" && f16.errorDescription?.contains("connectorId") == true, "\(f16.serialized)")
            let f201 = try await h.call(.v201, "EX-3", "StatusNotification", #"{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Available","evseId":\#(n),"connectorId":1}"#)
            #expect(f201.errorCode == "PropertyConstraintViolation", "\(f201.serialized)")
            let seq = try await h.call(.v201, "EX-3", "TransactionEvent", #"{"eventType":"Started","timestamp":"2026-01-01T00:00:00Z","triggerReason":"Authorized","seqNo":\#(n),"transactionInfo":{"transactionId":"S"}}"#)
            #expect(seq.errorCode == "PropertyConstraintViolation", "\(seq.serialized)")
        }
    }

    @Test func aNULCharacterIsRefusedNamingTheField() async throws {
        try await Harness.with { h in
            try await h.station("EX-4")
            let f = try await h.call(.v16, "EX-4", "Authorize", #"{"idTag":"a\u0000b"}"#)
            #expect(f.errorCode == "PropertyConstraintViolation" && f.errorDescription?.contains("idTag") == true, "\(f.serialized)")
            let d = try await h.call(.v201, "EX-4", "DataTransfer", #"{"vendorId":"v","data":{"k":["x","\u0000"]}}"#)
            #expect(d.errorDescription?.contains("data.k[1]") == true, "\(d.serialized)")
        }
    }

    @Test func aValueTheDatabaseRefusesIsRejectedNotRetried() async throws {
        try await Harness.with { h in
            try await h.station("EX-5")
            // numeric cannot hold this exponent: a data exception, not "send it again".
            let f = try await h.call(.v201, "EX-5", "DataTransfer", #"{"vendorId":"v","data":1e300000}"#)
            #expect(f.errorCode == "PropertyConstraintViolation", "\(f.serialized)")
        }
    }

    // MARK: Rules across versions

    @Test func a201StartWithATokenChargingElsewhereIsConcurrentTx() async throws {
        try await Harness.with { h in
            try await h.station("CC-1")
            try await h.station("CC-2")
            _ = try await h.repo.upsertToken(IdToken(value: "TOK"))
            let s16 = try await h.call(.v16, "CC-1", "StartTransaction", #"{"connectorId":1,"idTag":"TOK","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}"#)
            #expect(s16.result?["idTagInfo"]?["status"]?.stringValue == "Accepted")
            let e = try await h.call(.v201, "CC-2", "TransactionEvent", #"{"eventType":"Started","timestamp":"2026-01-01T00:00:00Z","triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"C-1"},"idToken":{"idToken":"TOK","type":"ISO14443"}}"#)
            #expect(e.result?["idTokenInfo"]?["status"]?.stringValue == "ConcurrentTx", "\(e.serialized)")
            // The token inside its own transaction is not checked against itself again.
            let u = try await h.call(.v201, "CC-2", "TransactionEvent", #"{"eventType":"Updated","timestamp":"2026-01-01T00:01:00Z","triggerReason":"Authorized","seqNo":1,"transactionInfo":{"transactionId":"C-1"},"idToken":{"idToken":"TOK","type":"ISO14443"}}"#)
            #expect(u.result?["idTokenInfo"]?["status"]?.stringValue == "Accepted")
            let s16b = try await h.call(.v16, "CC-1", "StartTransaction", #"{"connectorId":2,"idTag":"TOK","meterStart":0,"timestamp":"2026-01-01T00:02:00Z"}"#)
            #expect(s16b.result?["idTagInfo"]?["status"]?.stringValue == "ConcurrentTx")
        }
    }

    @Test func aNumeric201TransactionIdIsNotA16Transaction() async throws {
        try await Harness.with { h in
            try await h.station("NV-1")
            _ = try await h.repo.upsertToken(IdToken(value: "TOK"))
            let e = try await h.call(.v201, "NV-1", "TransactionEvent", #"{"eventType":"Started","timestamp":"2026-01-01T00:00:00Z","triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"1"},"idToken":{"idToken":"TOK","type":"ISO14443"}}"#)
            #expect(e.isResult)
            let id = try await h.count("SELECT id::int FROM transactions WHERE uid = '1'")
            #expect(try await h.count("SELECT count(*)::int FROM transactions WHERE ocpp_version = 'ocpp2.0.1'") == 1)
            // A 1.6 stop naming that row's integer id is an unknown transaction, kept as suspect.
            let stop = try await h.call(.v16, "NV-1", "StopTransaction", #"{"transactionId":\#(id),"meterStop":10,"timestamp":"2026-01-01T00:10:00Z"}"#)
            #expect(stop.isResult)
            #expect(try await h.count("SELECT count(*)::int FROM transactions WHERE state = 'Active'") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM station_events WHERE kind = 'StopTransaction.unknown'") == 1)
        }
    }

    static func event(_ type: String, seq: Int, at minute: Int, wh: Int?, uid: String = "E-1") -> String {
        let mv = wh.map { #","meterValue":[{"timestamp":"2026-01-01T00:\#(String(format: "%02d", minute)):00Z","sampledValue":[{"value":\#($0)}]}]"# } ?? ""
        return #"{"eventType":"\#(type)","timestamp":"2026-01-01T00:\#(String(format: "%02d", minute)):00Z","triggerReason":"MeterValuePeriodic","seqNo":\#(seq),"transactionInfo":{"transactionId":"\#(uid)"}\#(mv)}"#
    }

    @Test func aSecondEndedAddsNoSecondSessionEndAndLateReadingsAreFlagged() async throws {
        try await Harness.with { h in
            try await h.station("EN-1")
            for (type, seq, minute, wh) in [("Started", 0, 0, 1000), ("Ended", 1, 10, 1600), ("Ended", 2, 11, 1700), ("Updated", 3, 12, 1800)] {
                #expect(try await h.call(.v201, "EN-1", "TransactionEvent", Self.event(type, seq: seq, at: minute, wh: wh)).isResult)
            }
            #expect(try await h.count("SELECT count(*)::int FROM outbox WHERE topic = 'session.ended'") == 1)
            let tx = try #require(try await h.repo.transactions(.init()).first)
            #expect(tx.energyWh == 600, "billed only up to the end")
            #expect(tx.suspectReasons.contains("readings after end") && tx.suspectReasons.contains("repeated Ended event"))
            #expect(try await h.count("SELECT count(*)::int FROM meter_values") == 4, "late readings are kept")
        }
    }

    @Test func aCorrectedReadingIsKeptFlaggedAndUsed() async throws {
        try await Harness.with { h in
            try await h.station("CR-1")
            try await h.call(.v201, "CR-1", "TransactionEvent", Self.event("Started", seq: 0, at: 0, wh: 1000))
            try await h.call(.v201, "CR-1", "TransactionEvent", Self.event("Updated", seq: 1, at: 5, wh: 1300))
            try await h.call(.v201, "CR-1", "TransactionEvent", Self.event("Updated", seq: 2, at: 5, wh: 1350))
            try await h.call(.v201, "CR-1", "TransactionEvent", Self.event("Ended", seq: 3, at: 5, wh: 1350))
            #expect(try await h.count("SELECT count(*)::int FROM meter_values WHERE correction") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM meter_values") == 3)
            let tx = try #require(try await h.repo.transactions(.init()).first)
            #expect(tx.energyWh == 350 && tx.suspectReasons.contains("corrected reading"))
        }
    }

    @Test func aStuckTransactionIsEndedByTheOperatorOrByPolicy() async throws {
        try await Harness.with { h in
            try await h.station("ST-1")
            try await h.call(.v201, "ST-1", "TransactionEvent", Self.event("Started", seq: 0, at: 0, wh: 1000, uid: "A"))
            try await h.call(.v201, "ST-1", "TransactionEvent", Self.event("Updated", seq: 1, at: 30, wh: 1400, uid: "A"))
            try await h.call(.v201, "ST-1", "TransactionEvent", Self.event("Started", seq: 0, at: 0, wh: 5000, uid: "B"))
            let a = try await h.count("SELECT id::int FROM transactions WHERE uid = 'A'")
            let service = h.service
            let ended = try await h.committer.perform { uow in
                try await service.endTransaction(uow, id: Int64(a), reason: "Operator", flaggedAs: "ended by an operator: lost Stop", now: Date())
            }
            #expect(ended?.state == .ended && ended?.energyWh == 400 && ended?.stopReason == "Operator")
            // Ending it again changes nothing and emits nothing.
            _ = try await h.committer.perform { uow in try await service.endTransaction(uow, id: Int64(a), reason: "Operator", flaggedAs: "x", now: Date()) }
            #expect(try await h.count("SELECT count(*)::int FROM outbox WHERE topic = 'session.ended'") == 1)
            // B: nothing new for longer than the policy allows.
            let stale = try await h.committer.perform { uow in
                try await service.endStaleTransactions(uow, before: Date().addingTimeInterval(3600), now: Date())
            }
            #expect(stale.map(\.uid) == ["B"])
            let b = try #require(try await h.repo.transactions(.init()).first { $0.uid == "B" })
            #expect(b.state == .ended && b.stopReason == "Stale" && b.suspect)
            // A transaction with a recent message is not stale.
            let none = try await h.committer.perform { uow in try await service.endStaleTransactions(uow, before: Date().addingTimeInterval(-3600), now: Date()) }
            #expect(none.isEmpty)
        }
    }

    /// The station's own Stop arrives after an operator ended its transaction: it is kept as an event and
    /// the transaction says what the station reported; the operator's figures stay, nothing is billed twice.
    @Test func aLateStopAfterAnOperatorEndIsKeptAndFlagged() async throws {
        try await Harness.with { h in
            try await h.station("LS-1")
            _ = try await h.repo.upsertToken(IdToken(value: "TOK"))
            let start = try await h.call(.v16, "LS-1", "StartTransaction", #"{"connectorId":1,"idTag":"TOK","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}"#)
            let tx = try #require(start.result?["transactionId"]?.int64Value)
            try await h.call(.v16, "LS-1", "MeterValues", #"{"connectorId":1,"transactionId":\#(tx),"meterValue":[{"timestamp":"2026-01-01T00:10:00Z","sampledValue":[{"value":"600"}]}]}"#)
            let service = h.service
            let ended = try await h.committer.perform { uow in try await service.endByOperator(uow, id: tx, actor: "ops", reason: "lost Stop", now: Date()) }
            #expect(ended?.ended == true && ended?.transaction.energyWh == 600)
            let stop = #"{"transactionId":\#(tx),"meterStop":9000,"timestamp":"2026-01-01T01:00:00Z"}"#
            #expect(try await h.call(.v16, "LS-1", "StopTransaction", stop).isResult)
            let after = try #require(try await h.repo.transaction(id: tx))
            #expect(after.energyWh == 600 && after.suspectReasons.contains("station's own Stop after the end: meterStop 9000 Wh"), "\(after.suspectReasons)")
            #expect(try await h.count("SELECT count(*)::int FROM station_events WHERE kind = 'StopTransaction.afterEnd'") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM outbox WHERE topic = 'session.ended'") == 1)
        }
    }

    // MARK: History

    @Test func aRemovedStationKeepsItsHistory() async throws {
        try await Harness.with { h in
            try await h.station("HI-1")
            _ = try await h.repo.upsertToken(IdToken(value: "TOK"))
            let start = try await h.call(.v16, "HI-1", "StartTransaction", #"{"connectorId":1,"idTag":"TOK","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}"#)
            let tx = try #require(start.result?["transactionId"]?.int64Value)
            #expect(try await h.repo.decommissionStation(id: "HI-1"))
            #expect(try await !h.repo.decommissionStation(id: "HI-1"))
            #expect(try await h.repo.transaction(id: tx) != nil)
            #expect(try await h.repo.credentials(stationId: "HI-1").decommissioned)
            // The database itself refuses to destroy a station with history.
            await #expect(throws: (any Error).self) {
                try await h.client.query("DELETE FROM stations WHERE id = 'HI-1'", logger: TestPostgres.shared.logger)
            }
        }
    }

    /// 0013 took the foreign keys off meter_values; its triggers still refuse to destroy, or re-key, a station or a
    /// transaction that meter values name, before any other key is asked.
    @Test func meterValuesKeepTheirStationAndTransaction() async throws {
        try await Harness.with { h in
            try await h.station("MH-1")
            _ = try await h.repo.upsertToken(IdToken(value: "TOK"))
            let start = try await h.call(.v16, "MH-1", "StartTransaction", #"{"connectorId":1,"idTag":"TOK","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}"#)
            let tx = try #require(start.result?["transactionId"]?.int64Value)
            let mv = try await h.call(.v16, "MH-1", "MeterValues", #"{"connectorId":1,"transactionId":\#(tx),"meterValue":[{"timestamp":"2026-01-01T00:01:00Z","sampledValue":[{"value":"5"}]}]}"#)
            #expect(mv.isResult)
            for sql in ["DELETE FROM transactions WHERE id = \(tx)", "UPDATE transactions SET id = -\(tx) WHERE id = \(tx)", "DELETE FROM stations WHERE id = 'MH-1'", "UPDATE stations SET id = 'MH-2' WHERE id = 'MH-1'"] {
                do {
                    try await h.client.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.shared.logger)
                    Issue.record("\(sql): not refused")
                } catch let error as PSQLError {
                    #expect(error.serverInfo?[.sqlState] == "23503", "\(sql)")
                    #expect(error.serverInfo?[.message]?.contains("still has meter values") == true, "\(sql): \(String(reflecting: error))")
                }
            }
        }
    }

    /// The two statements of a meter value insert on PostgreSQL: a first value, then only when one conflicts the
    /// corrections, as the in-memory model (InMemoryUnitOfWorkTests) has them.
    @Test func correctionsAreFoundByTheInsert() async throws {
        try await Harness.with { h in
            try await h.station("MC-1")
            let at = Date(timeIntervalSince1970: 1_767_225_600)
            func sample(_ raw: String) -> MeterSample {
                MeterSample(sampledAt: at, measurand: MeterSample.energyImportRegister, value: Decimal(string: raw), unit: "Wh", rawValue: raw)
            }
            let counts = try await h.client.withConnection { conn in
                let uow = PostgresUnitOfWork(connection: conn, logger: TestPostgres.shared.logger)
                return [
                    try await uow.insertMeterSamples(stationId: "MC-1", evseId: 1, transactionId: nil, [sample("10"), sample("11")]),
                    try await uow.insertMeterSamples(stationId: "MC-1", evseId: 1, transactionId: nil, [sample("12"), sample("12"), sample("10")]),
                    try await uow.insertMeterSamples(stationId: "MC-1", evseId: 2, transactionId: nil, [sample("99")]),
                    try await uow.insertMeterSamples(stationId: "MC-1", evseId: 1, transactionId: nil, [sample("11"), sample("10")]),
                ]
            }
            #expect(counts == [1, 1, 0, 0])
            #expect(try await h.count("SELECT count(*)::int FROM meter_values") == 4)
            #expect(try await h.count("SELECT count(*)::int FROM meter_values WHERE correction") == 2)
            #expect(try await h.count("SELECT count(*)::int FROM meter_values WHERE NOT correction AND raw_value IN ('10', '99')") == 2)
        }
    }

    @Test func aRawReserveNowNeverMovesAnotherStationsOrAUsedReservation() async throws {
        try await Harness.with { h in
            try await h.station("RV-A")
            try await h.station("RV-B")
            let later = Date().addingTimeInterval(3600)
            let a = try await h.repo.createReservation(stationId: "RV-A", evseId: 1, idToken: "TA", expiresAt: later)
            try await h.repo.setReservationStatus(id: a.id, status: .accepted)
            // Another station cannot take A's id, by the check or by the guarded write.
            #expect(try await !h.repo.reservationIdIsFree(id: a.id, for: "RV-B"))
            #expect(try await !h.repo.recordReservation(id: a.id, stationId: "RV-B", evseId: 2, idToken: "TB", expiresAt: later))
            #expect(try await h.repo.reservation(id: a.id)?.stationId == "RV-A")
            #expect(try await h.repo.reservation(id: a.id)?.idToken == "TA")
            // The station itself may replace its own open reservation.
            #expect(try await h.repo.reservationIdIsFree(id: a.id, for: "RV-A"))
            #expect(try await h.repo.recordReservation(id: a.id, stationId: "RV-A", evseId: 1, idToken: "TA2", expiresAt: later))
            #expect(try await h.repo.reservation(id: a.id)?.idToken == "TA2")
            // A used reservation is history, even for its own station.
            try await h.repo.setReservationStatus(id: a.id, status: .used)
            #expect(try await !h.repo.reservationIdIsFree(id: a.id, for: "RV-A"))
            #expect(try await !h.repo.recordReservation(id: a.id, stationId: "RV-A", evseId: 1, idToken: "TA3", expiresAt: later))
            #expect(try await h.repo.reservation(id: a.id)?.status == .used)
            // A raw CancelReservation cancels only the station's own open reservation.
            try await h.repo.cancelReservation(id: a.id, stationId: "RV-A")
            #expect(try await h.repo.reservation(id: a.id)?.status == .used)

            // The largest id is a raw id like any other: the sequence is not moved to it, and ids the
            // sequence reaches that raw commands took are skipped.
            #expect(try await h.repo.recordReservation(id: Int(Int32.max), stationId: "RV-B", evseId: nil, idToken: "TB", expiresAt: later))
            #expect(try await h.repo.recordReservation(id: a.id + 1, stationId: "RV-B", evseId: nil, idToken: "TB", expiresAt: later))
            #expect(try await h.repo.recordReservation(id: a.id + 2, stationId: "RV-B", evseId: nil, idToken: "TB", expiresAt: later))
            let next = try await h.repo.createReservation(stationId: "RV-A", evseId: 1, idToken: "TA", expiresAt: later)
            #expect(next.id == a.id + 3)
            #expect(try await h.repo.reservation(id: a.id + 1)?.stationId == "RV-B")
            #expect(try await h.count("SELECT count(*)::int FROM reservations") == 5)
        }
    }

    @Test func aPendingReservationCannotBeConsumed() {
        let r = Reservation(id: 1, stationId: "S", evseId: 1, idToken: "T", expiresAt: Date().addingTimeInterval(600), status: .pending)
        #expect(!r.isUsable(at: Date()))
        var accepted = r
        accepted.status = .accepted
        #expect(accepted.isUsable(at: Date()))
    }
}
