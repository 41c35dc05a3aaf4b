import CSMS
import Foundation
import OCPI
import OCPP
import PostgresNIO
import Storage
import Testing
import TestSupport

/// Roaming partners' tokens (OCPI tokens module): one write path with one event per change, a partner writes only
/// its own parties' tokens, and a station is authorized from the copy.
@Suite struct RoamingTokenTests {
    let service = RoamingTokenService()

    static func token(_ uid: String, valid: Bool = true, whitelist: String = "ALLOWED", party: (String, String) = ("DE", "EMS"), type: String = "RFID") throws -> Token {
        let text = """
            {"country_code":"\(party.0)","party_id":"\(party.1)","uid":"\(uid)","type":"\(type)","contract_id":"DE-EMS-C\(uid)","issuer":"Test eMSP",
             "valid":\(valid),"whitelist":"\(whitelist)","last_updated":"2026-12-01T10:00:00Z"}
            """
        return try JSONDecoder().decode(Token.self, from: Data(text.utf8))
    }

    static func key(_ t: Token) -> RoamingTokenService.Key {
        RoamingTokenService.Key(countryCode: t.countryCode, partyId: t.partyId, uid: t.uid, type: t.type)
    }

    func authorize(_ h: Harness, _ idTag: String) async throws -> String? {
        let reply = try await h.call(.v16, "CP-RT", "Authorize", #"{"idTag":"\#(idTag)"}"#)
        guard case .object(let o) = reply.result, case .object(let info) = o["idTagInfo"], case .string(let status) = info["status"] else { return nil }
        return status
    }

    @Test func aStationIsAuthorizedFromThePartnersCopy() async throws {
        try await Harness.with { h in
            try await h.station("CP-RT")
            let partner = try await PushTests.partner(h, "emsp", receives: [])
            let parties: Set = ["DE-EMS"]
            let service = service
            #expect(try await authorize(h, "04AABB") == "Invalid", "unknown before the eMSP puts it")

            let card = try Self.token("04aabb")
            #expect(try await h.committer.perform { try await service.put($0, card, key: Self.key(card), partnerId: partner, parties: parties) } == .created)
            #expect(try await h.committer.perform { try await service.put($0, card, key: Self.key(card), partnerId: partner, parties: parties) } == .unchanged)
            #expect(try await h.count("SELECT count(*)::int FROM outbox WHERE topic = 'token.updated'") == 1, "a replayed PUT is no change")
            // The station sends the uid in its own case; OCPI's uid is a CiString.
            #expect(try await authorize(h, "04AABB") == "Accepted")

            // PATCH: the fields given, last_updated among them; the result is checked as a whole.
            let patch: [String: JSONValue] = ["valid": .bool(false), "last_updated": .string("2026-12-02T10:00:00Z")]
            let patched = try await h.committer.perform { try await service.patch($0, key: Self.key(card), fields: patch, partnerId: partner, parties: parties) }
            #expect(patched?.valid == false)
            #expect(try await authorize(h, "04AABB") == "Blocked")
            await #expect(throws: RoamingTokenService.Refusal.self) {
                try await h.committer.perform { try await service.patch($0, key: Self.key(card), fields: ["valid": .bool(true)], partnerId: partner, parties: parties) }
            }
            await #expect(throws: RoamingTokenService.Refusal.self) {
                try await h.committer.perform {
                    try await service.patch($0, key: Self.key(card), fields: ["whitelist": .string("SOMETIMES"), "last_updated": .string("2026-12-03T10:00:00Z")], partnerId: partner, parties: parties)
                }
            }

            // NEVER: the eMSP wants to be asked each time; with no answer of it kept (this harness asks no one), refused.
            let never = try Self.token("NEVER1", whitelist: "NEVER")
            _ = try await h.committer.perform { try await service.put($0, never, key: Self.key(never), partnerId: partner, parties: parties) }
            #expect(try await authorize(h, "NEVER1") == "Invalid")

            // Voltaic's own token of the same value wins over a partner's.
            _ = try await h.repo.upsertToken(IdToken(value: "04AABB"))
            #expect(try await authorize(h, "04AABB") == "Accepted")
        }
    }

    /// The token rules read the eMSP's real-time answer kept in the transaction (ocpi_authorizations): it decides a copy
    /// whatever its whitelist, the latest of the last 15 minutes wins, and UNREACHABLE leaves it to the copy (NEVER
    /// refused, ALLOWED_OFFLINE and ALLOWED charge).
    @Test func realTimeAnswersDecideTheCopiesThatSayToAsk() async throws {
        try await Harness.with { h in
            try await h.station("CP-RT")
            let partner = try await PushTests.partner(h, "emsp", receives: [])
            let parties: Set = ["DE-EMS"]
            let service = service
            func put(_ uid: String, _ whitelist: String) async throws {
                let t = try Self.token(uid, whitelist: whitelist)
                _ = try await h.committer.perform { try await service.put($0, t, key: Self.key(t), partnerId: partner, parties: parties) }
            }
            func answer(_ uid: String, _ allowed: RealTimeAuthorization.Allowed) async throws {
                let a = RealTimeAuthorization(partnerId: partner, parties: parties, tokenUID: uid, tokenType: .rfid, stationId: "CP-RT", locationId: nil,
                                              allowed: allowed, authorizationReference: "R-\(uid)", token: nil)
                try await h.committer.perform { try await service.record($0, a) }
            }
            try await put("RT-NEVER", "NEVER")
            try await put("RT-OFFLINE", "ALLOWED_OFFLINE")
            try await put("RT-ALLOWED", "ALLOWED")
            #expect(try await authorize(h, "RT-NEVER") == "Invalid")
            #expect(try await authorize(h, "RT-OFFLINE") == "Accepted", "no answer: the copy lets it charge offline")
            for (allowed, status) in [(RealTimeAuthorization.Allowed.allowed, "Accepted"), (.blocked, "Blocked"), (.expired, "Expired"),
                                      (.noCredit, "Invalid"), (.notAllowed, "Invalid"), (.unreachable, "Invalid"), (.allowed, "Accepted")] {
                try await answer("rt-never", allowed)
                #expect(try await authorize(h, "RT-NEVER") == status, "NEVER after \(allowed)")
            }
            try await answer("RT-OFFLINE", .blocked)
            #expect(try await authorize(h, "RT-OFFLINE") == "Blocked")
            try await answer("RT-OFFLINE", .unreachable)
            #expect(try await authorize(h, "RT-OFFLINE") == "Accepted")
            // An answer decides whatever the copy's whitelist: a refusal stands over a copy that would allow.
            #expect(try await authorize(h, "RT-ALLOWED") == "Accepted")
            try await answer("RT-ALLOWED", .blocked)
            #expect(try await authorize(h, "RT-ALLOWED") == "Blocked")
            try await answer("RT-ALLOWED", .unreachable)
            #expect(try await authorize(h, "RT-ALLOWED") == "Accepted", "unreachable leaves it to the copy")
            // An answer older than 15 minutes no longer stands.
            try await answer("RT-NEVER", .allowed)
            _ = try await h.count("WITH u AS (UPDATE ocpi_authorizations SET created_at = now() - interval '16 minutes' RETURNING 1) SELECT count(*)::int FROM u")
            #expect(try await authorize(h, "RT-NEVER") == "Invalid")
        }
    }

    /// Hubs' client info: only a hub says it, of the party its URL names, with one event per change.
    @Test func hubClientInfoIsAHubsToSay() async throws {
        try await Harness.with { h in
            let hub = try await PushTests.partner(h, "hub", receives: [])
            let text = #"{"country_code":"DE","party_id":"ABC","role":"EMSP","status":"CONNECTED","last_updated":"2026-12-01T10:00:00Z"}"#
            let info = try JSONDecoder().decode(ClientInfo.self, from: Data(text.utf8))
            let service = HubClientInfoService()
            await #expect(throws: HubClientInfoService.Refusal.notAHub) {
                try await h.committer.perform { try await service.put($0, info, countryCode: "DE", partyId: "ABC", partnerId: hub, partnerRoles: [.emsp]) }
            }
            await #expect(throws: HubClientInfoService.Refusal.keyMismatch(field: "party_id")) {
                try await h.committer.perform { try await service.put($0, info, countryCode: "DE", partyId: "ABD", partnerId: hub, partnerRoles: [.hub]) }
            }
            #expect(try await h.committer.perform { try await service.put($0, info, countryCode: "de", partyId: "abc", partnerId: hub, partnerRoles: [.hub]) } == .created)
            #expect(try await h.committer.perform { try await service.put($0, info, countryCode: "DE", partyId: "ABC", partnerId: hub, partnerRoles: [.hub]) } == .unchanged)
            var changed = info
            changed.status = .offline
            let offline = changed
            #expect(try await h.committer.perform { try await service.put($0, offline, countryCode: "DE", partyId: "ABC", partnerId: hub, partnerRoles: [.hub]) } == .updated)
            #expect(try await h.count("SELECT count(*)::int FROM outbox WHERE topic = 'hubclientinfo.updated'") == 2)
            #expect(try await h.count("SELECT count(*)::int FROM ocpi_client_info WHERE status = 'OFFLINE'") == 1)
        }
    }

    @Test func aPartnerWritesOnlyItsOwnPartiesTokens() async throws {
        try await Harness.with { h in
            let a = try await PushTests.partner(h, "a", receives: [])
            let b = try await PushTests.partner(h, "b", receives: [])
            let service = service
            let card = try Self.token("C1")
            // Not one of the caller's parties.
            await #expect(throws: RoamingTokenService.Refusal.notYourParty("DE-EMS")) {
                try await h.committer.perform { try await service.put($0, card, key: Self.key(card), partnerId: a, parties: ["NL-XYZ"]) }
            }
            _ = try await h.committer.perform { try await service.put($0, card, key: Self.key(card), partnerId: a, parties: ["DE-EMS"]) }
            // Another platform claiming the same party cannot overwrite a token it did not put.
            await #expect(throws: RoamingTokenService.Refusal.notYourParty("DE-EMS")) {
                try await h.committer.perform { try await service.put($0, card, key: Self.key(card), partnerId: b, parties: ["DE-EMS"]) }
            }
            // The body must name the token of the URL.
            let other = try Self.token("C2")
            await #expect(throws: RoamingTokenService.Refusal.keyMismatch(field: "uid")) {
                try await h.committer.perform { try await service.put($0, other, key: Self.key(card), partnerId: a, parties: ["DE-EMS"]) }
            }
            // The same uid with another type is another token.
            let app = try Self.token("C1", type: "APP_USER")
            #expect(try await h.committer.perform { try await service.put($0, app, key: Self.key(app), partnerId: a, parties: ["DE-EMS"]) } == .created)
            #expect(try await h.count("SELECT count(*)::int FROM ocpi_tokens") == 2)
        }
    }
}
