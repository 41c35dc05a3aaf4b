import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import OCPI
import OCPP
import ServiceLifecycle
import Settlement
import Storage

/// Pushes the catalog's changes to OCPI partners. Two loops:
/// - the relay turns outbox events into pushes (`PushRepository.relay`: one node at a time, exactly once);
/// - the delivery claims due pushes under a lease (any node, `FOR UPDATE SKIP LOCKED`, one at a time per
///   partner and object), reads each object's current state, sends it, and records the outcome: delivered,
///   retried with backoff, or a dead letter the admin API lists and replays.
/// A node killed mid-send loses nothing: the push's lease lapses and it is sent again, with the same
/// X-Request-ID.
struct OCPIPushService: Service {
    let pushes: PushRepository
    let catalog: CatalogRepository
    let sessions: SessionRepository
    let commands: CommandRepository
    let sender: PushSender
    let policy: PushPolicy
    /// Each database step is bounded by this; a database that is down stalls the loops, never hangs them.
    let databaseTimeout: Duration
    let logger: Logger
    /// Opens when the schema is ready.
    let ready: StartupGate
    var idle: Duration = .milliseconds(200)
    var batch = 32
    /// How often an active session's progress is pushed (when it moved).
    var sessionUpdates: Duration = .seconds(60)
    /// How long relayed outbox events are kept.
    var outboxRetention: Duration = .seconds(7 * 86_400)

    /// A claim outlives both tries of a send and the reads around it.
    var lease: Duration { sender.timeout * 2 + databaseTimeout * 2 }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await ready.wait()
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await relayLoop() }
                group.addTask { await deliveryLoop() }
            }
        }
    }

    func relayLoop() async {
        var lastSweep = ContinuousClock.now - .seconds(3600)
        var lastRefresh = ContinuousClock.now
        // Events per relay: halved after a relay that failed (a batch that cannot finish in time is retried smaller),
        // grown back after each that succeeded.
        var limit = 200
        while !Task.isCancelled {
            var relayed = 0
            do {
                // A relay of 200 events makes sessions and CDRs too: it gets a few database deadlines.
                let take = limit
                relayed = try await Deadline.run(within: databaseTimeout * 4) { try await pushes.relay(limit: take) }
                limit = min(200, limit * 2)
                if relayed > 0 { logger.debug("outbox relayed", metadata: ["count": "\(relayed)"]) }
                if ContinuousClock.now - lastRefresh >= min(sessionUpdates, .seconds(60)) {
                    lastRefresh = .now
                    let interval = sessionUpdates
                    let queued = try await Deadline.run(within: databaseTimeout) { try await pushes.refreshActiveSessions(interval: interval) }
                    if queued > 0 { logger.debug("session progress queued", metadata: ["count": "\(queued)"]) }
                }
                if ContinuousClock.now - lastSweep > .seconds(60) {
                    lastSweep = .now
                    let abandoned = try await Deadline.run(within: databaseTimeout) { try await pushes.abandonGonePartners() }
                    if abandoned > 0 { logger.notice("pushes of unregistered partners abandoned", metadata: ["count": "\(abandoned)"]) }
                    let cutoff = Date().addingTimeInterval(-outboxRetention.seconds)
                    // In passes of 10,000 until a pass finds fewer: purging keeps up with any rate of pushes.
                    while try await Deadline.run(within: databaseTimeout, { try await pushes.purgeOutbox(before: cutoff) }) == 10_000, !Task.isCancelled {}
                    while try await Deadline.run(within: databaseTimeout, { try await pushes.purgeFinished(before: cutoff) }) == 10_000, !Task.isCancelled {}
                }
            } catch {
                if Task.isCancelled { return }
                limit = max(10, limit / 2)
                logger.warning("outbox relay failed; retrying with \(limit) events", metadata: ["error": "\(error)"])
            }
            if relayed == 0 { try? await Task.sleep(for: idle) }
        }
    }

    /// Keeps up to `batch` pushes in flight, at most half of them one partner's, and claims more as they end (by
    /// halves, or on a tick every `idle`): a partner that is slow or down holds at most half the slots, never all.
    func deliveryLoop() async {
        await withTaskGroup(of: Int64?.self) { group in
            var inFlight: [Int64: Int] = [:]
            var total = 0
            var ticking = false
            var ticked = true
            let perPartner = max(batch / 2, 1)
            while !Task.isCancelled {
                // Refill by halves (or on a tick): a claim per finished push would cost a query each.
                if total <= batch / 2 || (ticked && total < batch) {
                    ticked = false
                    do {
                        let (limit, lease) = (batch - total, lease)
                        let full = inFlight.filter { $0.value >= perPartner }.map(\.key)
                        let claimed = try await Deadline.run(within: databaseTimeout) {
                            try await pushes.claim(limit: limit, lease: lease, excludingPartners: full)
                        }
                        for c in claimed {
                            total += 1
                            inFlight[c.push.partnerId, default: 0] += 1
                            group.addTask { await deliver(c); return c.push.partnerId }
                        }
                    } catch {
                        if Task.isCancelled { break }
                        logger.warning("push claim failed; retrying", metadata: ["error": "\(error)"])
                    }
                }
                if !ticking {
                    ticking = true
                    group.addTask { try? await Task.sleep(for: idle); return nil }
                }
                guard let finished = await group.next() else { continue }
                if let partner = finished {
                    total -= 1
                    inFlight[partner, default: 1] -= 1
                    if inFlight[partner] == 0 { inFlight[partner] = nil }
                } else {
                    ticking = false
                    ticked = true
                }
            }
            group.cancelAll()
        }
    }

    func deliver(_ claimed: PushRepository.Claimed) async {
        let push = claimed.push
        let outcome: PushRepository.Outcome
        var location: String?
        do {
            // Within the lease: a send that outlived it could go after the newer one of the node that took it over.
            let within = lease - databaseTimeout
            (outcome, location) = try await Deadline.run(within: within) { try await attempt(claimed) }
        } catch {
            outcome = policy.outcome(of: .unreachable("its object could not be read: \(error)"), attempt: push.attempts, draw: .random(in: 0...1))
        }
        let metadata: Logger.Metadata = ["ocpi.partner.id": "\(push.partnerId)", "ocpi.push.id": "\(push.id)", "ocpi.push.target": "\(push.module) \(push.target)"]
        switch outcome {
        case .delivered: logger.debug("push delivered", metadata: metadata)
        case .superseded(let why): logger.debug("push superseded: \(why)", metadata: metadata)
        case .retry(let why, let after): logger.info("push failed, retried in \(after.seconds) s: \(why)", metadata: metadata)
        case .dead(let why): logger.warning("push is a dead letter: \(why)", metadata: metadata)
        }
        do {
            let recorded = try await Deadline.run(within: databaseTimeout) { [location] in try await pushes.finish(claimed, outcome, responseLocation: location) }
            if !recorded { logger.notice("push outcome not recorded: its lease lapsed, another node has it", metadata: metadata) }
        } catch {
            logger.warning("push outcome not recorded; its lease lapses and it is sent again", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
    }

    /// Reads the object as it is now and sends it; with the answer's `Location`, if any.
    func attempt(_ claimed: PushRepository.Claimed) async throws -> (PushRepository.Outcome, String?) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let push = claimed.push
        guard let token = claimed.clientToken else { return (.dead("no token to call the partner with"), nil) }
        guard let module = ModuleID(rawValue: push.module) else { return (.dead("\(push.module) is not pushed"), nil) }
        if module == .commands {
            // A command's result goes to the response_url the partner gave with it.
            guard let url = push.url, let id = push.commandId else { return (.superseded("the command has no result to send"), nil) }
            let body: String
            if let kept = try await commands.resultBody(id: id) {
                // A charging profile request's own result object.
                body = kept
            } else {
                guard let result = try await commands.result(id: id) else { return (.superseded("the command has no result to send"), nil) }
                // A 2.1.1 partner is POSTed 2.1.1's CommandResponse.
                body = claimed.partner.version == .v211 ? OCPI211.commandResult(result).serialized : String(decoding: try encoder.encode(result), as: UTF8.self)
            }
            let answer = await sender.send(PushSender.Request(
                method: .POST, url: url, body: body, token: token, requestId: push.requestId,
                to: claimed.partnerParty
            ))
            return (policy.outcome(of: answer, attempt: push.attempts, draw: .random(in: 0...1)), nil)
        }
        guard let base = claimed.partner.receiverURL(module) else {
            return (.dead("the partner lists no \(push.module) receiver endpoint"), nil)
        }
        var path = [push.countryCode, push.partyId]
        let body: String?
        // A session or CDR is addressed to the party of its token (a platform may hold several), anything else to the
        // partner's first role.
        var to = claimed.partnerParty
        switch module {
        case .locations:
            guard let locationId = push.locationId, let view = try await catalog.location(id: locationId) else {
                return (.superseded("the location no longer exists"), nil)
            }
            path.append(view.id)
            if let uid = push.evseUID {
                guard let evse = view.evses.first(where: { $0.uid.lowercased() == uid.lowercased() }) else {
                    return (.superseded("the EVSE is no longer at this location"), nil)
                }
                path.append(evse.uid)
                body = LocationMapper.json(evse)
            } else {
                body = LocationMapper.json(view)
            }
        case .tariffs:
            guard let tariffId = push.tariffId else { return (.dead("a tariff push without a tariff id"), nil) }
            path.append(tariffId)
            if push.method == "DELETE" {
                // A DELETE replayed after the tariff was made again would delete the live one.
                if try await catalog.tariff(id: tariffId) != nil { return (.superseded("the tariff exists again"), nil) }
                body = nil
            } else {
                guard let tariff = try await catalog.tariff(id: tariffId) else { return (.superseded("the tariff was deleted since"), nil) }
                body = String(decoding: try encoder.encode(tariff), as: UTF8.self)
            }
        case .sessions:
            guard let sessionId = push.sessionId, let facts = try await sessions.facts(id: sessionId) else {
                return (.superseded("the session no longer exists"), nil)
            }
            path.append(sessionId)
            body = String(decoding: try encoder.encode(try facts.session(now: OCPIDateTime(Date()))), as: UTF8.self)
            to = (facts.cdrToken.countryCode, facts.cdrToken.partyId)
        case .cdrs:
            // A CDR is POSTed to the module's URL itself.
            path = []
            guard let cdrId = push.cdrId, let stored = try await sessions.cdr(id: cdrId) else { return (.superseded("the CDR no longer exists"), nil) }
            body = stored.body
            to = (stored.countryCode, stored.partyId)
        default:
            return (.dead("\(push.module) is not pushed"), nil)
        }
        var sent = body
        let v211 = claimed.partner.version == .v211
        if v211, let text = body {
            // The same object in 2.1.1's shape, at the same path; what 2.1.1 cannot carry now is not sent.
            guard let shaped = try await shape211(module, text, evse: push.evseUID != nil) else {
                return (.superseded("OCPI 2.1.1 cannot carry this \(push.module) object"), nil)
            }
            sent = shaped
        }
        let root = base.hasSuffix("/") ? String(base.dropLast()) : base
        let url = path.isEmpty ? root : root + "/" + path.map(Self.escape).joined(separator: "/")
        let method: HTTPMethod = switch push.method { case "DELETE": .DELETE; case "POST": .POST; default: .PUT }
        var request = PushSender.Request(method: method, url: url, body: sent, token: token, requestId: push.requestId, to: v211 ? nil : to)
        request.rawFirst = v211
        let answer = await sender.send(request)
        return (policy.outcome(of: answer, attempt: push.attempts, draw: .random(in: 0...1)), answer.location)
    }

    /// A 2.2.1 body (as rendered for a push) in 2.1.1's shape: a Session and a CDR with their location embedded (as it
    /// is now, with only the EVSE and connector used). Nil when 2.1.1 cannot carry it (a tariff outside its window, an
    /// EVSE with no connector 2.1.1 knows).
    func shape211(_ module: ModuleID, _ text: String, evse: Bool) async throws -> String? {
        let value = try JSONParser.parse(text)
        func site(_ id: String?) async throws -> JSONValue? {
            guard let id, let view = try await catalog.location(id: id) else { return nil }
            return OCPI211.location(try JSONParser.parse(LocationMapper.json(view)))
        }
        switch module {
        case .locations:
            guard evse else { return OCPI211.location(value).serialized }
            let shaped = OCPI211.evse(value)
            guard case .array(let connectors)? = shaped["connectors"], !connectors.isEmpty else { return nil }
            return shaped.serialized
        case .tariffs: return OCPI211.tariff(value)?.serialized
        case .sessions: return OCPI211.session(value, site: try await site(value["location_id"]?.stringValue))?.serialized
        case .cdrs: return OCPI211.cdr(value, site: try await site(value["cdr_location"]?["id"]?.stringValue))?.serialized
        default: return nil
        }
    }

    /// OCPI ids are printable ASCII; anything a path segment cannot hold as it is gets percent-encoded.
    static func escape(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~*=:+@"))) ?? segment
    }
}
