public import Foundation
import CSMS
import Chain
import OCPI
import PostgresNIO
import Synchronization
public import Settlement

extension SettlementRepository {
    public enum SettleOutcome: Sendable, Hashable {
        /// Nothing was due.
        case idle
        /// The transaction's hold was captured and its receipt made.
        case captured(transactionId: Int64, receiptId: UUID, amount: Decimal)
        /// The transaction had nothing left to settle (a replayed end): its queue entry was dropped.
        case alreadySettled(transactionId: Int64)
    }

    /// Settles the oldest due ended transaction, in one transaction: the price from its meter readings and the
    /// tariff snapshot of its hold, the capture (at most the hold), the release of the rest, the split, the receipt
    /// and the queue entry's removal commit together or not at all. Another node settles another transaction
    /// (SKIP LOCKED); a crash at any point leaves the queue entry for the next try.
    public func settleNext(signer: ReceiptSigner, now: Date = Date()) async throws -> SettleOutcome {
        let claimed = Mutex<Int64?>(nil)
        do {
            return try await client.withTransaction(logger: logger) { conn in
                var due: Int64?
                for try await id in try await conn.query(
                    "SELECT transaction_id FROM settlement_queue WHERE not_before <= now() ORDER BY queued_at, transaction_id LIMIT 1 FOR UPDATE SKIP LOCKED",
                    logger: logger
                ).decode(Int64.self) { due = id }
                guard let transactionId = due else { return .idle }
                claimed.withLock { $0 = transactionId }
                let outcome = try await Self.settle(conn, transactionId: transactionId, signer: signer, now: now, cache: accounts, logger: logger)
                try await conn.query("DELETE FROM settlement_queue WHERE transaction_id = \(transactionId)", logger: logger)
                return outcome
            }
        } catch {
            // Rolled back: the entry waits (backing off) with its error for the admin, and others go on meanwhile.
            guard let id = claimed.withLock({ $0 }) else { throw error }
            try? await client.query(
                """
                UPDATE settlement_queue SET attempts = attempts + 1, last_error = \(String("\(error)".prefix(500))),
                    not_before = now() + least(interval '1 second' * power(2, least(attempts, 20)), interval '10 minutes')
                WHERE transaction_id = \(id)
                """,
                logger: logger
            )
            throw SettleFailure(transactionId: id, reason: "\(String(reflecting: error).prefix(300))")
        }
    }

    public struct SettleFailure: Error, CustomStringConvertible {
        public var transactionId: Int64
        public var reason: String
        public var description: String { "transaction \(transactionId) not settled: \(reason)" }
    }

    static func settle(_ conn: PostgresConnection, transactionId: Int64, signer: ReceiptSigner, now: Date, cache: AccountCache? = nil, logger: Logger) async throws -> SettleOutcome {
        struct Hold { var id: Int64; var driver: String; var currency: String; var amount: Decimal; var state: String; var tariff: String?; var zone: String; var location: String?; var token: String; var slotStart: Date? }
        var hold: Hold?
        for try await (id, driver, currency, amount, state, tariff, zone, location, token, slot) in try await conn.query(
            """
            SELECT h.id, h.driver_id, h.currency, h.amount::text, h.state, h.tariff::text, h.time_zone, h.location_id, h.id_token, lower(b.slot)
            FROM holds h LEFT JOIN bookings b ON b.id = h.booking_id WHERE h.transaction_id = \(transactionId) FOR UPDATE OF h
            """,
            logger: logger
        ).decode((Int64, String, String, String, String, String?, String, String?, String, Date?).self) {
            hold = Hold(id: id, driver: driver, currency: currency, amount: try LedgerSQL.decimal(amount), state: state, tariff: tariff, zone: zone, location: location, token: token, slotStart: slot)
        }
        guard let hold, hold.state == "held" else { return .alreadySettled(transactionId: transactionId) }

        struct Tx { var station: String; var evse: Int; var connector: Int; var start: Date; var stop: Date; var meterStart: Int64?; var meterStop: Int64?; var energy: Int64? }
        var found: Tx?
        for try await (station, evse, connector, start, stop, ms, me, energy) in try await conn.query(
            """
            SELECT station_id, evse_id::int8, connector_id::int8, coalesce(started_at, created_at), coalesce(stopped_at, updated_at), meter_start_wh, meter_stop_wh, energy_wh
            FROM transactions WHERE id = \(transactionId) AND state = 'Ended'
            """,
            logger: logger
        ).decode((String, Int64, Int64, Date, Date, Int64?, Int64?, Int64?).self) {
            found = Tx(station: station, evse: Int(evse), connector: Int(connector), start: start, stop: stop, meterStart: ms, meterStop: me, energy: energy)
        }
        guard let tx = found else { return .alreadySettled(transactionId: transactionId) }

        // The same readings the OCPI Session and CDR are priced from.
        let readings = try await SessionRepository.registerReadings(conn, transactionId: transactionId, logger: logger)
        var signed: [Receipt.SignedMeterData] = []
        for try await data in try await conn.query(
            """
            SELECT signed_data FROM meter_values
            WHERE transaction_id = \(transactionId) AND measurand = 'Energy.Active.Import.Register' AND signed_data IS NOT NULL ORDER BY sampled_at, id
            """,
            logger: logger
        ).decode(String.self) { signed.append(Receipt.SignedMeterData(format: data.hasPrefix("OCMF|") ? "OCMF" : "OCPP", data: data, verified: nil)) }
        let start = OCPIDateTime(seconds: OCPIDateTime(tx.start).seconds)
        let end = max(OCPIDateTime(seconds: OCPIDateTime(tx.stop).seconds), start)
        let metered = MeteredSession.of(start: start, end: end, meterStartWh: tx.meterStart, meterStopWh: tx.meterStop, energyWh: tx.energy, readings: readings, now: end)
        let energy = metered.energyWh

        guard let tariffJSON = hold.tariff else { throw MissingRow("the tariff snapshot of hold \(hold.id)") }
        let tariff = try CatalogJSON.decode(Tariff.self, tariffJSON)
        let zone = TimeZone(identifier: hold.zone) ?? TimeZone(identifier: "UTC")!
        var (usage, totals) = try metered.priced(tariff: tariff, timeZone: zone, currency: hold.currency)
        if let slotStart = hold.slotStart {
            // A booked session pays its reservation too: from the slot's start to the charging's.
            usage = ReservationPricing.withReservation(usage, slotStart: slotStart)
            totals = try PricingEngine.price(usage, tariff: tariff, timeZone: zone)
        }

        var host = defaultHost
        var renewable = tariff.energyMix?.renewablePercent
        if let location = hold.location {
            for try await h in try await conn.query("SELECT host FROM location_hosts WHERE location_id = \(location)", logger: logger).decode(String.self) { host = h }
            if renewable == nil {
                for try await body in try await conn.query("SELECT body::text FROM locations WHERE id = \(location)", logger: logger).decode(String.self) {
                    renewable = (try? CatalogJSON.decode(LocationSite.self, body))?.energyMix?.renewablePercent
                }
            }
        }
        let rule = try await splitRule(conn, locationId: hold.location, host: host, at: tx.start, logger: logger)
        let plan = CapturePlan(holdId: hold.id, driver: hold.driver, currency: hold.currency, held: hold.amount,
                               price: totals.totalCost.inclVat ?? totals.totalCost.exclVat, rule: rule, host: host)
        CrashPoint.hit("capture.priced")
        var entries: [Int64] = []
        for entry in plan.entries { entries.append(try await LedgerSQL.post(conn, entry, holdId: hold.id, cache: cache, logger: logger)) }
        CrashPoint.hit("capture.posted")
        try await conn.query(
            "UPDATE holds SET state = 'captured', captured = \("\(plan.captured)")::numeric, settled_at = \(now) WHERE id = \(hold.id)", logger: logger
        )
        let salt = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let secret = (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let receipt = Receipt(
            id: UUID(), issuedAt: now, keyId: signer.keyId,
            session: .init(transactionId: transactionId, stationId: tx.station, evseId: tx.evse, connectorId: tx.connector, locationId: hold.location,
                           idToken: hold.token, start: start.date, stop: end.date, meterStartWh: tx.meterStart, meterStopWh: tx.meterStop, energyWh: energy),
            tokenSalt: salt, signedMeterData: signed, tariffJSON: tariffJSON, currency: hold.currency, totals: totals, holdId: hold.id, held: hold.amount,
            capture: plan, renewablePercent: renewable, ledgerEntries: entries
        )
        let bytes = receipt.bytes
        let signature = try signer.sign(bytes)
        try await conn.query(
            """
            INSERT INTO receipts (id, transaction_id, hold_id, body, signature, key_id, secret, token_salt)
            VALUES (\(receipt.id), \(transactionId), \(hold.id), \(Data(bytes)), \(Data(signature)), \(signer.keyId), \(secret), \(salt))
            """,
            logger: logger
        )
        CrashPoint.hit("capture.receipt")
        return .captured(transactionId: transactionId, receiptId: receipt.id, amount: plan.captured)
    }
}
