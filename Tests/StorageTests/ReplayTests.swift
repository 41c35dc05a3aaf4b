import CSMS
import Foundation
import OCPP
import PostgresNIO
import Storage
import Synchronization
import Testing
import TestSupport

/// Every station→CSMS message of both versions, replayed with the same id (a lost acknowledgement, an
/// uncertain COMMIT, a reconnect), changes nothing the second time. The replay goes past the session's
/// in-memory cache, straight to the dispatcher, as it does after a reconnect or on another node.
@Suite(.serialized) struct ReplayTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let version: OCPPVersion
        let action: String
        /// `TX` is replaced by the id of a transaction started before.
        let payload: String
        var testDescription: String { "\(version.rawValue) \(action)" }
    }

    static let t = "2026-01-01T00:00:00Z"
    static let cases: [Case] = [
        Case(version: .v16, action: "Authorize", payload: #"{"idTag":"TOK"}"#),
        Case(version: .v16, action: "BootNotification", payload: #"{"chargePointVendor":"V","chargePointModel":"M"}"#),
        Case(version: .v16, action: "DataTransfer", payload: #"{"vendorId":"acme","messageId":"x","data":"hello"}"#),
        Case(version: .v16, action: "DiagnosticsStatusNotification", payload: #"{"status":"Uploaded"}"#),
        Case(version: .v16, action: "FirmwareStatusNotification", payload: #"{"status":"Installed"}"#),
        Case(version: .v16, action: "Heartbeat", payload: "{}"),
        Case(version: .v16, action: "MeterValues", payload: #"{"connectorId":1,"transactionId":TX,"meterValue":[{"timestamp":"2026-01-01T00:05:00Z","sampledValue":[{"value":"1500"}]}]}"#),
        Case(version: .v16, action: "StartTransaction", payload: #"{"connectorId":2,"idTag":"TOK2","meterStart":10,"timestamp":"2026-01-01T00:00:00Z"}"#),
        Case(version: .v16, action: "StatusNotification", payload: #"{"connectorId":1,"errorCode":"NoError","status":"Charging","timestamp":"2026-01-01T00:00:00Z"}"#),
        Case(version: .v16, action: "StopTransaction", payload: #"{"transactionId":TX,"meterStop":2000,"timestamp":"2026-01-01T00:10:00Z","transactionData":[{"timestamp":"2026-01-01T00:10:00Z","sampledValue":[{"value":"2000"}]}]}"#),
        Case(version: .v16, action: "SecurityEventNotification", payload: #"{"type":"FirmwareUpdated","timestamp":"2026-01-01T00:00:00Z"}"#),
        Case(version: .v16, action: "LogStatusNotification", payload: #"{"status":"Uploaded","requestId":1}"#),
        Case(version: .v16, action: "SignedFirmwareStatusNotification", payload: #"{"status":"Installed","requestId":1}"#),
        Case(version: .v201, action: "BootNotification", payload: #"{"chargingStation":{"model":"M","vendorName":"V"},"reason":"PowerUp"}"#),
        Case(version: .v201, action: "Heartbeat", payload: "{}"),
        Case(version: .v201, action: "StatusNotification", payload: #"{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Occupied","evseId":1,"connectorId":1}"#),
        Case(version: .v201, action: "Authorize", payload: #"{"idToken":{"idToken":"TOK","type":"ISO14443"}}"#),
        Case(version: .v201, action: "TransactionEvent", payload: #"{"eventType":"Started","timestamp":"2026-01-01T00:00:00Z","triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"T-9"},"idToken":{"idToken":"TOK2","type":"ISO14443"},"evse":{"id":2,"connectorId":1},"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":1000}]}]}"#),
        Case(version: .v201, action: "MeterValues", payload: #"{"evseId":1,"meterValue":[{"timestamp":"2026-01-01T00:01:00Z","sampledValue":[{"value":1200}]}]}"#),
        Case(version: .v201, action: "NotifyReport", payload: #"{"requestId":1,"generatedAt":"2026-01-01T00:00:00Z","seqNo":0}"#),
        Case(version: .v201, action: "NotifyEvent", payload: #"{"generatedAt":"2026-01-01T00:00:00Z","seqNo":0,"eventData":[{"eventId":1,"timestamp":"2026-01-01T00:00:00Z","trigger":"Alerting","actualValue":"x","eventNotificationType":"HardWiredNotification","component":{"name":"C"},"variable":{"name":"V"}}]}"#),
        Case(version: .v201, action: "SecurityEventNotification", payload: #"{"type":"FirmwareUpdated","timestamp":"2026-01-01T00:00:00Z"}"#),
        Case(version: .v201, action: "FirmwareStatusNotification", payload: #"{"status":"Installed"}"#),
        Case(version: .v201, action: "LogStatusNotification", payload: #"{"status":"Uploaded"}"#),
        Case(version: .v201, action: "ReservationStatusUpdate", payload: #"{"reservationId":1,"reservationUpdateStatus":"Expired"}"#),
        Case(version: .v201, action: "DataTransfer", payload: #"{"vendorId":"acme"}"#),
        Case(version: .v16, action: "SignCertificate", payload: #"{"csr":"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----"}"#),
        Case(version: .v201, action: "SignCertificate", payload: #"{"csr":"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----","certificateType":"V2GCertificate"}"#),
        Case(version: .v201, action: "Get15118EVCertificate", payload: #"{"iso15118SchemaVersion":"urn:iso:15118:2:2013:MsgDef","action":"Install","exiRequest":"AAAA"}"#),
        Case(version: .v201, action: "GetCertificateStatus", payload: #"{"ocspRequestData":{"hashAlgorithm":"SHA256","issuerNameHash":"aa","issuerKeyHash":"bb","serialNumber":"01","responderURL":"http://127.0.0.1:9/"}}"#),
    ]

    /// Signs every CSR (so that a SignCertificate queues one), and answers the other certificate messages.
    struct AcceptingCertificates: CertificatePort {
        var canSign: Bool { true }
        func refusal(csr: String, stationId: String, use: String) -> String? { nil }
        func verifyContract(certificate: String?, hashes: [ContractCertificateHash], now: Date) async -> ContractCheck {
            ContractCheck(status: "Accepted", eMAID: "TOK", reason: "test")
        }
        func ocspResponse(for hash: ContractCertificateHash) async -> Result<[UInt8], CertificateLookupFailure> { .success([0x30, 0x03, 0x0a, 0x01, 0x00]) }
        func evCertificate(schemaVersion: String, action: String, exiRequest: String) async -> Result<String, CertificateLookupFailure> { .success("BBBB") }
    }

    @Test func everyHandledActionIsCovered() {
        for version in [OCPPVersion.v16, .v201] {
            let handled = version == .v16 ? OCPP16Adapter(service: ChargingService()).handledActions : OCPP201Adapter(service: ChargingService()).handledActions
            #expect(Set(Self.cases.filter { $0.version == version }.map(\.action)) == handled)
        }
    }

    @Test(arguments: cases) func aReplayedCallChangesNothing(_ c: Case) async throws {
        var service = ChargingService()
        service.certificates = AcceptingCertificates()
        try await Harness.with(service: service) { h in
            try await h.station("RP-1")
            _ = try await h.repo.upsertToken(IdToken(value: "TOK"))
            _ = try await h.repo.upsertToken(IdToken(value: "TOK2"))
            // A transaction for the messages that refer to one, started on the version's own terms.
            let start = try await h.call(.v16, "RP-1", "StartTransaction", #"{"connectorId":1,"idTag":"TOK","meterStart":1000,"timestamp":"2026-01-01T00:00:00Z"}"#)
            let tx = try #require(start.result?["transactionId"]?.int64Value)
            let payload = c.payload.replacingOccurrences(of: "TX", with: "\(tx)")

            let first = try await h.call(c.version, "RP-1", c.action, payload, id: "m-1")
            #expect(first.isResult, "\(first.serialized)")
            let before = try await h.rowCounts()
            let second = try await h.call(c.version, "RP-1", c.action, payload, id: "m-1")
            #expect(second.isResult, "\(second.serialized)")
            #expect(try await h.rowCounts() == before)
        }
    }

    /// Counts the questions a checked call asks outside the transaction.
    final class CountingCertificates: CertificatePort, @unchecked Sendable {
        let asked = Mutex(0)
        var canSign: Bool { true }
        func refusal(csr: String, stationId: String, use: String) -> String? { nil }
        func verifyContract(certificate: String?, hashes: [ContractCertificateHash], now: Date) async -> ContractCheck {
            ContractCheck(status: "Accepted", eMAID: "TOK", reason: "test")
        }
        func ocspResponse(for hash: ContractCertificateHash) async -> Result<[UInt8], CertificateLookupFailure> { .success([0x30, 0x03, 0x0a, 0x01, 0x00]) }
        func evCertificate(schemaVersion: String, action: String, exiRequest: String) async -> Result<String, CertificateLookupFailure> {
            asked.withLock { $0 += 1 }
            return .success("BBBB")
        }
    }

    /// A replayed Get15118EVCertificate is answered from the kept reply: the contract pool is not asked twice.
    @Test func aReplayedCheckedCallDoesNotAskAgain() async throws {
        let port = CountingCertificates()
        var service = ChargingService()
        service.certificates = port
        try await Harness.with(service: service) { h in
            try await h.station("RP-3")
            let payload = #"{"iso15118SchemaVersion":"urn:iso:15118:2:2013:MsgDef","action":"Install","exiRequest":"AAAA"}"#
            let first = try await h.call(.v201, "RP-3", "Get15118EVCertificate", payload, id: "q-1")
            let again = try await h.call(.v201, "RP-3", "Get15118EVCertificate", payload, id: "q-1")
            #expect(first.serialized == again.serialized)
            #expect(port.asked.withLock { $0 } == 1)
            _ = try await h.call(.v201, "RP-3", "Get15118EVCertificate", payload, id: "q-2")
            #expect(port.asked.withLock { $0 } == 2)
        }
    }

    @Test func theSamePayloadUnderANewIdIsANewMessage() async throws {
        try await Harness.with { h in
            try await h.station("RP-2")
            try await h.call(.v16, "RP-2", "DataTransfer", #"{"vendorId":"acme"}"#, id: "a")
            try await h.call(.v16, "RP-2", "DataTransfer", #"{"vendorId":"acme"}"#, id: "a")
            try await h.call(.v16, "RP-2", "DataTransfer", #"{"vendorId":"acme"}"#, id: "b")
            #expect(try await h.count("SELECT count(*)::int FROM station_events WHERE kind = 'DataTransfer'") == 2)
            try await h.call(.v201, "RP-2", "BootNotification", #"{"chargingStation":{"model":"M","vendorName":"V"},"reason":"PowerUp"}"#, id: "1")
            try await h.call(.v201, "RP-2", "BootNotification", #"{"chargingStation":{"model":"M","vendorName":"V"},"reason":"PowerUp"}"#, id: "1")
            #expect(try await h.count("SELECT count(*)::int FROM outbox WHERE topic = 'station.booted'") == 1)
        }
    }

    /// A CALL that failed (the database was unavailable) is applied when the station sends it again:
    /// nothing of the failure is kept or replayed.
    @Test func aRetryAfterInternalErrorIsApplied() async throws {
        try await Harness.with { h in
            try await h.station("RP-3")
            let failing = FailingOnce(inner: h.committer)
            let payload = #"{"vendorId":"acme","data":"x"}"#
            let first = try await h.call(.v16, "RP-3", "DataTransfer", payload, id: "r", runner: failing)
            #expect(first.errorCode == "InternalError")
            #expect(try await h.count("SELECT count(*)::int FROM station_events") == 0)
            let retry = try await h.call(.v16, "RP-3", "DataTransfer", payload, id: "r", runner: failing)
            #expect(retry.isResult)
            #expect(try await h.count("SELECT count(*)::int FROM station_events") == 1)
        }
    }
}

/// A runner whose first unit of work fails as an unavailable database would.
final class FailingOnce: TransactionRunner, @unchecked Sendable {
    let inner: any TransactionRunner
    private let lock = NSLock()
    private var failed = false

    init(inner: any TransactionRunner) { self.inner = inner }

    func perform<T: Sendable>(_ work: @escaping @Sendable (any UnitOfWork) async throws -> T) async throws -> T {
        let fail = lock.withLock { () -> Bool in
            defer { failed = true }
            return !failed
        }
        if fail { throw StoreFailure.unavailable("connection refused") }
        return try await inner.perform(work)
    }
}
