public import Foundation
import CSMS
import OCPI
import PostgresNIO
public import Settlement

extension SettlementRepository {
    public struct BookingView: Sendable, Hashable {
        public var id: Int64
        public var stationId: String
        public var evseId: Int
        /// The ledger driver, or nil for a roaming partner's booking.
        public var driverId: String?
        public var partnerId: Int64?
        public var ocpiReservationId: String?
        public var idToken: String
        public var expectedType: String
        public var expectedValue: String
        public var start: Date
        public var end: Date
        public var state: String
        public var holdId: Int64?
        public var held: Decimal?
        public var holdState: String?
        public var captured: Decimal?
        public var reservationId: Int?
        public var transactionId: Int64?
        public var createdAt: Date
    }

    static let bookingColumns = """
        b.id, b.station_id, b.evse_id::int8, b.driver_id, b.id_token, b.expected_type, b.expected_value, lower(b.slot), upper(b.slot), b.state,
        b.hold_id, h.amount::text, h.state, h.captured::text, b.reservation_id::int8, b.transaction_id, b.created_at, b.partner_id, b.ocpi_reservation_id
        """

    static func booking(_ row: PostgresRow) throws -> BookingView {
        let c = row.makeRandomAccess()
        return BookingView(
            id: try c[0].decode(Int64.self), stationId: try c[1].decode(String.self), evseId: Int(try c[2].decode(Int64.self)), driverId: try c[3].decode(String?.self),
            partnerId: try c[17].decode(Int64?.self), ocpiReservationId: try c[18].decode(String?.self),
            idToken: try c[4].decode(String.self), expectedType: try c[5].decode(String.self), expectedValue: try c[6].decode(String.self),
            start: try c[7].decode(Date.self), end: try c[8].decode(Date.self), state: try c[9].decode(String.self), holdId: try c[10].decode(Int64?.self),
            held: try c[11].decode(String?.self).map(LedgerSQL.decimal), holdState: try c[12].decode(String?.self),
            captured: try c[13].decode(String?.self).map(LedgerSQL.decimal), reservationId: try c[14].decode(Int64?.self).map(Int.init),
            transactionId: try c[15].decode(Int64?.self), createdAt: try c[16].decode(Date.self)
        )
    }

    public func booking(id: Int64) async throws -> BookingView? {
        for try await row in try await client.query(
            "SELECT \(unescaped: Self.bookingColumns) FROM bookings b LEFT JOIN holds h ON h.id = b.hold_id WHERE b.id = \(id)", logger: logger
        ) { return try Self.booking(row) }
        return nil
    }

    public func bookings(stationId: String?, driverId: String?, limit: Int = 100) async throws -> [BookingView] {
        var out: [BookingView] = []
        for try await row in try await client.query(
            """
            SELECT \(unescaped: Self.bookingColumns) FROM bookings b LEFT JOIN holds h ON h.id = b.hold_id
            WHERE (\(stationId)::text IS NULL OR b.station_id = \(stationId)) AND (\(driverId)::text IS NULL OR b.driver_id = \(driverId))
            ORDER BY lower(b.slot) DESC, b.id DESC LIMIT \(limit)
            """,
            logger: logger
        ) { out.append(try Self.booking(row)) }
        return out
    }

    /// Bookings whose slot has begun and that the station was not told of yet.
    public func bookingsDue(now: Date = Date(), limit: Int = 200) async throws -> [BookingView] {
        var out: [BookingView] = []
        for try await row in try await client.query(
            """
            SELECT \(unescaped: Self.bookingColumns) FROM bookings b LEFT JOIN holds h ON h.id = b.hold_id
            WHERE b.state = 'booked' AND b.partner_id IS NULL AND lower(b.slot) <= \(now) AND upper(b.slot) > \(now) ORDER BY lower(b.slot) LIMIT \(limit)
            """,
            logger: logger
        ) { out.append(try Self.booking(row)) }
        return out
    }

    public func markReserved(bookingId: Int64, reservationId: Int) async throws {
        try await client.query(
            "UPDATE bookings SET state = 'reserved', reservation_id = \(Int64(reservationId)), updated_at = now() WHERE id = \(bookingId) AND state = 'booked'",
            logger: logger
        )
    }

    /// Bookings whose slot ended with no transaction.
    public func noShows(now: Date = Date(), limit: Int = 200) async throws -> [Int64] {
        var out: [Int64] = []
        for try await id in try await client.query(
            "SELECT id FROM bookings WHERE state IN ('booked', 'reserved') AND upper(slot) <= \(now) AND transaction_id IS NULL ORDER BY upper(slot) LIMIT \(limit)",
            logger: logger
        ).decode(Int64.self) { out.append(id) }
        return out
    }

    public enum BookingEnd: String, Sendable { case cancelled, noShow = "no_show" }

    public enum EndOutcome: Sendable, Hashable {
        case ended(fee: Decimal)
        case noSuchBooking
        /// Already used by a transaction, cancelled or settled.
        case notOpen(state: String)
    }

    /// Ends a booking nobody charged in: the reservation it cost under the tariff (a cancellation: the time reserved
    /// so far; a no-show: the whole slot, as RESERVATION_EXPIRES prices it) is captured and split, the rest of the hold
    /// released. One transaction; a booking ends once.
    public func endBooking(id: Int64, as end: BookingEnd, now: Date = Date()) async throws -> EndOutcome {
        try await client.withTransaction(logger: logger) { conn in
            var found: (String, Date, Date, Int64?)?
            for try await row in try await conn.query(
                "SELECT state, lower(slot), upper(slot), hold_id FROM bookings WHERE id = \(id) FOR UPDATE", logger: logger
            ).decode((String, Date, Date, Int64?).self) { found = row }
            guard let (state, start, stop, holdId) = found else { return .noSuchBooking }
            guard state == "booked" || state == "reserved" else { return .notOpen(state: state) }
            var fee: Decimal = 0
            if let holdId {
                var hold: (String, String, String, String, String, String?)?
                for try await row in try await conn.query(
                    "SELECT driver_id, currency, amount::text, tariff::text, time_zone, location_id FROM holds WHERE id = \(holdId) AND state = 'held' AND transaction_id IS NULL FOR UPDATE",
                    logger: logger
                ).decode((String, String, String, String, String, String?).self) { hold = row }
                if let (driver, currency, amountText, tariffJSON, zone, location) = hold {
                    let held = try LedgerSQL.decimal(amountText)
                    let tariff = try CatalogJSON.decode(Tariff.self, tariffJSON)
                    let reserved: Int64 = end == .noShow ? Int64(stop.timeIntervalSince(start)) : Int64(max(0, min(now, stop).timeIntervalSince(start)))
                    let price = try ReservationPricing.fee(tariff: tariff, timeZone: TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!, from: start, seconds: reserved)
                    var host = Self.defaultHost
                    if let location {
                        for try await h in try await conn.query("SELECT host FROM location_hosts WHERE location_id = \(location)", logger: logger).decode(String.self) { host = h }
                    }
                    let rule = try await Self.splitRule(conn, locationId: location, host: host, at: start, logger: logger)
                    let plan = CapturePlan(holdId: holdId, driver: driver, currency: currency, held: held, price: price, rule: rule, host: host)
                    for entry in plan.entries { try await LedgerSQL.post(conn, entry, holdId: holdId, logger: logger) }
                    fee = plan.captured
                    if plan.captured > 0 {
                        try await conn.query(
                            "UPDATE holds SET state = 'captured', captured = \("\(plan.captured)")::numeric, settled_at = \(now) WHERE id = \(holdId)", logger: logger
                        )
                    } else {
                        try await conn.query("UPDATE holds SET state = 'released', settled_at = \(now) WHERE id = \(holdId)", logger: logger)
                    }
                }
            }
            try await conn.query("UPDATE bookings SET state = \(end.rawValue), updated_at = now() WHERE id = \(id)", logger: logger)
            return .ended(fee: fee)
        }
    }
}

extension SettlementRepository {
    /// A roaming partner's open booking by its OCPI reservation id (any case).
    public func ocpiBooking(partnerId: Int64, reservationId: String) async throws -> BookingView? {
        for try await row in try await client.query(
            """
            SELECT \(unescaped: Self.bookingColumns) FROM bookings b LEFT JOIN holds h ON h.id = b.hold_id
            WHERE b.partner_id = \(partnerId) AND lower(b.ocpi_reservation_id) = lower(\(reservationId)) AND b.state IN ('booked', 'reserved')
            """,
            logger: logger
        ) { return try Self.booking(row) }
        return nil
    }
}

extension SettlementRepository {
    /// The open booking a CSMS reservation id was sent for.
    public func openBooking(reservationId: Int) async throws -> Int64? {
        for try await id in try await client.query(
            "SELECT id FROM bookings WHERE reservation_id = \(Int64(reservationId)) AND state IN ('booked', 'reserved') ORDER BY id DESC LIMIT 1", logger: logger
        ).decode(Int64.self) { return id }
        return nil
    }
}
