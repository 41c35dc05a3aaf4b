import Foundation
import OCPI
@testable import Server
import Storage
import Testing

/// What a partner's answer makes of a push, and how long a failed one waits.
@Suite struct PushPolicyTests {
    @Test(arguments: [
        // (HTTP, OCPI status_code, verdict)
        (200, 1000, "delivered"), (201, 1000, "delivered"), (200, nil, "delivered"),
        (200, 2001, "permanent"), (400, 2001, "permanent"), (404, 2003, "permanent"), (401, nil, "permanent"), (404, nil, "permanent"),
        (200, 3000, "transient"), (500, 3001, "transient"), (503, nil, "transient"), (429, nil, "transient"), (408, nil, "transient"),
        (500, 1000, "transient"), (200, 4000, "transient"),
    ] as [(Int, Int?, String)])
    func answers(http: Int, ocpi: Int?, expected: String) {
        let verdict = switch PushAnswer.from(http: http, ocpiStatus: ocpi).verdict {
        case .delivered: "delivered"
        case .transient: "transient"
        case .permanent: "permanent"
        }
        #expect(verdict == expected, "HTTP \(http), OCPI \(ocpi.map(String.init) ?? "none")")
    }

    @Test func backoffDoublesWithJitterUpToItsCap() {
        let policy = PushPolicy(maxAttempts: 5, backoff: .seconds(2), maxBackoff: .seconds(60))
        #expect(policy.delay(afterAttempt: 1, draw: 1) == .seconds(2))
        #expect(policy.delay(afterAttempt: 1, draw: 0) == .seconds(1), "at least half of the doubled wait")
        #expect(policy.delay(afterAttempt: 3, draw: 1) == .seconds(8))
        #expect(policy.delay(afterAttempt: 10, draw: 1) == .seconds(60))
        #expect(policy.delay(afterAttempt: 10_000, draw: 0.5) == .seconds(45), "no overflow past the cap")
    }

    @Test func aTransientFailureIsRetriedUntilTheBudgetIsSpent() {
        let policy = PushPolicy(maxAttempts: 3, backoff: .seconds(1), maxBackoff: .seconds(10))
        let down = PushAnswer.unreachable("down")
        #expect(policy.outcome(of: down, attempt: 2, draw: 1) == .retry("down", after: .seconds(2)))
        guard case .dead = policy.outcome(of: down, attempt: 3, draw: 1) else { Issue.record("the third failure is a dead letter"); return }
        guard case .dead = policy.outcome(of: .from(http: 400, ocpiStatus: 2001), attempt: 1, draw: 1) else {
            Issue.record("a refusal is a dead letter at once"); return
        }
        #expect(policy.outcome(of: .from(http: 200, ocpiStatus: 1000), attempt: 3, draw: 1) == .delivered)
    }

    @Test func receiversArePushedTo() {
        let receiver = Endpoint(identifier: "locations", role: .receiver, url: "http://e/locations")
        let sender = Endpoint(identifier: "locations", role: .sender, url: "http://e/locations")
        let emsp = PushRouting.Recipient(id: 1, version: .v221, roles: [.emsp], endpoints: [receiver])
        let map = PushRouting.Recipient(id: 2, version: .v221, roles: [.nsp], endpoints: [receiver])
        #expect(PushRouting.receivesLocation(emsp, published: false, sentBefore: false))
        #expect(!PushRouting.receivesLocation(map, published: false, sentBefore: false))
        #expect(PushRouting.receivesLocation(map, published: true, sentBefore: false))
        #expect(PushRouting.receivesLocation(map, published: false, sentBefore: true), "a map service learns that a location left the map")
        #expect(!PushRouting.receivesLocation(PushRouting.Recipient(id: 3, version: .v221, roles: [.emsp], endpoints: [sender]), published: true, sentBefore: false))
        // 2.1.1: the module's endpoint, with no role, receives; only published locations (2.1.1 has no `publish`).
        let old = PushRouting.Recipient(id: 4, version: .v211, roles: [.emsp], endpoints: [Endpoint(identifier: "locations", role: nil, url: "http://o/locations")])
        #expect(PushRouting.receivesLocation(old, published: true, sentBefore: false))
        #expect(!PushRouting.receivesLocation(old, published: false, sentBefore: false))
        #expect(!PushRouting.receivesLocation(old, published: false, sentBefore: true))
        #expect(old.receiverURL(.locations) == "http://o/locations" && old.receiverURL(.commands) == nil)
        #expect(!PushRouting.receivesTariffs(emsp))
    }
}
