import CSMS
import Foundation
import OCPP
import PostgresNIO
@testable import Storage
import Testing
import TestSupport

/// A prepared statement is parsed with the parameter types of its first use. A first use that binds
/// NULL must not leave a parameter typed differently from what later uses bind (the SQL casts each one).
@Suite(.serialized) struct HotStatementTests {
    @Test func nullsFirstThenValuesOnOneConnection() async throws {
        try await Harness.with { h in
            try await h.station("HS-1")
            try await h.client.withConnection { conn in
                let uow = PostgresUnitOfWork(connection: conn, logger: TestPostgres.shared.logger)
                // NULL first for every optional parameter...
                #expect(try await !uow.hasActiveTransaction(idToken: "T", excluding: nil))
                _ = try await uow.recordStatus(stationId: "HS-1", ConnectorStatus(evseId: 1, connectorId: 1, status: "Available", reportedAt: Date()))
                _ = try await uow.insertMeterSamples(stationId: "HS-1", evseId: 1, transactionId: nil, [
                    MeterSample(sampledAt: Date(), measurand: MeterSample.energyImportRegister, value: nil, unit: "Wh", rawValue: "x"),
                ])
                let tx = try await uow.insertTransaction(NewTransaction(
                    version: .v16, stationId: "HS-1", connector: ConnectorRef(evseId: 1, connectorId: 1), idToken: nil, startedAt: nil, meterStartWh: nil
                ))
                try await uow.updateTransaction(tx)
                // ...then values, on the same connection, so the same prepared statements.
                #expect(try await !uow.hasActiveTransaction(idToken: "T", excluding: 42))
                _ = try await uow.recordStatus(stationId: "HS-1", ConnectorStatus(evseId: 1, connectorId: 1, status: "Faulted", errorCode: "OtherError", info: "i", vendorErrorCode: "v", reportedAt: Date()))
                #expect(try await uow.insertMeterSamples(stationId: "HS-1", evseId: 1, transactionId: tx.id, [
                    MeterSample(sampledAt: Date(), measurand: MeterSample.energyImportRegister, phase: "L1", location: "Outlet", context: "Sample.Periodic",
                                value: 12, unit: "Wh", rawValue: "12", rawUnit: "Wh", signedData: "s"),
                ]) == 0)
                var changed = tx
                changed.idToken = "T"
                changed.reservationId = 7
                changed.startedAt = Date()
                changed.stoppedAt = Date()
                changed.meterStartWh = 1
                changed.meterStopWh = 2
                changed.energyWh = 1
                changed.stopReason = "Local"
                changed.chargingState = "Idle"
                try await uow.updateTransaction(changed)
                #expect(try await uow.transaction(id: tx.id)?.energyWh == 1)
                #expect(try await uow.hasActiveTransaction(idToken: "T", excluding: nil))
            }
            #expect(try await h.count("SELECT count(*)::int FROM status_history") == 2)
            #expect(try await h.count("SELECT count(*)::int FROM meter_values") == 2)
        }
    }
}
