import CSMS
import Foundation
import OCPI
import OCPP
import PostgresNIO
import Settlement
import Storage
import Testing
import TestSupport

/// Settlement on a real PostgreSQL: holds at authorization, capture once at the end, the ledger's invariants.
@Suite struct SettlementStorageTests {
    let catalog = CatalogService()
    static let funded = ChargingService(funds: FundsService(policy: HoldPolicy(minutes: 60)))

    /// A location with a station's EVSE (T2, 230 V × 32 A = 7,360 W) on a 0.40 EUR/kWh + 21 % VAT tariff. A hold
    /// is then 7.36 kWh × 0.40 = 2.944, 3.56 with VAT.
    func setUp(_ h: Harness, stations: [String] = ["CPS"]) async throws {
        let catalog = catalog
        let tariff = try CatalogTests.tariff("T40", price: "0.40")
        _ = try await h.committer.perform { try await catalog.putTariff($0, tariff, now: Date()) }
        try await PushTests().put(h, try PushTests.site("LOC"))
        for station in stations {
            try await h.station(station)
            var placement = CatalogTests().placement(station, at: "LOC")
            placement.connectors[1]?.tariffIds = ["T40"]
            let p = placement
            _ = try await h.committer.perform { try await catalog.putEVSE($0, p, now: Date()) }
        }
    }

    func repo(_ h: Harness) -> SettlementRepository { SettlementRepository(client: h.client, logger: TestPostgres.shared.logger) }

    func driver(_ h: Harness, _ id: String, token: String, funds: String?) async throws {
        _ = try await h.repo.upsertToken(IdToken(value: token))
        try await repo(h).putDriver(id: id, postpaid: false, tokens: [token])
        if let funds { _ = try await repo(h).topUp(driver: id, currency: "EUR", amount: Decimal(string: funds)!, provider: "ledger", reference: "seed-\(id)") }
    }

    func status(_ frame: Frame) -> String? {
        guard case .object(let o) = frame.result, case .object(let info) = o["idTagInfo"] ?? o["idTokenInfo"], case .string(let s) = info["status"] else { return nil }
        return s
    }

    func start(_ h: Harness, _ station: String, _ token: String, meterStart: Int64 = 1000, at: String = "2026-12-01T10:00:00Z") async throws -> (Int64, String?) {
        let frame = try await h.call(.v16, station, "StartTransaction", #"{"connectorId":1,"idTag":"\#(token)","meterStart":\#(meterStart),"timestamp":"\#(at)"}"#)
        guard case .object(let o) = frame.result, case .number(let n) = o["transactionId"], let tx = Int64(n.text) else { return (0, nil) }
        return (tx, status(frame))
    }

    func stop(_ h: Harness, _ station: String, _ tx: Int64, meterStop: Int64, at: String = "2026-12-01T10:30:00Z") async throws {
        #expect(try await h.call(.v16, station, "StopTransaction", #"{"transactionId":\#(tx),"meterStop":\#(meterStop),"timestamp":"\#(at)"}"#).isResult)
    }

    /// Relays the outbox and settles everything due; the captured amounts by transaction.
    func settleAll(_ h: Harness, signer: ReceiptSigner) async throws -> [Int64: Decimal] {
        _ = try await PushRepository(client: h.client, logger: TestPostgres.shared.logger).relay(limit: 10_000)
        var captured: [Int64: Decimal] = [:]
        while true {
            switch try await repo(h).settleNext(signer: signer) {
            case .idle: return captured
            case .captured(let tx, _, let amount): captured[tx] = amount
            case .alreadySettled: continue
            }
        }
    }

    func balance(_ h: Harness, _ driver: String) async throws -> (available: Decimal, held: Decimal) {
        let b = try await repo(h).driver(id: driver)?.balances.first { $0.currency == "EUR" }
        return (b?.available ?? 0, b?.held ?? 0)
    }

    @Test func aHoldIsPlacedAtAuthorizeAndCapturedOnceAtTheEnd() async throws {
        try await Harness.with(service: Self.funded) { h in
            try await setUp(h)
            try await driver(h, "bob", token: "BOB1", funds: "20.00")
            #expect(status(try await h.call(.v16, "CPS", "Authorize", #"{"idTag":"BOB1"}"#)) == "Accepted")
            #expect(try await balance(h, "bob") == (Decimal(string: "16.44")!, Decimal(string: "3.56")!))
            // A second Authorize of the same token at the same station reuses the hold.
            #expect(status(try await h.call(.v16, "CPS", "Authorize", #"{"idTag":"BOB1"}"#)) == "Accepted")
            #expect(try await h.count("SELECT count(*)::int FROM holds") == 1)
            let (tx, auth) = try await start(h, "CPS", "BOB1")
            #expect(auth == "Accepted")
            #expect(try await h.count("SELECT count(*)::int FROM holds WHERE transaction_id = \(tx) AND expires_at IS NULL") == 1)
            try await stop(h, "CPS", tx, meterStop: 6000)  // 5 kWh: 2.00 + 21 % = 2.42
            let signer = ReceiptSigner()
            #expect(try await settleAll(h, signer: signer) == [tx: Decimal(string: "2.42")!])
            #expect(try await balance(h, "bob") == (Decimal(string: "17.58")!, 0))
            let receipt = try #require(try await repo(h).receipt(transactionId: tx))
            #expect(ReceiptSigner.verify(receipt.signature, of: receipt.body, publicKey: signer.publicKey))
            let body = String(decoding: receipt.body, as: UTF8.self)
            #expect(body.contains(#""captured":"2.42""#) && body.contains(#""released":"1.14""#) && body.contains(#""energyWh":5000"#))
            // Without a split rule the host (here the default operator account) takes everything.
            #expect(body.contains(#""host":{"account":"operator","amount":"2.42"}"#))

            // The station's Stop again (a replay after a lost answer), and a second relay of a duplicated end event:
            // no second capture, no second receipt.
            try await stop(h, "CPS", tx, meterStop: 6000)
            try await h.client.query("INSERT INTO outbox (topic, payload) SELECT topic, payload FROM outbox WHERE topic = 'session.ended'", logger: TestPostgres.shared.logger)
            #expect(try await settleAll(h, signer: signer).isEmpty)
            #expect(try await h.count("SELECT count(*)::int FROM journal_entries WHERE kind = 'capture'") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM receipts") == 1)
            #expect(try await balance(h, "bob") == (Decimal(string: "17.58")!, 0))
            #expect(try await ledgerTotals(h) == ["EUR": 0])
        }
    }

    @Test func tooLittleMoneyIsNoCreditBeforeCharging() async throws {
        try await Harness.with(service: Self.funded) { h in
            try await setUp(h)
            try await driver(h, "poor", token: "POOR1", funds: "1.00")
            try await driver(h, "none", token: "NONE1", funds: nil)
            #expect(status(try await h.call(.v16, "CPS", "Authorize", #"{"idTag":"POOR1"}"#)) == "Invalid")
            #expect(status(try await h.call(.v201, "CPS", "Authorize", #"{"idToken":{"idToken":"POOR1","type":"ISO14443"}}"#)) == "NoCredit")
            #expect(status(try await h.call(.v16, "CPS", "Authorize", #"{"idTag":"NONE1"}"#)) == "Invalid")
            let (_, auth) = try await start(h, "CPS", "POOR1")
            #expect(auth == "Invalid")
            #expect(try await h.count("SELECT count(*)::int FROM holds") == 0)
            #expect(try await balance(h, "poor") == (1, 0))
            // A token of no ledger driver is decided by its own rules, as before.
            _ = try await h.repo.upsertToken(IdToken(value: "PLAIN"))
            #expect(status(try await h.call(.v16, "CPS", "Authorize", #"{"idTag":"PLAIN"}"#)) == "Accepted")
        }
    }

    @Test func aLapsedHoldGoesBackToTheDriver() async throws {
        try await Harness.with(service: Self.funded) { h in
            try await setUp(h)
            try await driver(h, "bob", token: "BOB1", funds: "10.00")
            #expect(status(try await h.call(.v16, "CPS", "Authorize", #"{"idTag":"BOB1"}"#)) == "Accepted")
            #expect(try await repo(h).releaseLapsedHolds(now: Date()) == 0)
            #expect(try await repo(h).releaseLapsedHolds(now: Date().addingTimeInterval(3600)) == 1)
            #expect(try await repo(h).releaseLapsedHolds(now: Date().addingTimeInterval(3600)) == 0)
            #expect(try await balance(h, "bob") == (10, 0))
            #expect(try await h.count("SELECT count(*)::int FROM holds WHERE state = 'expired'") == 1)
        }
    }

    @Test func theDatabaseRefusesAnUnbalancedOrEditedLedger() async throws {
        try await Harness.with { h in
            try await driver(h, "bob", token: "BOB1", funds: "10.00")
            let logger = TestPostgres.shared.logger
            // An entry whose postings do not sum to zero fails its statement, inside a transaction or not.
            await #expect(throws: (any Error).self) {
                try await h.client.withTransaction(logger: logger) { conn in
                    try await conn.query("INSERT INTO journal_entries (kind, idempotency_key) VALUES ('topup', 'bad')", logger: logger)
                    try await conn.query("INSERT INTO postings (entry_id, account_id, amount) SELECT currval('journal_entries_id_seq'), id, 5 FROM accounts WHERE kind = 'driver'", logger: logger)
                }
            }
            #expect(try await h.count("SELECT count(*)::int FROM journal_entries WHERE idempotency_key = 'bad'") == 0)
            await #expect(throws: PSQLError.self) { try await h.client.query("UPDATE postings SET amount = amount * 2", logger: logger) }
            await #expect(throws: PSQLError.self) { try await h.client.query("DELETE FROM journal_entries", logger: logger) }
            #expect(try await balance(h, "bob") == (10, 0))
        }
    }

    func ledgerTotals(_ h: Harness) async throws -> [String: Decimal] {
        try await repo(h).trialBalance().totals
    }

    /// Must-show 2: over random drivers, top-ups, split rules and sessions, every entry balances, the ledger sums
    /// to zero per currency, each balance is its postings, and money is conserved: what drivers paid in is what
    /// they hold plus what hosts, the platform and referrers earned.
    @Test func theLedgerInvariantsHoldOverRandomSessions() async throws {
        try await Harness.with(service: Self.funded) { h in
            let stations = ["CPA", "CPB", "CPC"]
            try await setUp(h, stations: stations)
            var rng = SystemRandomNumberGenerator()
            _ = try await repo(h).addSplitRule(scope: "default", rule: SplitRule(hostBp: 7000, platformBp: 2000, referrerBp: 1000, referrer: "ref", remainder: .referrer), validFrom: Date(timeIntervalSince1970: 0))
            _ = try await repo(h).addSplitRule(scope: "location:LOC", rule: SplitRule(hostBp: 8000, platformBp: 1500, referrerBp: 500, referrer: "carol", remainder: .host), validFrom: Date(timeIntervalSince1970: 0))
            #expect(try await repo(h).setHost(locationId: "LOC", host: "alice") == .set)
            var paidIn: Decimal = 0
            let drivers = (0..<6).map { "d\($0)" }
            for d in drivers {
                let funds = Decimal(Int.random(in: 0...2000, using: &rng)) / 100
                try await driver(h, d, token: "TOK-\(d)", funds: funds > 0 ? "\(funds)" : nil)
                paidIn += funds
            }
            var sessions = 0
            for round in 0..<4 {
                // Each station charges one random driver per round (a driver at most once at a time).
                for (i, station) in stations.enumerated() {
                    let d = drivers[(round * stations.count + i) % drivers.count]
                    let (tx, auth) = try await start(h, station, "TOK-\(d)", meterStart: 0, at: "2026-12-0\(round + 1)T1\(i):00:00Z")
                    guard auth == "Accepted" else { continue }
                    let wh = Int64.random(in: 0...20_000, using: &rng)
                    try await stop(h, station, tx, meterStop: wh, at: "2026-12-0\(round + 1)T1\(i):45:00Z")
                    sessions += 1
                }
                _ = try await settleAll(h, signer: ReceiptSigner())
            }
            #expect(sessions > 0, "some sessions must have run")
            #expect(try await h.count("SELECT count(*)::int FROM holds WHERE state = 'held'") == 0)
            #expect(try await h.count("SELECT count(*)::int FROM receipts") == sessions)
            let (accounts, totals) = try await repo(h).trialBalance()
            #expect(!accounts.isEmpty)
            #expect(totals == ["EUR": 0])
            // Each balance equals its postings, recomputed one by one.
            for (ref, balance) in accounts {
                let sum = try await h.client.scalar(String.self, PostgresQuery(unsafeSQL: """
                    SELECT coalesce(sum(p.amount), 0)::text FROM postings p JOIN accounts a ON a.id = p.account_id
                    WHERE a.kind = '\(ref.kind.rawValue)' AND a.owner = '\(ref.owner)' AND a.currency = '\(ref.currency)'
                    """))
                #expect(Decimal(string: sum) == balance)
                if ref.kind == .driver || ref.kind == .driverHold { #expect(balance >= 0, "\(ref.owner) overdrawn") }
            }
            let drivers_ = accounts.filter { $0.0.kind == .driver }.map(\.1).reduce(0, +)
            let earned = accounts.filter { [.host, .platform, .referrer].contains($0.0.kind) }.map(\.1).reduce(0, +)
            #expect(drivers_ + earned == paidIn)
            // Every entry balances on its own.
            #expect(try await h.count("""
                SELECT count(*)::int FROM (SELECT p.entry_id FROM postings p JOIN accounts a ON a.id = p.account_id GROUP BY p.entry_id, a.currency HAVING sum(p.amount) <> 0) x
                """) == 0)
            // The statement's parties add up to what drivers paid.
            let lines = try await repo(h).statement(from: Date(timeIntervalSince1970: 0), to: Date().addingTimeInterval(60))
            let paid = lines.filter { $0.kind == "driver" }.map(\.total).reduce(0, +)
            #expect(paid == earned)
        }
    }

    /// The hold guard's view: a session whose cost so far reached its hold is found; an extension raises the hold
    /// while funds allow (once per new total, however often it is retried), and the session is found no more.
    @Test func aSessionAtItsHoldIsFoundAndItsHoldExtendedWhileFundsAllow() async throws {
        try await Harness.with(service: Self.funded) { h in
            try await setUp(h)
            try await driver(h, "bob", token: "BOB1", funds: "8.00")
            let at = OCPIDateTime(Date().addingTimeInterval(-1800))
            let (tx, auth) = try await start(h, "CPS", "BOB1", meterStart: 0, at: at.description)
            #expect(auth == "Accepted")
            #expect(try await repo(h).overspent(retryAfter: .zero).over.isEmpty)
            // 9 kWh so far: 3.60 + 21 % = 4.36, past the 3.56 held.
            let mv = #"{"connectorId":1,"transactionId":\#(tx),"meterValue":[{"timestamp":"\#(OCPIDateTime(Date()))","sampledValue":[{"value":"9000","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}"#
            #expect(try await h.call(.v16, "CPS", "MeterValues", mv).isResult)
            let over = try await repo(h).overspent(retryAfter: .zero).over
            #expect(over.map(\.transactionId) == [tx] && over.first?.cost == Decimal(string: "4.36") && over.first?.held == Decimal(string: "3.56"))
            #expect(try await repo(h).extendHold(transactionId: tx, by: Decimal(string: "3.56")!))
            #expect(try await balance(h, "bob") == (Decimal(string: "0.88")!, Decimal(string: "7.12")!))
            #expect(try await repo(h).overspent(retryAfter: .zero).over.isEmpty)
            // Not enough left for another: refused, nothing moved.
            #expect(try await !repo(h).extendHold(transactionId: tx, by: Decimal(string: "7.12")!))
            #expect(try await balance(h, "bob") == (Decimal(string: "0.88")!, Decimal(string: "7.12")!))
            #expect(try await ledgerTotals(h) == ["EUR": 0])
        }
    }


    /// A top-up's reference is its idempotency key: a replay credits once; the reference used for another top-up
    /// (another driver, currency or amount) is refused, not silently ignored.
    @Test func aTopUpReferenceCreditsOnce() async throws {
        try await Harness.with { h in
            try await driver(h, "bob", token: "BOB1", funds: nil)
            try await driver(h, "eve", token: "EVE1", funds: nil)
            let repo = repo(h)
            guard case .credited(let first, _) = try await repo.topUp(driver: "bob", currency: "EUR", amount: 10, provider: "ledger", reference: "r1") else {
                Issue.record("not credited")
                return
            }
            #expect(try await repo.topUp(driver: "bob", currency: "EUR", amount: 10, provider: "ledger", reference: "r1") == .credited(entryId: first, balance: 10))
            #expect(try await repo.topUp(driver: "eve", currency: "EUR", amount: 10, provider: "ledger", reference: "r1") == .referenceUsed)
            #expect(try await repo.topUp(driver: "bob", currency: "USD", amount: 10, provider: "ledger", reference: "r1") == .referenceUsed)
            #expect(try await repo.topUp(driver: "bob", currency: "EUR", amount: 11, provider: "ledger", reference: "r1") == .referenceUsed)
            #expect(try await repo.topUp(driver: "nobody", currency: "EUR", amount: 1, provider: "ledger", reference: "r2") == .noSuchDriver)
            #expect(try await balance(h, "bob") == (10, 0))
            #expect(try await balance(h, "eve") == (0, 0))
        }
    }


    /// Captures in parallel (as four loops per node and many nodes run them) meet accounts no capture made yet: each
    /// must find the account another one made meanwhile, not fail.
    @Test func parallelCapturesMakeTheirAccountsOnce() async throws {
        try await Harness.with(service: Self.funded) { h in
            let stations = (0..<8).map { "CPP\($0)" }
            try await setUp(h, stations: stations)
            _ = try await repo(h).addSplitRule(scope: "default", rule: SplitRule(hostBp: 8000, platformBp: 1500, referrerBp: 500, referrer: "carol", remainder: .host), validFrom: Date(timeIntervalSince1970: 0))
            for (i, station) in stations.enumerated() {
                try await driver(h, "d\(i)", token: "T\(i)", funds: "10.00")
                let (tx, auth) = try await start(h, station, "T\(i)", meterStart: 0)
                #expect(auth == "Accepted")
                try await stop(h, station, tx, meterStop: 5000)
            }
            _ = try await PushRepository(client: h.client, logger: TestPostgres.shared.logger).relay(limit: 1000)
            let repo = repo(h), signer = ReceiptSigner()
            let outcomes = try await withThrowingTaskGroup(of: SettlementRepository.SettleOutcome.self) { group in
                for _ in stations { group.addTask { try await repo.settleNext(signer: signer) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { if case .captured = $0 { true } else { false } }.count == stations.count)
            #expect(try await h.count("SELECT count(*)::int FROM accounts WHERE kind IN ('host', 'platform', 'referrer')") == 3)
        }
    }


    /// An Authorize sizes the hold by the station's most powerful EVSE; the session is priced by the EVSE it uses.
    @Test func theHoldTakesTheTariffOfTheEVSEUsed() async throws {
        try await Harness.with(service: Self.funded) { h in
            let catalog = catalog
            for (id, price) in [("TAC", "0.30"), ("TDC", "0.60")] {
                let t = try CatalogTests.tariff(id, price: price)
                _ = try await h.committer.perform { try await catalog.putTariff($0, t, now: Date()) }
            }
            try await PushTests().put(h, try PushTests.site("LOC"))
            try await h.station("CPM")
            var ac = CatalogTests().placement("CPM", evse: 1, at: "LOC")
            ac.connectors[1]?.tariffIds = ["TAC"]
            var dc = CatalogTests().placement("CPM", evse: 2, at: "LOC", connectors: [1: ConnectorSpec(standard: .iec62196T2Combo, format: .cable, powerType: .dc, maxVoltage: 500, maxAmperage: 100)])
            dc.connectors[1]?.tariffIds = ["TDC"]
            for p in [ac, dc] { _ = try await h.committer.perform { try await catalog.putEVSE($0, p, now: Date()) } }
            try await driver(h, "bob", token: "BOB1", funds: "50.00")
            #expect(status(try await h.call(.v16, "CPM", "Authorize", #"{"idTag":"BOB1"}"#)) == "Accepted")
            #expect(try await h.count("SELECT count(*)::int FROM holds WHERE tariff->>'id' = 'TDC'") == 1)
            let (tx, auth) = try await start(h, "CPM", "BOB1", meterStart: 0)
            #expect(auth == "Accepted")
            #expect(try await h.count("SELECT count(*)::int FROM holds WHERE transaction_id = \(tx) AND tariff->>'id' = 'TAC'") == 1)
            try await stop(h, "CPM", tx, meterStop: 10000)
            // 10 kWh at the AC price: 3.00 + 21 % = 3.63.
            #expect(try await settleAll(h, signer: ReceiptSigner()) == [tx: Decimal(string: "3.63")!])
        }
    }

}
