import CSMS
import Foundation
import OCPI
import OCPP
import PostgresNIO
import Settlement
import Storage
import Testing
import TestSupport

/// Roaming sessions and CDRs made by the relay from transactions: only a roaming token's, once, priced exactly.
@Suite struct SessionTests {
    let catalog = CatalogService()
    let tokens = RoamingTokenService()

    /// A location with a station's EVSE whose connector names a 0.40 EUR/kWh tariff (21 % VAT), and an eMSP with a token.
    func setUp(_ h: Harness, station: String = "CPS") async throws -> Int64 {
        let partner = try await PushTests.partner(h, "emsp", receives: [.sessions, .cdrs])
        let (catalog, tokens) = (catalog, tokens)
        let tariff = try CatalogTests.tariff("T40", price: "0.40")
        _ = try await h.committer.perform { try await catalog.putTariff($0, tariff, now: Date()) }
        try await PushTests().put(h, try PushTests.site("LOC"))
        try await h.station(station)
        var placement = CatalogTests().placement(station, at: "LOC")
        placement.connectors[1]?.tariffIds = ["T40"]
        let p = placement
        _ = try await h.committer.perform { try await catalog.putEVSE($0, p, now: Date()) }
        let card = try RoamingTokenTests.token("CARD1")
        _ = try await h.committer.perform { try await tokens.put($0, card, key: RoamingTokenTests.key(card), partnerId: partner, parties: ["DE-EMS"]) }
        return partner
    }

    func charge(_ h: Harness, station: String = "CPS", idTag: String) async throws -> Int64 {
        let start = try await h.call(.v16, station, "StartTransaction", #"{"connectorId":1,"idTag":"\#(idTag)","meterStart":1000,"timestamp":"2026-12-01T10:00:00Z"}"#)
        guard case .object(let o) = start.result, case .number(let n) = o["transactionId"], let tx = Int64(n.text) else {
            Issue.record("no transaction id: \(start)")
            return 0
        }
        let mv = #"{"connectorId":1,"transactionId":\#(tx),"meterValue":[{"timestamp":"2026-12-01T10:15:00Z","sampledValue":[{"value":"4750","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}"#
        #expect(try await h.call(.v16, station, "MeterValues", mv).isResult)
        #expect(try await h.call(.v16, station, "StopTransaction", #"{"transactionId":\#(tx),"meterStop":8500,"timestamp":"2026-12-01T10:30:00Z"}"#).isResult)
        return tx
    }

    @Test func aRoamingTokensTransactionBecomesASessionAndOneExactCDR() async throws {
        try await Harness.with { h in
            let partner = try await setUp(h)
            let tx = try await charge(h, idTag: "card1")
            let pushes = PushRepository(client: h.client, logger: TestPostgres.shared.logger)
            while try await pushes.relay() > 0 {}
            let sessions = SessionRepository(client: h.client, logger: TestPostgres.shared.logger)
            let facts = try #require(try await sessions.facts(id: String(tx)))
            #expect(facts.cdrToken == CdrToken(countryCode: "DE", partyId: "EMS", uid: "CARD1", type: .rfid, contractId: "DE-EMS-CCARD1"))
            #expect(facts.tariff?.id == "T40")
            let session = try facts.session(now: OCPIDateTime(Date()))
            #expect(session.status == .completed && session.kwh == 7.5)
            #expect(session.chargingPeriods.count == 2, "cut at the reading")

            let stored = try #require(try await sessions.cdr(id: String(tx)))
            #expect(stored.countryCode == "DE" && stored.partyId == "EMS", "addressed to the token's party")
            let body = stored.body
            let cdr = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            let total = try #require(cdr["total_cost"] as? [String: Any])
            #expect((total["excl_vat"] as? NSNumber)?.decimalValue == 3, "7.5 kWh at 0.40")
            #expect((total["incl_vat"] as? NSNumber)?.decimalValue == Decimal(string: "3.63"))
            #expect(cdr["total_time_cost"] == nil, "a cost no component applied to is left out")
            // One session PUT (its start and end folded into one, as both wait unsent) and the CDR POST after it.
            #expect(try await pushes.list(state: nil, partnerId: partner).map { "\($0.module) \($0.method) \($0.target)" } == [
                "sessions PUT \(tx)", "cdrs POST \(tx)",
            ])
            // Relaying the same events again (a crash before their COMMIT) makes nothing twice.
            try await h.client.query("UPDATE outbox SET processed_at = NULL", logger: TestPostgres.shared.logger)
            while try await pushes.relay() > 0 {}
            #expect(try await h.count("SELECT count(*)::int FROM ocpi_cdrs") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM ocpi_sessions") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM ocpi_pushes WHERE module = 'cdrs'") == 1)

            let page = try await sessions.sessions(try PageRequest(query: [:], maxLimit: 100), parties: ["DE-EMS"])
            #expect(page.items.map(\.id) == [String(tx)])
            #expect(try await sessions.sessions(try PageRequest(query: [:], maxLimit: 100), parties: ["NL-XYZ"]).items.isEmpty, "another party sees none")
            #expect(try await sessions.cdrs(try PageRequest(query: [:], maxLimit: 100), parties: ["DE-EMS"]).total == 1)
        }
    }

    @Test func aSessionThatCannotBeMadeIsSkippedAndHoldsNothingUp() async throws {
        try await Harness.with { h in
            // An EVSE id the rules refuse (written around the service): its session cannot be made.
            _ = try await setUp(h, station: "CP-X")
            try await h.client.query("UPDATE evses SET body = jsonb_set(body, '{evse_id}', '\"not an eMI3 id\"')", logger: TestPostgres.shared.logger)
            _ = try await charge(h, station: "CP-X", idTag: "CARD1")
            try await PushTests().put(h, try PushTests.site("AFTER"))
            let pushes = PushRepository(client: h.client, logger: TestPostgres.shared.logger)
            while try await pushes.relay() > 0 {}
            #expect(try await h.count("SELECT count(*)::int FROM outbox WHERE processed_at IS NULL") == 0)
            #expect(try await h.count("SELECT count(*)::int FROM ocpi_sessions") == 0)
        }
    }

    @Test func aChargingSessionsProgressIsPushedWhenItMoves() async throws {
        try await Harness.with { h in
            let partner = try await setUp(h)
            let start = try await h.call(.v16, "CPS", "StartTransaction", #"{"connectorId":1,"idTag":"CARD1","meterStart":0,"timestamp":"2026-12-01T10:00:00Z"}"#)
            guard case .object(let o) = start.result, case .number(let n) = o["transactionId"] else { Issue.record("no start"); return }
            let pushes = PushRepository(client: h.client, logger: TestPostgres.shared.logger)
            while try await pushes.relay() > 0 {}
            #expect(try await pushes.refreshActiveSessions(interval: .zero) == 0, "the start's push still waits")
            func deliverAll() async throws {
                for c in try await pushes.claim(limit: 10, lease: .seconds(60)) { try await pushes.finish(c, .delivered) }
            }
            try await deliverAll()
            #expect(try await pushes.refreshActiveSessions(interval: .zero) == 0, "nothing moved since")
            let mv = #"{"connectorId":1,"transactionId":\#(n.text),"meterValue":[{"timestamp":"2026-12-01T10:05:00Z","sampledValue":[{"value":"900","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}"#
            #expect(try await h.call(.v16, "CPS", "MeterValues", mv).isResult)
            #expect(try await pushes.refreshActiveSessions(interval: .seconds(3600)) == 0, "not within the interval")
            #expect(try await pushes.refreshActiveSessions(interval: .zero) == 1)
            #expect(try await pushes.refreshActiveSessions(interval: .zero) == 0, "one waits already")
            #expect(try await pushes.list(state: .pending, partnerId: partner).map(\.module) == ["sessions"])
            // Many nodes refreshing at once queue one push, not one each.
            try await deliverAll()
            let mv2 = mv.replacingOccurrences(of: "10:05:00", with: "10:06:00").replacingOccurrences(of: "\"900\"", with: "\"1900\"")
            #expect(try await h.call(.v16, "CPS", "MeterValues", mv2).isResult)
            let queued = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 { group.addTask { try await pushes.refreshActiveSessions(interval: .zero) } }
                return try await group.reduce(0, +)
            }
            #expect(queued == 1)
        }
    }

    @Test func voltaicsOwnTokensMakeNoRoamingSession() async throws {
        try await Harness.with { h in
            _ = try await setUp(h)
            _ = try await h.repo.upsertToken(IdToken(value: "LOCAL1"))
            // The partner's uid, but Voltaic issued the same value itself: its own token wins, as in authorization.
            _ = try await h.repo.upsertToken(IdToken(value: "CARD1"))
            _ = try await charge(h, idTag: "LOCAL1")
            _ = try await charge(h, idTag: "CARD1")
            let pushes = PushRepository(client: h.client, logger: TestPostgres.shared.logger)
            while try await pushes.relay() > 0 {}
            #expect(try await h.count("SELECT count(*)::int FROM transactions") == 2)
            #expect(try await h.count("SELECT count(*)::int FROM ocpi_sessions") == 0)
            #expect(try await h.count("SELECT count(*)::int FROM ocpi_cdrs") == 0)
        }
    }
}
