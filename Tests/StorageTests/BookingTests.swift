import CSMS
import Foundation
import OCPI
import OCPP
import PostgresNIO
import Settlement
import Storage
import Testing
import TestSupport

/// Bookings on a real PostgreSQL: overlaps refused by the database itself, sharing windows, the expected car, and
/// the reservation priced by the tariff at capture, cancellation and no-show.
@Suite struct BookingTests {
    let settlement = SettlementStorageTests()
    let booking = BookingService(policy: HoldPolicy(minutes: 60))

    /// 0.40 EUR/kWh; a reservation costs 1.00 flat, an expired one (a no-show) 2.00 flat; 21 % VAT throughout.
    static func tariff() throws -> Tariff {
        try JSONDecoder().decode(Tariff.self, from: Data("""
            {"country_code":"NL","party_id":"VOL","id":"TRES","currency":"EUR","last_updated":"2026-01-01T00:00:00Z","elements":[
              {"price_components":[{"type":"FLAT","price":2.00,"vat":21,"step_size":1}],"restrictions":{"reservation":"RESERVATION_EXPIRES"}},
              {"price_components":[{"type":"FLAT","price":1.00,"vat":21,"step_size":1}],"restrictions":{"reservation":"RESERVATION"}},
              {"price_components":[{"type":"ENERGY","price":0.40,"vat":21,"step_size":1}]}]}
            """.utf8))
    }

    /// A host's location (opening times optional) with station CPB, EVSEs 1 and 2 on the reservation tariff.
    func setUp(_ h: Harness, openingTimes: String? = nil, host: String = "alice") async throws {
        let catalog = CatalogService()
        let tariff = try Self.tariff()
        _ = try await h.committer.perform { try await catalog.putTariff($0, tariff, now: Date()) }
        var text = """
            {"country_code":"NL","party_id":"VOL","id":"HOME","publish":true,"name":"Alice's drive","address":"Dam 1","city":"Amsterdam",
             "country":"NLD","coordinates":{"latitude":"52.37302","longitude":"4.89281"},"time_zone":"UTC"
            """
        if let openingTimes { text += #","opening_times":\#(openingTimes)"# }
        let site = try JSONDecoder().decode(LocationSite.self, from: Data((text + "}").utf8))
        _ = try await h.committer.perform { try await catalog.putLocation($0, site, now: Date()) }
        try await h.station("CPB")
        for evse in [1, 2] {
            var placement = CatalogTests().placement("CPB", evse: evse, at: "HOME")
            placement.connectors[1]?.tariffIds = ["TRES"]
            let p = placement
            _ = try await h.committer.perform { try await catalog.putEVSE($0, p, now: Date()) }
        }
        #expect(try await settlement.repo(h).setHost(locationId: "HOME", host: host) == .set)
    }

    func book(_ h: Harness, evse: Int = 1, driver: String = "bob", token: String = "BOB1", expected: (String, String)? = nil, start: Date, minutes: Int, now: Date = Date()) async throws -> (id: Int64, held: Decimal) {
        let b = NewBooking(stationId: "CPB", evseId: evse, driverId: driver, idToken: token, expectedType: expected?.0 ?? "token", expectedValue: expected?.1 ?? token,
                           start: start, end: start.addingTimeInterval(Double(minutes) * 60))
        let service = booking
        return try await h.committer.perform { uow in try await service.book(uow, b, now: now) }
    }

    func refusal(_ h: Harness, evse: Int = 1, driver: String = "bob", token: String = "BOB1", start: Date, minutes: Int) async -> BookingService.Refusal? {
        do {
            _ = try await book(h, evse: evse, driver: driver, token: token, start: start, minutes: minutes)
            return nil
        } catch let r as BookingService.Refusal { return r } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    static func at(_ text: String) -> Date { OCPIDateTime(string: text)!.date }

    @Test func overlappingBookingsAreRefusedByPostgreSQLItself() async throws {
        try await Harness.with(service: SettlementStorageTests.funded) { h in
            try await setUp(h)
            try await settlement.driver(h, "bob", token: "BOB1", funds: "100.00")
            try await settlement.driver(h, "eve", token: "EVE1", funds: "100.00")
            let ten = Self.at("2027-03-01T10:00:00Z")
            let first = try await book(h, start: ten, minutes: 30)
            // 30 minutes at 7.36 kW = 3.68 kWh: 1.472 + 21 % = 1.78, and the reservation alone, priced as if it expired
            // unused (the most it can cost): 2.00 + 21 % = 2.42.
            #expect(first.held == Decimal(string: "4.20"))
            #expect(await refusal(h, driver: "eve", token: "EVE1", start: ten.addingTimeInterval(15 * 60), minutes: 30) == .overlap)
            #expect(await refusal(h, driver: "eve", token: "EVE1", start: ten.addingTimeInterval(-10 * 60), minutes: 11) == .overlap)
            // Back to back, and the other EVSE at the same time, are fine.
            _ = try await book(h, driver: "eve", token: "EVE1", start: ten.addingTimeInterval(30 * 60), minutes: 30)
            _ = try await book(h, evse: 2, driver: "eve", token: "EVE1", start: ten, minutes: 30)
            // The database refuses it even when the service is bypassed.
            await #expect(throws: PSQLError.self) {
                try await h.client.query("""
                    INSERT INTO bookings (station_id, evse_id, driver_id, id_token, expected_type, expected_value, slot)
                    VALUES ('CPB', 1, 'eve', 'EVE1', 'token', 'EVE1', tstzrange('2027-03-01T10:29:00Z', '2027-03-01T10:31:00Z', '[)'))
                    """, logger: TestPostgres.shared.logger)
            }
            // A refused booking leaves nothing behind: no booking row, no hold.
            #expect(try await h.count("SELECT count(*)::int FROM bookings") == 3)
            #expect(try await h.count("SELECT count(*)::int FROM holds") == 3)
            // Cancelled before its slot: the reservation is priced as one that was not used (2.42), the rest given back,
            // and the slot is free again.
            let repo = settlement.repo(h)
            #expect(try await repo.endBooking(id: first.id, as: .cancelled, now: ten.addingTimeInterval(-3600)) == .ended(fee: Decimal(string: "2.42")!))
            #expect(try await repo.endBooking(id: first.id, as: .cancelled) == .notOpen(state: "cancelled"))
            _ = try await book(h, driver: "eve", token: "EVE1", start: ten.addingTimeInterval(5 * 60), minutes: 10)
            #expect(try await settlement.balance(h, "bob") == (Decimal(string: "97.58")!, 0))
            #expect(try await repo.trialBalance().totals == ["EUR": 0])
        }
    }

    @Test func aBookingOutsideTheSharingWindowsIsRefusedButNotTheHosts() async throws {
        // Public on weekday evenings only (2027-03-01 is a Monday).
        let hours = #"{"twentyfourseven":false,"regular_hours":[{"weekday":1,"period_begin":"18:00","period_end":"23:59"},{"weekday":2,"period_begin":"18:00","period_end":"23:59"}]}"#
        try await Harness.with(service: SettlementStorageTests.funded) { h in
            try await setUp(h, openingTimes: hours)
            try await settlement.driver(h, "bob", token: "BOB1", funds: "100.00")
            try await settlement.driver(h, "alice", token: "ALICE1", funds: "100.00")
            #expect(await refusal(h, start: Self.at("2027-03-01T10:00:00Z"), minutes: 30) == .outsideSharingWindows)
            // Straddling the window's start is refused too; wholly inside, and across Monday midnight into Tuesday's window, is fine.
            #expect(await refusal(h, start: Self.at("2027-03-01T17:45:00Z"), minutes: 30) == .outsideSharingWindows)
            _ = try await book(h, start: Self.at("2027-03-01T18:00:00Z"), minutes: 30)
            #expect(await refusal(h, evse: 2, start: Self.at("2027-03-01T23:45:00Z"), minutes: 30) == .outsideSharingWindows)
            _ = try await book(h, evse: 2, start: Self.at("2027-03-02T18:30:00Z"), minutes: 60)
            // The host books their own station any time.
            _ = try await book(h, driver: "alice", token: "ALICE1", start: Self.at("2027-03-01T10:00:00Z"), minutes: 30)
            // Another driver's token is not bob's.
            #expect(await refusal(h, driver: "bob", token: "ALICE1", start: Self.at("2027-03-01T19:00:00Z"), minutes: 30) == .notTheDriversToken)
            // Too little money: refused with nothing held.
            try await settlement.driver(h, "poor", token: "POOR1", funds: "1.00")
            guard case .noCredit = await refusal(h, driver: "poor", token: "POOR1", start: Self.at("2027-03-01T20:00:00Z"), minutes: 30) else {
                Issue.record("a booking beyond the driver's funds was not refused")
                return
            }
            #expect(try await h.count("SELECT count(*)::int FROM bookings WHERE driver_id = 'poor'") == 0)
        }
    }

    @Test func duringTheSlotOnlyTheExpectedCarChargesAndPaysItsReservation() async throws {
        try await Harness.with(service: SettlementStorageTests.funded) { h in
            try await setUp(h)
            try await settlement.driver(h, "bob", token: "BOB1", funds: "20.00")
            try await settlement.driver(h, "eve", token: "EVE1", funds: "20.00")
            let start = Date().addingTimeInterval(-60)
            let made = try await book(h, expected: ("mac", "00:1A:2B:3C:4D:5E"), start: start, minutes: 30)
            // Another car on the booked EVSE is refused; on the free EVSE it charges.
            let (_, other) = try await settlement.start(h, "CPB", "EVE1")
            #expect(other == "Invalid")
            _ = try await h.repo.upsertToken(IdToken(value: "ZED1"))
            let free = try await h.call(.v16, "CPB", "StartTransaction", #"{"connectorId":2,"idTag":"ZED1","meterStart":0,"timestamp":"2026-12-01T10:00:00Z"}"#)
            #expect(settlement.status(free) == "Accepted")
            // The expected car, by its MAC address (2.0.1 Autocharge), though no token of that value exists.
            let started = try await h.call(.v201, "CPB", "TransactionEvent", """
                {"eventType":"Started","timestamp":"\(OCPIDateTime(Date()))","triggerReason":"Authorized","seqNo":0,
                 "transactionInfo":{"transactionId":"mac-1"},"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"001a2b3c4d5e","type":"MacAddress"},
                 "meterValue":[{"timestamp":"\(OCPIDateTime(Date()))","sampledValue":[{"value":1000,"measurand":"Energy.Active.Import.Register"}]}]}
                """)
            #expect(settlement.status(started) == "Accepted")
            let bookingRow = try #require(try await settlement.repo(h).booking(id: made.id))
            #expect(bookingRow.state == "used" && bookingRow.transactionId != nil)
            #expect(try await h.count("SELECT count(*)::int FROM holds WHERE booking_id = \(made.id) AND transaction_id IS NOT NULL") == 1)
            let ended = try await h.call(.v201, "CPB", "TransactionEvent", """
                {"eventType":"Ended","timestamp":"\(OCPIDateTime(Date().addingTimeInterval(1)))","triggerReason":"EVDeparted","seqNo":1,
                 "transactionInfo":{"transactionId":"mac-1","stoppedReason":"EVDisconnected"},
                 "meterValue":[{"timestamp":"\(OCPIDateTime(Date().addingTimeInterval(1)))","sampledValue":[{"value":6000,"measurand":"Energy.Active.Import.Register","context":"Transaction.End"}]}]}
                """)
            #expect(ended.isResult)
            let captured = try await settlement.settleAll(h, signer: ReceiptSigner())
            // 5 kWh at 0.40 + 21 % = 2.42, and the reservation from the slot's start: 1.00 + 21 % = 1.21.
            #expect(captured == [bookingRow.transactionId!: Decimal(string: "3.63")!])
            let receipt = try #require(try await settlement.repo(h).receipt(transactionId: bookingRow.transactionId!))
            #expect(String(decoding: receipt.body, as: UTF8.self).contains(#""reservation":{"exclVat":"1.00","inclVat":"1.21"}"#))
        }
    }

    @Test func aNoShowPaysTheExpiredReservationAndGetsTheRestBack() async throws {
        try await Harness.with(service: SettlementStorageTests.funded) { h in
            try await setUp(h)
            try await settlement.driver(h, "bob", token: "BOB1", funds: "20.00")
            let start = Date().addingTimeInterval(-3600)
            // Booked two hours ago for a slot that ended half an hour ago.
            let made = try await book(h, start: start, minutes: 30, now: start.addingTimeInterval(-3600))
            let repo = settlement.repo(h)
            #expect(try await repo.noShows() == [made.id])
            // RESERVATION_EXPIRES: 2.00 + 21 % = 2.42.
            #expect(try await repo.endBooking(id: made.id, as: .noShow) == .ended(fee: Decimal(string: "2.42")!))
            #expect(try await repo.noShows().isEmpty)
            #expect(try await settlement.balance(h, "bob") == (Decimal(string: "17.58")!, 0))
            let statement = try await repo.statement(from: start.addingTimeInterval(-60), to: Date().addingTimeInterval(60))
            #expect(statement.first { $0.kind == "host" }?.account == "alice")
            #expect(statement.first { $0.kind == "host" }?.total == Decimal(string: "2.42"))
        }
    }

    /// A booking's hold is the booking's: the same driver charging elsewhere in the meantime gets a hold of their own,
    /// and a cancellation while the car starts leaves the session to the token's own rules and funds.
    @Test func aBookingsHoldStaysWithTheBooking() async throws {
        try await Harness.with(service: SettlementStorageTests.funded) { h in
            try await setUp(h)
            try await settlement.driver(h, "bob", token: "BOB1", funds: "20.00")
            let later = try await book(h, evse: 2, start: Date().addingTimeInterval(3 * 3600), minutes: 30)
            let (tx, auth) = try await settlement.start(h, "CPB", "BOB1")
            #expect(auth == "Accepted")
            #expect(try await h.count("SELECT count(*)::int FROM holds WHERE booking_id = \(later.id) AND transaction_id IS NULL") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM holds WHERE transaction_id = \(tx) AND booking_id IS NULL") == 1)
            // Cancelled: the booking's reservation is paid from its own hold; the session's hold is untouched.
            #expect(try await settlement.repo(h).endBooking(id: later.id, as: .cancelled) == .ended(fee: Decimal(string: "2.42")!))
            #expect(try await h.count("SELECT count(*)::int FROM holds WHERE transaction_id = \(tx) AND state = 'held'") == 1)
        }
    }

}
