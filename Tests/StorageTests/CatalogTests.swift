import CSMS
import Foundation
import OCPI
import OCPP
import PostgresNIO
import Storage
import Testing
import TestSupport

/// The catalog's one write path (CatalogService over PostgreSQL) and its reads: idempotent writes with one
/// outbox event per change, EVSE uids chosen once, reported statuses carried up to last_updated, stable pages.
@Suite struct CatalogTests {
    let service = CatalogService()

    static func site(_ id: String, name: String = "Site") throws -> LocationSite {
        let text = """
            {"country_code":"NL","party_id":"VOL","id":"\(id)","publish":true,"name":"\(name)","address":"Dam 1","city":"Amsterdam",
             "country":"NLD","coordinates":{"latitude":"52.37302","longitude":"4.89281"},"time_zone":"Europe/Amsterdam"}
            """
        return try JSONDecoder().decode(LocationSite.self, from: Data(text.utf8))
    }

    static func tariff(_ id: String, price: String = "0.25") throws -> Tariff {
        let text = """
            {"country_code":"NL","party_id":"VOL","id":"\(id)","currency":"EUR","last_updated":"2026-01-01T00:00:00Z",
             "elements":[{"price_components":[{"type":"ENERGY","price":\(price),"vat":21,"step_size":1}]}]}
            """
        return try JSONDecoder().decode(Tariff.self, from: Data(text.utf8))
    }

    static let t2 = ConnectorSpec(standard: .iec62196T2, format: .socket, powerType: .ac3Phase, maxVoltage: 230, maxAmperage: 32)

    func placement(_ station: String, evse: Int = 1, at location: String, uid: String? = nil, connectors: [Int: ConnectorSpec] = [1: Self.t2]) -> EVSEPlacement {
        EVSEPlacement(stationId: station, evseId: evse, locationId: location, uid: uid ?? EVSEPlacement.defaultUID(stationId: station, evseId: evse), spec: EVSESpec(evseId: "NL*VOL*E\(station)*\(evse)"), connectors: connectors)
    }

    func events(_ h: Harness, _ topic: String) async throws -> Int {
        try await h.count("SELECT count(*)::int FROM outbox WHERE topic = '\(topic)'")
    }

    @Test func writesAreIdempotentAndEachChangeIsOneEvent() async throws {
        try await Harness.with { h in
            let service = service
            let first = try Self.site("L1")
            #expect(try await h.committer.perform { try await service.putLocation($0, first, now: Date()) } == .created)
            // A replay (a retried PUT) changes nothing: no new last_updated, no event.
            #expect(try await h.committer.perform { try await service.putLocation($0, first, now: Date()) } == .unchanged)
            // The id is a CiString: another case is the same location, kept in the case first stored.
            let renamed = try Self.site("l1", name: "Renamed")
            #expect(try await h.committer.perform { try await service.putLocation($0, renamed, now: Date()) } == .updated)
            #expect(try await h.count("SELECT count(*)::int FROM locations") == 1)
            #expect(try await h.count("SELECT count(*)::int FROM locations WHERE id = 'L1' AND body->>'name' = 'Renamed'") == 1)
            #expect(try await events(h, "location.updated") == 2)

            let tariff = try Self.tariff("T1")
            #expect(try await h.committer.perform { try await service.putTariff($0, tariff, now: Date()) } == .created)
            var changed = tariff
            changed.lastUpdated = OCPIDateTime(seconds: 1_900_000_000)
            let later = changed
            #expect(try await h.committer.perform { try await service.putTariff($0, later, now: Date()) } == .unchanged, "last_updated alone is no change")
            #expect(try await h.committer.perform { try await service.deleteTariff($0, id: "t1", now: Date()) }?.id == "T1")
            #expect(try await h.committer.perform { try await service.deleteTariff($0, id: "T1", now: Date()) } == nil, "deleting twice deletes nothing")
            // Put again, the deleted tariff comes back (its row was kept).
            #expect(try await h.committer.perform { try await service.putTariff($0, tariff, now: Date()) } == .updated)
            #expect(try await events(h, "tariff.updated") == 2)
            #expect(try await events(h, "tariff.deleted") == 1)
        }
    }

    @Test func evseUIDsAreChosenOnceAndNeverReused() async throws {
        try await Harness.with { h in
            let service = service
            try await h.station("CPA")
            try await h.station("CPB")
            let site = try Self.site("L2")
            _ = try await h.committer.perform { try await service.putLocation($0, site, now: Date()) }
            _ = try await h.committer.perform { try await service.putTariff($0, try Self.tariff("T2"), now: Date()) }
            let a = placement("CPA", at: "l2")
            #expect(try await h.committer.perform { try await service.putEVSE($0, a, now: Date()) } == .created)
            #expect(try await h.committer.perform { try await service.putEVSE($0, a, now: Date()) } == .unchanged)
            await #expect(throws: CatalogRefusal.uidChanged(from: "CPA-1", to: "OTHER")) {
                try await h.committer.perform { try await service.putEVSE($0, placement("CPA", at: "L2", uid: "OTHER"), now: Date()) }
            }
            await #expect(throws: CatalogRefusal.uidTaken("cpa-1")) {
                try await h.committer.perform { try await service.putEVSE($0, placement("CPB", at: "L2", uid: "cpa-1"), now: Date()) }
            }
            var spec = Self.t2
            spec.tariffIds = ["T2", "NOPE"]
            let unpriced = placement("CPB", at: "L2", connectors: [1: spec])
            await #expect(throws: CatalogRefusal.unknownTariffs(["NOPE"])) {
                try await h.committer.perform { try await service.putEVSE($0, unpriced, now: Date()) }
            }
            await #expect(throws: CatalogRefusal.unknownLocation("L9")) {
                try await h.committer.perform { try await service.putEVSE($0, placement("CPB", at: "L9"), now: Date()) }
            }
            await #expect(throws: CatalogRefusal.unknownStation("CPZ")) {
                try await h.committer.perform { try await service.putEVSE($0, placement("CPZ", at: "L2"), now: Date()) }
            }
            // A second connector is added; the first one is kept.
            spec.tariffIds = ["t2"]
            let second = placement("CPA", at: "L2", connectors: [2: spec])
            #expect(try await h.committer.perform { try await service.putEVSE($0, second, now: Date()) } == .updated)
            let view = try #require(try await CatalogRepository(client: h.client, logger: TestPostgres.shared.logger).location(id: "L2"))
            #expect(view.evses.map(\.uid) == ["CPA-1"])
            // A tariff a connector names cannot be deleted: the connector would point at nothing.
            await #expect(throws: CatalogRefusal.tariffInUse("t2")) {
                try await h.committer.perform { try await service.deleteTariff($0, id: "t2", now: Date()) }
            }
            #expect(view.evses[0].connectors.map(\.id) == [1, 2])
            #expect(try view.evses[0].connectors[1].spec.tariffIds == ["t2"])
            #expect(try await events(h, "evse.updated") == 2)
        }
    }

    @Test func reportedStatusesAndPresenceBumpTheEVSEAndItsLocation() async throws {
        try await Harness.with { h in
            let service = service
            let catalog = CatalogRepository(client: h.client, logger: TestPostgres.shared.logger)
            try await h.station("CPS")
            try await h.station("CPN")  // placed nowhere: its reports touch no location
            _ = try await h.committer.perform { try await service.putLocation($0, try Self.site("L3"), now: Date()) }
            _ = try await h.committer.perform { try await service.putLocation($0, try Self.site("L4"), now: Date()) }
            _ = try await h.committer.perform { try await service.putEVSE($0, placement("CPS", at: "L3"), now: Date()) }
            let before = try #require(try await catalog.location(id: "L3"))
            let other = try #require(try await catalog.location(id: "L4")).lastUpdated
            #expect(before.evses[0].connectorStatuses.isEmpty)

            let status = #"{"connectorId":1,"errorCode":"NoError","status":"Preparing","timestamp":"2026-06-01T10:00:00Z"}"#
            #expect(try await h.call(.v16, "CPS", "StatusNotification", status).isResult)
            #expect(try await h.call(.v16, "CPN", "StatusNotification", status).isResult)
            let after = try #require(try await catalog.location(id: "L3"))
            #expect(after.evses[0].connectorStatuses == [1: "Preparing"])
            #expect(after.evses[0].lastUpdated > before.evses[0].lastUpdated)
            #expect(after.lastUpdated > before.lastUpdated)
            #expect(after.lastUpdated >= after.evses[0].lastUpdated)
            #expect(try #require(try await catalog.location(id: "L4")).lastUpdated == other, "another location is untouched")

            // The same status again is no change of the EVSE.
            #expect(try await h.call(.v16, "CPS", "StatusNotification", status.replacingOccurrences(of: "10:00:00", with: "10:00:05")).isResult)
            #expect(try #require(try await catalog.location(id: "L3")).evses[0].lastUpdated == after.evses[0].lastUpdated)

            // Going online (UNKNOWN → a status) changes the EVSE too.
            try await h.client.query("UPDATE stations SET online = true WHERE id = 'CPS'", logger: TestPostgres.shared.logger)
            let online = try #require(try await catalog.location(id: "L3"))
            #expect(online.evses[0].stationOnline)
            #expect(online.lastUpdated > after.lastUpdated)
        }
    }

    @Test func pagesAreStableByOffsetAndByCursor() async throws {
        try await Harness.with { h in
            let service = service
            let catalog = CatalogRepository(client: h.client, logger: TestPostgres.shared.logger)
            for i in 0..<25 {
                let s = try Self.site(String(format: "P%02d", (i * 7) % 25))
                _ = try await h.committer.perform { try await service.putLocation($0, s, now: Date()) }
            }
            var byOffset: [String] = []
            var byCursor: [String] = []
            var cursor: PageRequest.Cursor?
            for page in 0..<4 {
                let a = try await catalog.locations(PageRequest(offset: page * 7, limit: 7))
                #expect(a.total == 25)
                byOffset += a.items.map(\.id)
                let b = try await catalog.locations(PageRequest(offset: page * 7, limit: 7, after: cursor))
                byCursor += b.items.map(\.id)
                cursor = b.last
            }
            #expect(byOffset.count == 25 && Set(byOffset).count == 25)
            #expect(byCursor == byOffset)
            // Creation order: the order they were written in.
            #expect(byOffset == (0..<25).map { String(format: "P%02d", ($0 * 7) % 25) })

            // date_from is inclusive, date_to exclusive.
            let all = try await catalog.locations(PageRequest(limit: 100)).items
            let middle = all[12].lastUpdated
            let from = try await catalog.locations(PageRequest(limit: 100, dateFrom: middle))
            let to = try await catalog.locations(PageRequest(limit: 100, dateTo: middle))
            #expect(from.items.first?.id == all[12].id && from.total == 13)
            #expect(to.items.last?.id == all[11].id && to.total == 12)
        }
    }
}
