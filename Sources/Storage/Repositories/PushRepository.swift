public import Foundation
public import Logging
public import OCPI
public import PostgresNIO

/// The OCPI push queue (`ocpi_pushes`): the outbox relayed into one push per partner and object, claimed
/// under a lease by whichever node is free, and finished as delivered, retried later, or a dead letter.
/// See Migrations/0005_ocpi_push.sql for the rules the table keeps.
public struct PushRepository: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public enum State: String, Sendable, Codable, CaseIterable {
        case pending, delivered, dead, superseded
    }

    public struct Push: Sendable, Codable, Hashable {
        public var id: Int64
        public var partnerId: Int64
        public var module: String
        public var method: String
        public var queueKey: String
        public var target: String
        public var countryCode: String
        public var partyId: String
        public var locationId: String?
        public var evseUID: String?
        public var tariffId: String?
        public var sessionId: String?
        public var cdrId: String?
        public var commandId: UUID?
        /// Where it goes when not to the partner's module endpoint (a command result's response_url).
        public var url: String?
        public var requestId: String
        public var state: State
        public var attempts: Int
        public var nextAttemptAt: Date
        public var lastError: String?
        public var createdAt: Date
        public var deliveredAt: Date?
    }

    /// A push a node holds the lease of, with what sending it needs of its partner.
    public struct Claimed: Sendable {
        public var push: Push
        public var lease: UUID
        public var partner: PushRouting.Recipient
        /// The token Voltaic calls the partner with.
        public var clientToken: String?
        /// The partner's own party (its first role), for the OCPI-to headers.
        public var partnerParty: (countryCode: String, partyId: String)?
    }

    // MARK: Relay

    /// Any constant both sides agree on; the first bytes of "voltaic-push".
    static let relayLock: Int64 = 0x766F_6C74_6169_6370

    /// The relay's lock for the rest of `conn`'s transaction, if no other node holds it.
    static func takeRelayLock(_ conn: PostgresConnection, logger: Logger) async throws -> Bool {
        for try await locked in try await conn.query("SELECT pg_try_advisory_xact_lock(\(relayLock))", logger: logger).decode(Bool.self) { return locked }
        return false
    }

    /// Relays up to `limit` outbox events into pushes, in one transaction that marks them processed: an event is
    /// relayed once whatever the number of nodes (one relays at a time), and a crash relays it again from the
    /// start. Returns how many events it took; 0 when there were none or another node is relaying.
    public func relay(limit: Int = 200) async throws -> Int {
        try await client.withTransaction(logger: logger) { conn in
            guard try await Self.takeRelayLock(conn, logger: logger) else { return 0 }
            var events: [(Int64, String, String)] = []
            for try await row in try await conn.query(
                "SELECT id, topic, payload::text FROM outbox WHERE processed_at IS NULL ORDER BY id LIMIT \(limit)", logger: logger
            ).decode((Int64, String, String).self) { events.append(row) }
            guard !events.isEmpty else { return 0 }

            let intents = events.compactMap { PushIntent(outboxId: $0.0, topic: $0.1, payload: $0.2) }
            let stationIds = Array(Set(intents.compactMap { if case .stationEVSEs(let s, _) = $0.kind { s } else { nil } })).sorted()
            var evsesOfStation: [String: [(evse: Int, uid: String, location: String)]] = [:]
            if !stationIds.isEmpty {
                for try await (station, evse, uid, location) in try await conn.query(
                    "SELECT station_id, evse_id::int8, uid, location_id FROM evses WHERE station_id = ANY(\(stationIds)) AND removed_at IS NULL ORDER BY uid",
                    logger: logger
                ).decode((String, Int64, String, String).self) { evsesOfStation[station, default: []].append((Int(evse), uid, location)) }
            }
            // Station-level events become the EVSEs they touch; then every intent is about a location or a tariff.
            var targets: [PushTarget] = []
            for intent in intents {
                switch intent.kind {
                case .location(let l): targets.append(.location(l, evse: nil, outboxId: intent.outboxId))
                case .evse(let l, let uid): targets.append(.location(l, evse: uid, outboxId: intent.outboxId))
                case .stationEVSEs(let s, let evse):
                    for e in evsesOfStation[s] ?? [] where evse == 0 || e.evse == evse {
                        targets.append(.location(e.location, evse: e.uid, outboxId: intent.outboxId))
                    }
                case .tariff(let method, let cc, let pid, let id): targets.append(.tariff(method, cc, pid, id, outboxId: intent.outboxId))
                case .session, .command: break
                }
            }
            let locationIds = Array(Set(targets.compactMap { if case .location(let l, _, _) = $0 { l } else { nil } })).sorted()
            var sites: [String: (cc: String, pid: String, publish: Bool)] = [:]
            if !locationIds.isEmpty {
                for try await (id, cc, pid, publish) in try await conn.query(
                    "SELECT id, country_code, party_id, publish FROM locations WHERE id = ANY(\(locationIds))", logger: logger
                ).decode((String, String, String, Bool).self) { sites[id] = (cc, pid, publish) }
            }
            var recipients: [PushRouting.Recipient] = []
            for try await (id, version, roles, endpoints) in try await conn.query(
                "SELECT id, version, roles::text, endpoints::text FROM ocpi_partners WHERE state IN ('registered', 'suspended') ORDER BY id", logger: logger
            ).decode((Int64, String?, String, String).self) {
                recipients.append(PushRouting.Recipient(
                    id: id, version: version.flatMap(OCPIVersion.init(rawValue:)),
                    roles: try JSONDecoder().decode([CredentialsRole].self, from: Data(roles.utf8)).map(\.role),
                    endpoints: try JSONDecoder().decode([Endpoint].self, from: Data(endpoints.utf8))
                ))
            }
            var sentBefore: Set<String> = []
            if !locationIds.isEmpty && !recipients.isEmpty {
                for try await (partner, key) in try await conn.query(
                    "SELECT DISTINCT partner_id, queue_key FROM ocpi_pushes WHERE module = 'locations' AND state IN ('pending', 'delivered') AND queue_key = ANY(\(locationIds.map { "location:" + $0 }))",
                    logger: logger
                ).decode((Int64, String).self) { sentBefore.insert("\(partner) \(key)") }
            }

            // Ended transactions that hold funds wait for settlement (Settlement's worker captures them).
            let ended = intents.compactMap { if case .session(let t, true) = $0.kind { t } else { nil } }
            if !ended.isEmpty {
                try await conn.query(
                    """
                    INSERT INTO settlement_queue (transaction_id) SELECT transaction_id FROM holds WHERE transaction_id = ANY(\(ended)) AND state = 'held'
                    ON CONFLICT (transaction_id) DO NOTHING
                    """,
                    logger: logger
                )
            }

            var rows = PushRows()
            // Sessions: a roaming token's transaction is an OCPI session from its start, and has its CDR from its end,
            // made here whether or not the eMSP takes pushes (it can pull them). Each goes to that eMSP alone.
            let byId = Dictionary(uniqueKeysWithValues: recipients.map { ($0.id, $0) })
            for intent in intents {
                guard case .session(let transactionId, let ended) = intent.kind else { continue }
                // One transaction's session is made under a savepoint: one that cannot be made (data the rules refuse
                // since) is logged and skipped, and never holds up the outbox behind it.
                let made: SessionRepository.Made?, cdr: String?
                do {
                    try await conn.query("SAVEPOINT roaming_session", logger: logger)
                    made = try await SessionRepository.ensure(conn, transactionId: transactionId, logger: logger)
                    cdr = if ended, let made { try await SessionRepository.makeCDR(conn, session: made, logger: logger) } else { nil }
                    try await conn.query("RELEASE SAVEPOINT roaming_session", logger: logger)
                } catch {
                    try await conn.query("ROLLBACK TO SAVEPOINT roaming_session", logger: logger)
                    logger.error("the OCPI session or CDR of a transaction could not be made; skipped", metadata: [
                        "transaction.id": "\(transactionId)", "error": "\(String(reflecting: error).prefix(300))",
                    ])
                    continue
                }
                guard let made else { continue }
                let key = "session:" + made.id
                let r = byId[made.partnerId]
                if let r, r.receiverURL(.sessions) != nil {
                    rows.add(partner: r.id, module: "sessions", method: "PUT", key: key, target: made.id, cc: made.countryCode, pid: made.partyId,
                             location: nil, evse: nil, tariff: nil, session: made.id, cdr: nil, command: nil, url: nil, outboxId: intent.outboxId)
                }
                if let cdr, let r, r.receiverURL(.cdrs) != nil {
                    rows.add(partner: r.id, module: "cdrs", method: "POST", key: key, target: cdr, cc: made.countryCode, pid: made.partyId,
                             location: nil, evse: nil, tariff: nil, session: made.id, cdr: cdr, command: nil, url: nil, outboxId: intent.outboxId)
                }
            }
            // Command results: to the response_url of the partner that sent the command.
            let commandIds = intents.compactMap { if case .command(let id) = $0.kind { id } else { nil } }
            if !commandIds.isEmpty {
                var byCommand: [UUID: (Int64, String)] = [:]
                for try await (id, partner, url) in try await conn.query(
                    "SELECT id, partner_id, response_url FROM ocpi_commands WHERE id = ANY(\(commandIds)) AND state = 'done'", logger: logger
                ).decode((UUID, Int64, String).self) { byCommand[id] = (partner, url) }
                for intent in intents {
                    guard case .command(let id) = intent.kind, let (partner, url) = byCommand[id] else { continue }
                    let key = id.uuidString.lowercased()
                    rows.add(partner: partner, module: "commands", method: "POST", key: "command:" + key, target: key, cc: "", pid: "",
                             location: nil, evse: nil, tariff: nil, session: nil, cdr: nil, command: key, url: url, outboxId: intent.outboxId)
                }
            }
            for target in targets {
                for r in recipients {
                    switch target {
                    case .location(let l, var evse, let outboxId):
                        guard let site = sites[l] else { continue }
                        let key = "location:" + l
                        let sent = sentBefore.contains("\(r.id) \(key)")
                        guard PushRouting.receivesLocation(r, published: site.publish, sentBefore: sent) else { continue }
                        // A partner never sent the location (it registered after the location was made) is sent the
                        // whole location, not an EVSE of one it does not know.
                        if !sent { evse = nil }
                        sentBefore.insert("\(r.id) \(key)")
                        rows.add(partner: r.id, module: "locations", method: "PUT", key: key, target: evse.map { "\(l)/\($0)" } ?? l,
                                 cc: site.cc, pid: site.pid, location: l, evse: evse, tariff: nil, session: nil, cdr: nil, command: nil, url: nil, outboxId: outboxId)
                    case .tariff(let method, let cc, let pid, let id, let outboxId):
                        guard PushRouting.receivesTariffs(r) else { continue }
                        rows.add(partner: r.id, module: "tariffs", method: method, key: "tariff:" + id, target: id,
                                 cc: cc, pid: pid, location: nil, evse: nil, tariff: id, session: nil, cdr: nil, command: nil, url: nil, outboxId: outboxId)
                    }
                }
            }
            if !rows.partner.isEmpty {
                // A push that waits, unsent (no lease), already carries whatever changed since: its body is read when it
                // goes. For locations and sessions (every push a PUT of current state) any such push of the same target
                // will do; for tariffs only the queue's last, so that a PUT never folds into one that a DELETE follows.
                try await conn.query(
                    """
                    INSERT INTO ocpi_pushes (partner_id, module, method, queue_key, target, country_code, party_id, location_id, evse_uid, tariff_id,
                                             session_id, cdr_id, command_id, url, outbox_id)
                    SELECT x.partner_id, x.module, x.method, x.queue_key, x.target, x.cc, x.pid, nullif(x.location_id, ''), nullif(x.evse_uid, ''),
                           nullif(x.tariff_id, ''), nullif(x.session_id, ''), nullif(x.cdr_id, ''), nullif(x.command_id, '')::uuid, nullif(x.url, ''), x.outbox_id
                    FROM unnest(\(rows.partner)::int8[], \(rows.module)::text[], \(rows.method)::text[], \(rows.key)::text[], \(rows.target)::text[],
                                \(rows.cc)::text[], \(rows.pid)::text[], \(rows.location)::text[], \(rows.evse)::text[], \(rows.tariff)::text[],
                                \(rows.session)::text[], \(rows.cdr)::text[], \(rows.command)::text[], \(rows.url)::text[], \(rows.outboxId)::int8[],
                                \(rows.foldable)::bool[])
                         WITH ORDINALITY AS x(partner_id, module, method, queue_key, target, cc, pid, location_id, evse_uid, tariff_id, session_id, cdr_id,
                                              command_id, url, outbox_id, foldable, n)
                    WHERE NOT x.foldable OR NOT EXISTS (
                        SELECT 1 FROM ocpi_pushes p
                        WHERE p.partner_id = x.partner_id AND p.queue_key = x.queue_key AND p.state = 'pending' AND p.lease_until IS NULL
                          AND p.target = x.target AND p.method = x.method
                          AND (x.module IN ('locations', 'sessions') OR p.id = (
                              SELECT max(q.id) FROM ocpi_pushes q WHERE q.partner_id = x.partner_id AND q.queue_key = x.queue_key AND q.state = 'pending'
                          ))
                    )
                    ORDER BY x.n
                    """,
                    logger: logger
                )
            }
            try await conn.query("UPDATE outbox SET processed_at = now() WHERE id = ANY(\(events.map(\.0)))", logger: logger)
            return events.count
        }
    }

    /// Queues a Session PUT for every active roaming session whose meter or transaction moved since its last push
    /// was queued, at most one per `interval`: the eMSP sees the energy, periods and cost so far while it charges.
    /// Nothing is queued for a session that has a push waiting. Returns how many.
    public func refreshActiveSessions(interval: Duration) async throws -> Int {
        let seconds = interval.seconds
        // Under the relay's lock: one node queues a session's progress, not each.
        return try await client.withTransaction(logger: logger) { conn in
            guard try await Self.takeRelayLock(conn, logger: logger) else { return 0 }
            let rows = try await conn.query(
                """
                INSERT INTO ocpi_pushes (partner_id, module, method, queue_key, target, country_code, party_id, session_id, outbox_id)
                SELECT s.partner_id, 'sessions', 'PUT', 'session:' || s.id, s.id, s.country_code, s.party_id, s.id, 0
                FROM ocpi_sessions s
                JOIN transactions t ON t.id = s.transaction_id AND t.state = 'Active'
                JOIN ocpi_partners pa ON pa.id = s.partner_id AND pa.state = 'registered' AND pa.version = '2.2.1'
                CROSS JOIN LATERAL (
                    SELECT max(q.created_at) AS at, bool_or(q.state = 'pending') AS waiting
                    FROM ocpi_pushes q WHERE q.partner_id = s.partner_id AND q.queue_key = 'session:' || s.id
                ) last
                WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(pa.endpoints) e WHERE lower(e->>'identifier') = 'sessions' AND e->>'role' = 'RECEIVER')
                  AND NOT coalesce(last.waiting, false)
                  AND (last.at IS NULL OR last.at < now() - \(seconds) * interval '1 second')
                  AND (last.at IS NULL OR t.updated_at > last.at
                       OR EXISTS (SELECT 1 FROM meter_values mv WHERE mv.transaction_id = t.id AND mv.received_at > last.at))
                RETURNING id
                """,
                logger: logger
            )
            var n = 0
            for try await _ in rows { n += 1 }
            return n
        }
    }

    /// Deletes up to `limit` pushes finished (delivered or superseded) before `cutoff`; returns how many.
    public func purgeFinished(before cutoff: Date, limit: Int = 10_000) async throws -> Int {
        let rows = try await client.query(
            """
            DELETE FROM ocpi_pushes WHERE id IN (
                -- The newest push of each partner's queue stays: it says the partner was sent the object (the relay asks).
                SELECT p.id FROM ocpi_pushes p WHERE p.state IN ('delivered', 'superseded') AND p.created_at < \(cutoff)
                  AND EXISTS (SELECT 1 FROM ocpi_pushes n WHERE n.queue_key = p.queue_key AND n.partner_id = p.partner_id AND n.id > p.id)
                LIMIT \(limit)
            ) RETURNING id
            """,
            logger: logger
        )
        var n = 0
        for try await _ in rows { n += 1 }
        return n
    }

    /// Pushes of partners that are gone (unregistered, removed) will never be sent: they become dead letters.
    public func abandonGonePartners() async throws -> Int {
        let rows = try await client.query(
            """
            UPDATE ocpi_pushes SET state = 'dead', lease_token = NULL, lease_until = NULL, last_error = 'the partner is no longer registered'
            WHERE state = 'pending' AND partner_id IN (SELECT id FROM ocpi_partners WHERE state IN ('unregistered', 'removed'))
            RETURNING id
            """,
            logger: logger
        )
        var n = 0
        for try await _ in rows { n += 1 }
        return n
    }

    /// Deletes up to `limit` outbox events relayed before `cutoff`; returns how many.
    public func purgeOutbox(before cutoff: Date, limit: Int = 10_000) async throws -> Int {
        let rows = try await client.query(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE processed_at < \(cutoff) LIMIT \(limit)) RETURNING id", logger: logger
        )
        var n = 0
        for try await _ in rows { n += 1 }
        return n
    }

    // MARK: Delivery

    /// Leases up to `limit` pushes that are due: of each partner's queue key only the head (its lowest pending
    /// id), so that pushes of one object go one at a time and in order, across all nodes. Only partners that
    /// are registered (a suspended one's pushes wait). Each claim counts an attempt.
    public func claim(limit: Int, lease: Duration, excludingPartners excluded: [Int64] = []) async throws -> [Claimed] {
        let token = UUID()
        let seconds = lease.seconds
        let rows = try await client.query(
            """
            WITH c AS (
                SELECT q.id FROM ocpi_pushes q JOIN ocpi_partners pa ON pa.id = q.partner_id AND pa.state = 'registered'
                WHERE q.state = 'pending' AND q.next_attempt_at <= now() AND (q.lease_until IS NULL OR q.lease_until < now())
                  AND NOT (q.partner_id = ANY(\(excluded)::int8[]))
                  AND NOT EXISTS (
                      SELECT 1 FROM ocpi_pushes e WHERE e.partner_id = q.partner_id AND e.queue_key = q.queue_key AND e.state = 'pending' AND e.id < q.id
                  )
                ORDER BY q.next_attempt_at, q.id
                LIMIT \(limit)
                FOR UPDATE OF q SKIP LOCKED
            )
            UPDATE ocpi_pushes p SET lease_token = \(token), lease_until = now() + \(seconds) * interval '1 second', attempts = p.attempts + 1
            FROM c, ocpi_partners pa
            WHERE p.id = c.id AND pa.id = p.partner_id
            RETURNING \(unescaped: Self.columns("p")), pa.version, pa.roles::text, pa.endpoints::text, pa.client_token
            """,
            logger: logger
        )
        var out: [Claimed] = []
        for try await row in rows {
            let push = try Self.push(row)
            let (version, roles, endpoints, clientToken) = try row.makeRandomAccess().decodeTail((String?, String, String, String?).self, from: Self.columnCount)
            let decodedRoles = try JSONDecoder().decode([CredentialsRole].self, from: Data(roles.utf8))
            out.append(Claimed(
                push: push, lease: token,
                partner: PushRouting.Recipient(
                    id: push.partnerId, version: version.flatMap(OCPIVersion.init(rawValue:)), roles: decodedRoles.map(\.role),
                    endpoints: try JSONDecoder().decode([Endpoint].self, from: Data(endpoints.utf8))
                ),
                clientToken: clientToken, partnerParty: decodedRoles.first.map { ($0.countryCode, $0.partyId) }
            ))
        }
        return out.sorted { $0.push.id < $1.push.id }
    }

    /// How a claimed push ended.
    public enum Outcome: Sendable, Equatable {
        case delivered
        /// Not sent: its object is gone.
        case superseded(String)
        /// Failed; tried again after `after`.
        case retry(String, after: Duration)
        case dead(String)
    }

    /// Records how a claimed push ended; false when the lease was lost (it lapsed and another node took it),
    /// in which case nothing is written.
    @discardableResult
    public func finish(_ claimed: Claimed, _ outcome: Outcome, responseLocation: String? = nil) async throws -> Bool {
        let id = claimed.push.id, lease = claimed.lease
        let rows: PostgresRowSequence
        switch outcome {
        case .delivered:
            rows = try await client.query(
                """
                UPDATE ocpi_pushes SET state = 'delivered', delivered_at = now(), lease_token = NULL, lease_until = NULL, last_error = NULL,
                    response_location = coalesce(\(responseLocation), response_location)
                WHERE id = \(id) AND lease_token = \(lease) AND state = 'pending' RETURNING id
                """,
                logger: logger
            )
        case .superseded(let why), .dead(let why):
            let state = if case .dead = outcome { "dead" } else { "superseded" }
            rows = try await client.query(
                """
                UPDATE ocpi_pushes SET state = \(state), lease_token = NULL, lease_until = NULL, last_error = \(String(why.prefix(500)))
                WHERE id = \(id) AND lease_token = \(lease) AND state = 'pending' RETURNING id
                """,
                logger: logger
            )
        case .retry(let why, let after):
            let seconds = after.seconds
            rows = try await client.query(
                """
                UPDATE ocpi_pushes SET next_attempt_at = now() + \(seconds) * interval '1 second', lease_token = NULL, lease_until = NULL,
                    last_error = \(String(why.prefix(500)))
                WHERE id = \(id) AND lease_token = \(lease) AND state = 'pending' RETURNING id
                """,
                logger: logger
            )
        }
        for try await _ in rows { return true }
        return false
    }

    // MARK: Admin

    /// Pushes waiting and dead letters, each counted up to `cap` (a scrape must stay cheap however long a partner is down).
    public func backlog(cap: Int = 100_000) async throws -> (pending: Int, dead: Int) {
        let rows = try await client.query(
            """
            SELECT (SELECT count(*) FROM (SELECT 1 FROM ocpi_pushes WHERE state = 'pending' LIMIT \(cap)) p)::int8,
                   (SELECT count(*) FROM (SELECT 1 FROM ocpi_pushes WHERE state = 'dead' LIMIT \(cap)) d)::int8
            """,
            logger: logger
        )
        for try await (pending, dead) in rows.decode((Int64, Int64).self) { return (Int(pending), Int(dead)) }
        throw MissingRow("the push counts")
    }

    /// Where the partner keeps its copy of a delivered CDR (its answer's `Location`), if it said.
    public func cdrLocation(cdrId: String) async throws -> String? {
        for try await l in try await client.query(
            "SELECT response_location FROM ocpi_pushes WHERE cdr_id = \(cdrId) AND state = 'delivered' AND response_location IS NOT NULL ORDER BY id DESC LIMIT 1",
            logger: logger
        ).decode(String.self) { return l }
        return nil
    }

    /// Pushes in id order, after `afterId`, filtered by state and partner.
    public func list(state: State?, partnerId: Int64?, afterId: Int64 = 0, limit: Int = 100) async throws -> [Push] {
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.columns("p")) FROM ocpi_pushes p
            WHERE (\(state?.rawValue)::text IS NULL OR p.state = \(state?.rawValue)::text)
              AND (\(partnerId)::int8 IS NULL OR p.partner_id = \(partnerId)::int8) AND p.id > \(afterId)
            ORDER BY p.id LIMIT \(limit)
            """,
            logger: logger
        )
        var out: [Push] = []
        for try await row in rows { out.append(try Self.push(row)) }
        return out
    }

    public func push(id: Int64) async throws -> Push? {
        for try await row in try await client.query("SELECT \(unescaped: Self.columns("p")) FROM ocpi_pushes p WHERE p.id = \(id)", logger: logger) {
            return try Self.push(row)
        }
        return nil
    }

    public enum Replay: Sendable, Equatable {
        case replayed(Push)
        case notFound
        /// Only a dead letter can be replayed; this is its state.
        case notDead(State)
    }

    /// Puts a dead letter back in its queue, due now, with its attempts counted from zero. It keeps its id, so it
    /// goes before later pushes of its object; its body is read afresh when it is sent.
    public func replay(id: Int64) async throws -> Replay {
        let rows = try await client.query(
            """
            UPDATE ocpi_pushes p SET state = 'pending', attempts = 0, next_attempt_at = now(), lease_token = NULL, lease_until = NULL
            WHERE p.id = \(id) AND p.state = 'dead' RETURNING \(unescaped: Self.columns("p"))
            """,
            logger: logger
        )
        for try await row in rows { return .replayed(try Self.push(row)) }
        guard let push = try await push(id: id) else { return .notFound }
        return .notDead(push.state)
    }

    // MARK: Rows

    static let columnCount = 22

    static func columns(_ t: String) -> String {
        ["id", "partner_id", "module", "method", "queue_key", "target", "country_code", "party_id", "location_id", "evse_uid", "tariff_id",
         "session_id", "cdr_id", "command_id", "url", "request_id::text", "state", "attempts::int8", "next_attempt_at", "last_error", "created_at", "delivered_at"]
            .map { "\(t).\($0)" }.joined(separator: ", ")
    }

    static func push(_ row: PostgresRow) throws -> Push {
        let c = row.makeRandomAccess()
        return Push(
            id: try c[0].decode(Int64.self), partnerId: try c[1].decode(Int64.self), module: try c[2].decode(String.self),
            method: try c[3].decode(String.self), queueKey: try c[4].decode(String.self), target: try c[5].decode(String.self),
            countryCode: try c[6].decode(String.self), partyId: try c[7].decode(String.self), locationId: try c[8].decode(String?.self),
            evseUID: try c[9].decode(String?.self), tariffId: try c[10].decode(String?.self), sessionId: try c[11].decode(String?.self),
            cdrId: try c[12].decode(String?.self), commandId: try c[13].decode(UUID?.self), url: try c[14].decode(String?.self),
            requestId: try c[15].decode(String.self),
            state: State(rawValue: try c[16].decode(String.self)) ?? .dead, attempts: Int(try c[17].decode(Int64.self)),
            nextAttemptAt: try c[18].decode(Date.self), lastError: try c[19].decode(String?.self), createdAt: try c[20].decode(Date.self),
            deliveredAt: try c[21].decode(Date?.self)
        )
    }
}

extension PostgresRandomAccessRow {
    /// The four columns that follow the first `from`.
    fileprivate func decodeTail<A: PostgresDecodable, B: PostgresDecodable, C: PostgresDecodable, D: PostgresDecodable>(_: (A, B, C, D).Type, from start: Int) throws -> (A, B, C, D) {
        (try self[start].decode(A.self), try self[start + 1].decode(B.self), try self[start + 2].decode(C.self), try self[start + 3].decode(D.self))
    }
}

/// What an outbox event asks to push, before it is resolved to locations and partners.
struct PushIntent {
    enum Kind {
        case location(String)
        case evse(String, String)
        /// The EVSEs of a station: one (its OCPP EVSE id), or all (0).
        case stationEVSEs(String, Int)
        case tariff(String, String, String, String)
        /// A transaction started or ended: its OCPI session (and CDR) if it is a roaming token's.
        case session(Int64, ended: Bool)
        /// An OCPI command has its result, for the partner's response_url.
        case command(UUID)
    }

    var outboxId: Int64
    var kind: Kind

    private struct Payload: Decodable {
        var stationId: String?
        var evseId: Int?
        var locationId: String?
        var evseUID: String?
        var countryCode: String?
        var partyId: String?
        var id: String?
        var transactionId: Int64?

        enum CodingKeys: String, CodingKey {
            case stationId, evseId, transactionId, locationId = "location_id", evseUID = "evse_uid", countryCode = "country_code", partyId = "party_id", id
        }
    }

    /// Nil for events that push nothing (boots, sessions: not pushed yet) and for payloads that do not parse.
    init?(outboxId: Int64, topic: String, payload: String) {
        self.outboxId = outboxId
        guard ["location.updated", "evse.updated", "connector.status", "station.presence", "tariff.updated", "tariff.deleted",
               "session.started", "session.ended", "command.completed"].contains(topic),
              let p = try? JSONDecoder().decode(Payload.self, from: Data(payload.utf8))
        else { return nil }
        switch topic {
        case "location.updated":
            guard let l = p.locationId else { return nil }
            kind = .location(l)
        case "evse.updated":
            guard let l = p.locationId, let uid = p.evseUID else { return nil }
            kind = .evse(l, uid)
        case "connector.status":
            guard let s = p.stationId, let e = p.evseId else { return nil }
            kind = .stationEVSEs(s, e)
        case "station.presence":
            guard let s = p.stationId else { return nil }
            kind = .stationEVSEs(s, 0)
        case "session.started", "session.ended":
            guard let t = p.transactionId else { return nil }
            kind = .session(t, ended: topic == "session.ended")
        case "command.completed":
            guard let raw = p.id, let id = UUID(uuidString: raw) else { return nil }
            kind = .command(id)
        default:
            guard let cc = p.countryCode, let pid = p.partyId, let id = p.id else { return nil }
            kind = .tariff(topic == "tariff.deleted" ? "DELETE" : "PUT", cc, pid, id)
        }
    }
}

enum PushTarget {
    case location(String, evse: String?, outboxId: Int64)
    case tariff(String, String, String, String, outboxId: Int64)
}

/// The rows of one relay, as columns for one INSERT … unnest; a repeat of a row already in the batch is folded as
/// the table folds it (locations and sessions: the same target anywhere before; tariffs and CDRs: the same as the
/// queue's last).
struct PushRows {
    var partner: [Int64] = [], module: [String] = [], method: [String] = [], key: [String] = [], target: [String] = []
    var cc: [String] = [], pid: [String] = [], location: [String] = [], evse: [String] = [], tariff: [String] = []
    var session: [String] = [], cdr: [String] = [], command: [String] = [], url: [String] = [], outboxId: [Int64] = []
    /// Whether the row may fold into a push waiting in the table: always for PUTs of state; for tariffs only the
    /// batch's first row of its queue (a later one follows rows of this batch, which the table cannot see yet).
    var foldable: [Bool] = []
    private var seen: Set<String> = []
    private var lastOfQueue: [String: String] = [:]

    mutating func add(partner p: Int64, module m: String, method me: String, key k: String, target t: String, cc c: String, pid pi: String,
                      location l: String?, evse e: String?, tariff ta: String?, session se: String?, cdr cd: String?, command co: String?,
                      url u: String?, outboxId o: Int64) {
        let queue = "\(p) \(k)", identity = "\(me) \(t)"
        if m == "locations" || m == "sessions" {
            guard seen.insert("\(queue) \(identity)").inserted else { return }
        } else {
            guard lastOfQueue[queue] != identity else { return }
        }
        foldable.append(m == "locations" || m == "sessions" || lastOfQueue[queue] == nil)
        lastOfQueue[queue] = identity
        partner.append(p); module.append(m); method.append(me); key.append(k); target.append(t)
        cc.append(c); pid.append(pi); location.append(l ?? ""); evse.append(e ?? ""); tariff.append(ta ?? "")
        session.append(se ?? ""); cdr.append(cd ?? ""); command.append(co ?? ""); url.append(u ?? ""); outboxId.append(o)
    }
}
