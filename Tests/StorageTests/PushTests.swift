import CSMS
import Foundation
import OCPI
import OCPP
import PostgresNIO
import Storage
import Testing
import TestSupport

/// The OCPI push queue on a real PostgreSQL: the relay from the outbox (who is sent what, once), coalescing,
/// and the claims that keep one object's pushes in order across nodes.
@Suite struct PushTests {
    let catalogService = CatalogService()

    /// A registered partner with the given roles and receiver modules.
    static func partner(_ h: Harness, _ name: String, roles: [PartyRole] = [.emsp], receives: [ModuleID], version: OCPIVersion = .v221) async throws -> Int64 {
        let repo = PartnerRepository(client: h.client, logger: TestPostgres.shared.logger)
        let tokenA = "A-" + name
        let p = try await repo.create(name: name, tokenA: tokenA)
        let endpoints = receives.map { Endpoint(identifier: $0.rawValue, role: version == .v221 ? .receiver : nil, url: "http://127.0.0.1:1/\(name)/\($0.rawValue)") }
        let registered = try await repo.register(
            id: p.id, presented: tokenA, from: [.pending], clientToken: "B-" + name, serverToken: "C-" + name, version: version,
            versionsURL: "http://127.0.0.1:1/\(name)/versions",
            roles: roles.map { CredentialsRole(role: $0, businessDetails: BusinessDetails(name: name), partyId: "EMS", countryCode: "DE") }, endpoints: endpoints
        )
        return try #require(registered).id
    }

    static func site(_ id: String, publish: Bool = true) throws -> LocationSite {
        var s = try CatalogTests.site(id)
        s.publish = publish
        return s
    }

    func put(_ h: Harness, _ site: LocationSite) async throws {
        let service = catalogService
        _ = try await h.committer.perform { try await service.putLocation($0, site, now: Date()) }
    }

    func place(_ h: Harness, station: String, at location: String) async throws {
        try await h.station(station)
        let service = catalogService
        let placement = CatalogTests().placement(station, at: location)
        _ = try await h.committer.perform { try await service.putEVSE($0, placement, now: Date()) }
    }

    func status(_ h: Harness, _ station: String, _ status: String, second: Int) async throws {
        let s = String(format: "%02d", second)
        let payload = #"{"connectorId":1,"errorCode":"NoError","status":"\#(status)","timestamp":"2026-06-01T10:00:\#(s)Z"}"#
        #expect(try await h.call(.v16, station, "StatusNotification", payload).isResult)
    }

    func pushes(_ h: Harness) -> PushRepository { PushRepository(client: h.client, logger: TestPostgres.shared.logger) }

    /// (partner, method, target) of every push, in id order.
    func rows(_ h: Harness, state: PushRepository.State? = nil) async throws -> [String] {
        try await pushes(h).list(state: state, partnerId: nil, limit: 1000).map { "\($0.partnerId) \($0.method) \($0.target)" }
    }

    @Test func theRelaySendsEachChangeToThePartnersThatReceiveIt() async throws {
        try await Harness.with { h in
            let emsp = try await Self.partner(h, "emsp", receives: [.locations, .tariffs])
            let map = try await Self.partner(h, "map", roles: [.nsp], receives: [.locations])
            let old = try await Self.partner(h, "old", receives: [.locations, .tariffs], version: .v211)
            _ = try await Self.partner(h, "sender-only", receives: [])
            // A partner that never completed its handshake is sent nothing.
            _ = try await PartnerRepository(client: h.client, logger: TestPostgres.shared.logger).create(name: "pending", tokenA: "A-pending")

            try await put(h, try Self.site("PUB"))
            try await put(h, try Self.site("HIDDEN", publish: false))
            let service = catalogService
            let tariff = try CatalogTests.tariff("T1")
            _ = try await h.committer.perform { try await service.putTariff($0, tariff, now: Date()) }
            try await place(h, station: "CP1", at: "PUB")
            try await status(h, "CP1", "Charging", second: 1)
            // A station that is at no location pushes nothing.
            try await h.station("LONE")
            try await status(h, "LONE", "Charging", second: 1)

            let events = try await h.count("SELECT count(*)::int FROM outbox")
            #expect(events >= 6, "two locations, a tariff, an EVSE, two statuses")
            #expect(try await pushes(h).relay() == events, "every event is taken, those that push nothing too")
            #expect(try await h.count("SELECT count(*)::int FROM outbox WHERE processed_at IS NULL") == 0)
            let uid = EVSEPlacement.defaultUID(stationId: "CP1", evseId: 1)
            // The eMSP gets everything, the unpublished location too (it shows it to the tokens it names); the map service
            // and the 2.1.1 eMSP (whose version has no `publish`) only what is published. The status folds into the EVSE push
            // that waits, unsent.
            #expect(try await rows(h) == [
                "\(emsp) PUT PUB", "\(map) PUT PUB", "\(old) PUT PUB",
                "\(emsp) PUT HIDDEN",
                "\(emsp) PUT T1", "\(old) PUT T1",
                "\(emsp) PUT PUB/\(uid)", "\(map) PUT PUB/\(uid)", "\(old) PUT PUB/\(uid)",
            ])
            // Relaying again sends nothing twice.
            #expect(try await pushes(h).relay() == 0)
            #expect(try await rows(h).count == 9)
        }
    }

    @Test func aWaitingPushTakesLaterChangesButOneInFlightDoesNot() async throws {
        try await Harness.with { h in
            let emsp = try await Self.partner(h, "emsp", receives: [.locations])
            try await put(h, try Self.site("L"))
            try await place(h, station: "CP", at: "L")
            _ = try await pushes(h).relay()
            let uid = EVSEPlacement.defaultUID(stationId: "CP", evseId: 1)
            #expect(try await rows(h) == ["\(emsp) PUT L", "\(emsp) PUT L/\(uid)"])

            // Three statuses while the EVSE's push waits: nothing new, the waiting push sends the newest.
            for (i, s) in ["Preparing", "Charging", "Finishing"].enumerated() { try await status(h, "CP", s, second: i) }
            _ = try await pushes(h).relay()
            #expect(try await rows(h).count == 2)

            // In flight, a push carries what was read before the change: a change then is a push of its own.
            let first = try await pushes(h).claim(limit: 10, lease: .seconds(60))
            #expect(first.map(\.push.target) == ["L"], "only the head of the location's queue")
            let second = try await pushes(h).claim(limit: 10, lease: .seconds(60))
            #expect(second.isEmpty, "the head is leased; the EVSE's push waits behind it")
            try await put(h, try CatalogTests.site("L", name: "Renamed"))
            _ = try await pushes(h).relay()
            #expect(try await rows(h) == ["\(emsp) PUT L", "\(emsp) PUT L/\(uid)", "\(emsp) PUT L"])
        }
    }

    @Test func claimsTakeOnlyQueueHeadsAndNeverTheSameTwice() async throws {
        try await Harness.with { h in
            _ = try await Self.partner(h, "a", receives: [.locations, .tariffs])
            _ = try await Self.partner(h, "b", receives: [.locations, .tariffs])
            for i in 0..<10 { try await put(h, try Self.site("L\(i)")) }
            for i in 0..<10 { try await put(h, try CatalogTests.site("L\(i)", name: "Second")) }
            _ = try await pushes(h).relay()
            // 10 locations × 2 partners; each second change folded into the first, still waiting.
            #expect(try await rows(h).count == 20)

            // Eight claimers at once, as eight nodes would: every head once, none twice.
            let repo = pushes(h)
            let claims = try await withThrowingTaskGroup(of: [PushRepository.Claimed].self) { group in
                for _ in 0..<8 { group.addTask { try await repo.claim(limit: 5, lease: .seconds(60)) } }
                var all: [PushRepository.Claimed] = []
                for try await c in group { all += c }
                return all
            }
            let ids = claims.map(\.push.id)
            #expect(ids.count == 20)
            #expect(Set(ids).count == ids.count, "a push is claimed by one claimer only")
            #expect(claims.allSatisfy { $0.push.attempts == 1 && $0.clientToken != nil })
        }
    }

    @Test func oneObjectsPushesGoOneAtATimeInOrder() async throws {
        try await Harness.with { h in
            let p = try await Self.partner(h, "emsp", receives: [.tariffs])
            let service = catalogService
            let tariff = try CatalogTests.tariff("T")
            let again = try CatalogTests.tariff("T", price: "0.30")
            let repo = pushes(h)
            // Relayed one by one (the table's rule) and all at once (the batch's): a PUT never folds into one that a
            // DELETE follows.
            for relayEach in [true, false] {
                _ = try await h.committer.perform { try await service.putTariff($0, tariff, now: Date()) }
                if relayEach { _ = try await repo.relay() }
                _ = try await h.committer.perform { try await service.deleteTariff($0, id: "T", now: Date()) }
                if relayEach { _ = try await repo.relay() }
                _ = try await h.committer.perform { try await service.putTariff($0, again, now: Date()) }
                _ = try await repo.relay()
                #expect(try await rows(h) == ["\(p) PUT T", "\(p) DELETE T", "\(p) PUT T"])
                if relayEach {
                    _ = try await h.committer.perform { try await service.deleteTariff($0, id: "T", now: Date()) }
                    try await h.client.query("DELETE FROM ocpi_pushes", logger: TestPostgres.shared.logger)
                    _ = try await repo.relay()
                    try await h.client.query("DELETE FROM ocpi_pushes", logger: TestPostgres.shared.logger)
                }
            }

            var head = try await repo.claim(limit: 10, lease: .seconds(60))
            #expect(head.map(\.push.method) == ["PUT"])
            // A failure that is retried keeps its place: what follows it still waits.
            #expect(try await repo.finish(head[0], .retry("down", after: .zero)))
            head = try await repo.claim(limit: 10, lease: .seconds(60))
            #expect(head.map { "\($0.push.method) \($0.push.attempts)" } == ["PUT 2"])
            #expect(try await repo.finish(head[0], .delivered))
            // A lease that is not the holder's records nothing.
            var stale = head[0]
            stale.lease = UUID()
            #expect(try await repo.finish(stale, .dead("late")) == false)

            head = try await repo.claim(limit: 10, lease: .seconds(60))
            #expect(head.map(\.push.method) == ["DELETE"])
            // A dead letter does not hold its queue: the next push goes.
            #expect(try await repo.finish(head[0], .dead("refused")))
            head = try await repo.claim(limit: 10, lease: .seconds(60))
            #expect(head.map(\.push.method) == ["PUT"])
            #expect(try await repo.finish(head[0], .delivered))

            let dead = try #require(try await repo.list(state: .dead, partnerId: p).first)
            #expect(dead.method == "DELETE" && dead.lastError == "refused")
            // Replayed, it is due at once with its attempts counted afresh; only a dead letter can be replayed.
            guard case .replayed(let back) = try await repo.replay(id: dead.id) else { Issue.record("not replayed"); return }
            #expect(back.state == .pending && back.attempts == 0)
            #expect(try await repo.replay(id: dead.id) == .notDead(.pending))
            #expect(try await repo.replay(id: 999_999) == .notFound)
            #expect(try await repo.claim(limit: 10, lease: .seconds(60)).map(\.push.id) == [dead.id])
        }
    }

    @Test func aBatchFoldsOnlyItsFirstTariffPushIntoOneWaiting() async throws {
        try await Harness.with { h in
            let p = try await Self.partner(h, "emsp", receives: [.tariffs])
            let service = catalogService
            let repo = pushes(h)
            let tariff = try CatalogTests.tariff("T"), again = try CatalogTests.tariff("T", price: "0.30")
            _ = try await h.committer.perform { try await service.putTariff($0, tariff, now: Date()) }
            _ = try await repo.relay()
            // The first PUT waits unsent (the partner is down); then PUT, DELETE, PUT in one batch.
            let changed = try CatalogTests.tariff("T", price: "0.27")
            _ = try await h.committer.perform { try await service.putTariff($0, changed, now: Date()) }
            _ = try await h.committer.perform { try await service.deleteTariff($0, id: "T", now: Date()) }
            _ = try await h.committer.perform { try await service.putTariff($0, again, now: Date()) }
            _ = try await repo.relay()
            // The batch's first PUT folds into the waiting one; its last must not (a DELETE is between them).
            #expect(try await rows(h) == ["\(p) PUT T", "\(p) DELETE T", "\(p) PUT T"])
        }
    }

    @Test func aPartnerThatNeverHadTheLocationGetsItWholeNotAnEVSE() async throws {
        try await Harness.with { h in
            try await put(h, try Self.site("L"))
            try await place(h, station: "CP", at: "L")
            _ = try await pushes(h).relay()
            // It registers after the location was made: an EVSE's status change sends it the whole location first.
            let late = try await Self.partner(h, "late", receives: [.locations])
            try await status(h, "CP", "Charging", second: 1)
            try await status(h, "CP", "Finishing", second: 2)
            _ = try await pushes(h).relay()
            let uid = EVSEPlacement.defaultUID(stationId: "CP", evseId: 1)
            #expect(try await rows(h) == ["\(late) PUT L", "\(late) PUT L/\(uid)"])
        }
    }

    @Test func purgingKeepsTheNewestPushOfEachQueue() async throws {
        try await Harness.with { h in
            let p = try await Self.partner(h, "emsp", receives: [.locations])
            let repo = pushes(h)
            try await put(h, try Self.site("L"))
            try await place(h, station: "CP", at: "L")
            for round in 0..<3 {
                if round > 0 { try await status(h, "CP", round == 1 ? "Charging" : "Finishing", second: round) }
                _ = try await repo.relay()
                while true {
                    let claimed = try await repo.claim(limit: 10, lease: .seconds(60))
                    if claimed.isEmpty { break }
                    for c in claimed { try await repo.finish(c, .delivered) }
                }
            }
            #expect(try await rows(h, state: .delivered).count == 4)
            #expect(try await repo.purgeFinished(before: Date().addingTimeInterval(60)) == 3)
            // What remains still says the partner has the location: the next change is an EVSE push, not the whole location.
            try await status(h, "CP", "Available", second: 9)
            _ = try await repo.relay()
            let uid = EVSEPlacement.defaultUID(stationId: "CP", evseId: 1)
            #expect(try await rows(h, state: .pending) == ["\(p) PUT L/\(uid)"])
        }
    }

    @Test func aLapsedLeaseIsClaimedAgainWithTheSameRequestId() async throws {
        try await Harness.with { h in
            _ = try await Self.partner(h, "emsp", receives: [.locations])
            try await put(h, try Self.site("L"))
            _ = try await pushes(h).relay()
            let repo = pushes(h)
            let first = try await repo.claim(limit: 10, lease: .milliseconds(50))
            #expect(first.count == 1)
            try await Task.sleep(for: .milliseconds(200))
            // The node that held it died: another takes it, and the partner can tell the retry by its request id.
            let again = try await repo.claim(limit: 10, lease: .seconds(60))
            #expect(again.map(\.push.id) == first.map(\.push.id))
            #expect(again.first?.push.requestId == first.first?.push.requestId)
            #expect(again.first?.push.attempts == 2)
            #expect(try await repo.finish(first[0], .delivered) == false, "the first lease is void")
        }
    }

    @Test func aStationGoingOfflinePushesItsEVSEs() async throws {
        try await Harness.with { h in
            let p = try await Self.partner(h, "emsp", receives: [.locations])
            try await put(h, try Self.site("L"))
            try await place(h, station: "CP", at: "L")
            try await h.station("ELSEWHERE")
            _ = try await pushes(h).relay()
            let delivered = try await pushes(h).claim(limit: 10, lease: .seconds(60))
            for c in delivered { try await pushes(h).finish(c, .delivered) }
            let next = try await pushes(h).claim(limit: 10, lease: .seconds(60))
            for c in next { try await pushes(h).finish(c, .delivered) }
            #expect(try await rows(h, state: .delivered).count == 2)

            let logger = TestPostgres.shared.logger
            try await h.client.query("UPDATE stations SET online = true WHERE id IN ('CP', 'ELSEWHERE')", logger: logger)
            #expect(try await h.count("SELECT count(*)::int FROM outbox WHERE topic = 'station.presence'") == 1, "only the station that is at a location")
            _ = try await pushes(h).relay()
            let uid = EVSEPlacement.defaultUID(stationId: "CP", evseId: 1)
            #expect(try await rows(h, state: .pending) == ["\(p) PUT L/\(uid)"])
        }
    }

    @Test func pushesOfAGonePartnerBecomeDeadLetters() async throws {
        try await Harness.with { h in
            let p = try await Self.partner(h, "emsp", receives: [.locations])
            try await put(h, try Self.site("L"))
            _ = try await pushes(h).relay()
            #expect(try await PartnerRepository(client: h.client, logger: TestPostgres.shared.logger).unregister(id: p))
            #expect(try await pushes(h).claim(limit: 10, lease: .seconds(60)).isEmpty)
            #expect(try await pushes(h).abandonGonePartners() == 1)
            #expect(try await rows(h, state: .dead) == ["\(p) PUT L"])
        }
    }
}
