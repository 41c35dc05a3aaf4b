public import Foundation
import CSMS
public import Logging
public import OCPI
public import PostgresNIO
public import Settlement

/// OCPI sessions and CDRs (Migrations/0007): made by the push relay as transactions of roaming tokens start and end,
/// read by the Sender modules and the push worker.
public struct SessionRepository: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// A session as the relay needs it: its id and the eMSP platform it belongs to.
    struct Made: Sendable {
        var id: String
        var partnerId: Int64
        var countryCode: String
        var partyId: String
    }

    // MARK: Made by the relay, in its transaction

    /// The OCPI session of a transaction, made now if the transaction is a roaming token's at a placed EVSE. Nil for
    /// any other transaction (Voltaic's own tokens, a station at no location).
    static func ensure(_ conn: PostgresConnection, transactionId: Int64, logger: Logger) async throws -> Made? {
        for try await (id, partner, cc, pid) in try await conn.query(
            "SELECT id, partner_id, country_code, party_id FROM ocpi_sessions WHERE transaction_id = \(transactionId)", logger: logger
        ).decode((String, Int64, String, String).self) { return Made(id: id, partnerId: partner, countryCode: cc, partyId: pid) }

        // The token as authorization reads it: Voltaic's own first (then no roaming session), else the partner's copy.
        let rows = try await conn.query(
            """
            SELECT ot.partner_id, ot.body::text, l.body::text, e.uid, e.body::text, c.connector_id::int8, c.body::text, tf.body::text
            FROM transactions t
            JOIN LATERAL (SELECT o.partner_id, o.body FROM ocpi_tokens o WHERE lower(o.uid) = lower(t.id_token) ORDER BY o.valid DESC, o.last_updated DESC LIMIT 1) ot ON true
            JOIN evses e ON e.station_id = t.station_id AND e.evse_id = t.evse_id AND e.removed_at IS NULL
            JOIN locations l ON l.id = e.location_id
            JOIN LATERAL (
                SELECT ec.connector_id, ec.body, ec.tariff_ids FROM evse_connectors ec WHERE ec.evse_uid = e.uid
                ORDER BY ec.connector_id = greatest(t.connector_id, 1) DESC, ec.connector_id LIMIT 1
            ) c ON true
            LEFT JOIN tariffs tf ON lower(tf.id) = lower(c.tariff_ids[1]) AND tf.deleted_at IS NULL
            WHERE t.id = \(transactionId) AND t.id_token IS NOT NULL AND NOT EXISTS (SELECT 1 FROM id_tokens WHERE value = t.id_token)
            """,
            logger: logger
        )
        for try await (partner, tokenBody, siteBody, uid, evseBody, connectorId, connectorBody, tariffBody) in rows.decode(
            (Int64, String, String, String, String, Int64, String, String?).self
        ) {
            let token = try CatalogJSON.decode(Token.self, tokenBody)
            let site = try CatalogJSON.decode(LocationSite.self, siteBody)
            let evse = try CatalogJSON.decode(EVSESpec.self, evseBody)
            let connector = try CatalogJSON.decode(ConnectorSpec.self, connectorBody)
            let tariff = try tariffBody.map { try CatalogJSON.decode(Tariff.self, $0) }
            let cdrToken = CdrToken(countryCode: token.countryCode, partyId: token.partyId, uid: token.uid, type: token.type, contractId: token.contractId)
            let location = CdrLocation(site: site, evseUID: uid, evseId: evse.evseId ?? uid, connectorId: String(connectorId), connector: connector)
            let id = String(transactionId)
            // Started by the eMSP's START_SESSION: the accepted command of this station for this token (2.0.1: with the
            // transaction's remoteStartId), not yet claimed by another transaction.
            var authMethod = "WHITELIST", reference: String?
            for try await ref in try await conn.query(
                """
                UPDATE ocpi_commands SET transaction_id = \(transactionId) WHERE id = (
                    SELECT c.id FROM ocpi_commands c, transactions t
                    WHERE t.id = \(transactionId) AND c.command = 'START_SESSION' AND c.transaction_id IS NULL
                      -- Sent and not refused: the station's start may come before its answer to the command is recorded.
                      AND c.state IN ('sent', 'done') AND coalesce(c.result, 'ACCEPTED') = 'ACCEPTED'
                      AND c.station_id = t.station_id AND c.created_at > now() - interval '1 hour'
                      AND (c.remote_start_id = t.remote_start_id OR (t.remote_start_id IS NULL AND lower(c.token_uid) = lower(t.id_token)))
                    ORDER BY c.created_at DESC LIMIT 1 FOR UPDATE
                ) RETURNING authorization_reference
                """,
                logger: logger
            ).decode(String?.self) {
                authMethod = "COMMAND"
                reference = ref
            }
            // Authorized by the eMSP in real time (its answer of the 15 minutes before the transaction, at this station):
            // AUTH_REQUEST, with the eMSP's reference.
            if authMethod != "COMMAND" {
                for try await ref in try await conn.query(
                    """
                    SELECT a.authorization_reference FROM ocpi_authorizations a, transactions t
                    WHERE t.id = \(transactionId) AND lower(a.token_uid) = lower(t.id_token) AND a.station_id = t.station_id
                      AND a.partner_id = \(partner) AND a.allowed = 'ALLOWED'
                      -- Within 15 minutes before the transaction was made (the relay may run later than that).
                      AND a.created_at BETWEEN t.created_at - interval '15 minutes' AND t.created_at
                    ORDER BY a.id DESC LIMIT 1
                    """,
                    logger: logger
                ).decode(String?.self) {
                    authMethod = "AUTH_REQUEST"
                    reference = ref
                }
            }
            // Without a tariff the session is not priced; its currency is then the CPO's usual one.
            let currency = tariff?.currency ?? "EUR"
            try await conn.query(
                """
                INSERT INTO ocpi_sessions (id, transaction_id, partner_id, token_country_code, token_party_id, cdr_token, auth_method, authorization_reference,
                    country_code, party_id, location_id, evse_uid, connector_id, cdr_location, time_zone, currency, tariff, last_updated)
                VALUES (\(id), \(transactionId), \(partner), \(token.countryCode), \(token.partyId), \(try CatalogJSON.text(cdrToken))::jsonb, \(authMethod), \(reference),
                    \(site.countryCode.uppercased()), \(site.partyId.uppercased()), \(site.id), \(uid), \(String(connectorId)), \(try CatalogJSON.text(location))::jsonb,
                    \(site.timeZone), \(currency), \(try tariff.map { try CatalogJSON.text($0) })::jsonb, clock_timestamp())
                """,
                logger: logger
            )
            return Made(id: id, partnerId: partner, countryCode: site.countryCode.uppercased(), partyId: site.partyId.uppercased())
        }
        return nil
    }

    /// The CDR of an ended session, made once (nil when it exists already, or the session has not ended).
    static func makeCDR(_ conn: PostgresConnection, session: Made, logger: Logger) async throws -> String? {
        guard try await conn.query("SELECT 1 FROM ocpi_cdrs WHERE session_id = \(session.id)", logger: logger).collect().isEmpty else { return nil }
        guard let (facts, location) = try await facts(conn, id: session.id, logger: logger), facts.end != nil else { return nil }
        let now = OCPIDateTime(Date())
        let cdr = try facts.cdr(id: session.id, location: location, now: now)
        try await conn.query(
            """
            INSERT INTO ocpi_cdrs (id, session_id, partner_id, token_country_code, token_party_id, body, last_updated)
            VALUES (\(cdr.id), \(session.id), \(session.partnerId), \(facts.cdrToken.countryCode), \(facts.cdrToken.partyId),
                    \(try CatalogJSON.text(cdr))::jsonb, \(now.date))
            """,
            logger: logger
        )
        return cdr.id
    }

    // MARK: Reads

    static let factColumns = """
        s.id, s.country_code, s.party_id, s.cdr_token::text, s.auth_method, s.location_id, s.evse_uid, s.connector_id, s.cdr_location::text,
        s.time_zone, s.currency, s.tariff::text, t.id, t.started_at, t.stopped_at, t.state, t.meter_start_wh, t.meter_stop_wh, t.energy_wh,
        greatest(s.last_updated, t.updated_at, (SELECT max(mv.received_at) FROM meter_values mv WHERE mv.transaction_id = t.id)), s.authorization_reference
        """

    /// What is known of a session now: its row, its transaction and its energy readings.
    static func facts(_ conn: PostgresConnection, id: String, logger: Logger) async throws -> (SessionFacts, CdrLocation)? {
        let rows = try await conn.query(
            "SELECT \(unescaped: factColumns) FROM ocpi_sessions s JOIN transactions t ON t.id = s.transaction_id WHERE s.id = \(id)", logger: logger
        )
        var found: (SessionFacts, CdrLocation, Int64)?
        for try await row in rows { found = try Self.facts(row) }
        guard var (facts, location, transactionId) = found else { return nil }
        facts.readings = try await registerReadings(conn, transactionId: transactionId, logger: logger)
        _ = transactionId
        return (facts, location)
    }

    /// A transaction's energy register readings (absolute Wh), one per time (the latest correction), in time order:
    /// what every pricing of it reads, the OCPI Session and CDR, the capture and the hold guard alike.
    static func registerReadings(_ conn: PostgresConnection, transactionId: Int64, logger: Logger) async throws -> [(OCPIDateTime, Int64)] {
        var out: [(OCPIDateTime, Int64)] = []
        for try await (at, wh) in try await conn.query(
            """
            SELECT DISTINCT ON (sampled_at) sampled_at, round(value)::int8 FROM meter_values
            WHERE transaction_id = \(transactionId) AND measurand = 'Energy.Active.Import.Register' AND phase = ''
              AND unit = 'Wh' AND value IS NOT NULL AND location IN ('', 'Outlet') AND abs(value) <= \(WireLimits.maxRegisterWh)
            ORDER BY sampled_at, id DESC
            """,
            logger: logger
        ).decode((Date, Int64).self) { out.append((OCPIDateTime(at), wh)) }
        return out
    }

    static func facts(_ row: PostgresRow) throws -> (SessionFacts, CdrLocation, Int64) {
        let c = row.makeRandomAccess()
        let token = try CatalogJSON.decode(CdrToken.self, try c[3].decode(String.self))
        let location = try CatalogJSON.decode(CdrLocation.self, try c[8].decode(String.self))
        let zone = TimeZone(identifier: try c[9].decode(String.self)) ?? TimeZone(identifier: "UTC")!
        let tariff = try c[11].decode(String?.self).map { try CatalogJSON.decode(Tariff.self, $0) }
        let started = try c[13].decode(Date?.self), stopped = try c[14].decode(Date?.self)
        let ended = try c[15].decode(String.self) == "Ended"
        let updated = try c[19].decode(Date.self)
        let start = OCPIDateTime(started ?? updated)
        let facts = SessionFacts(
            countryCode: try c[1].decode(String.self), partyId: try c[2].decode(String.self), id: try c[0].decode(String.self), cdrToken: token,
            authMethod: AuthMethod(rawValue: try c[4].decode(String.self)) ?? .whitelist, locationId: try c[5].decode(String.self),
            evseUID: try c[6].decode(String.self), connectorId: try c[7].decode(String.self), currency: try c[10].decode(String.self), tariff: tariff,
            timeZone: zone, start: start, end: ended ? max(OCPIDateTime(stopped ?? updated), start) : nil, meterStartWh: try c[16].decode(Int64?.self),
            meterStopWh: try c[17].decode(Int64?.self), energyWh: ended ? try c[18].decode(Int64?.self) : nil, readings: [], lastUpdated: OCPIDateTime(updated),
            authorizationReference: try c[20].decode(String?.self)
        )
        return (facts, location, try c[12].decode(Int64.self))
    }

    /// A session's facts, by id.
    public func facts(id: String) async throws -> SessionFacts? {
        try await client.withConnection { conn in try await Self.facts(conn, id: id, logger: logger)?.0 }
    }

    /// A CDR's stored body, by id.
    /// A CDR as stored, and the party of its token (whom it is addressed to).
    public func cdr(id: String) async throws -> (body: String, countryCode: String, partyId: String)? {
        for try await row in try await client.query(
            "SELECT body::text, token_country_code, token_party_id FROM ocpi_cdrs WHERE id = \(id)", logger: logger
        ).decode((String, String, String).self) { return row }
        return nil
    }

    /// A page of the sessions of these eMSP parties (`CC-PID`), in creation order, filtered on `last_updated`.
    public func sessions(_ page: PageRequest, parties: [String]) async throws -> CatalogRepository.Page<SessionFacts> {
        let (from, to) = (page.dateFrom.map(CatalogRepository.micros), page.dateTo.map(CatalogRepository.micros))
        let updated = "greatest(s.last_updated, t.updated_at, (SELECT max(mv.received_at) FROM meter_values mv WHERE mv.transaction_id = t.id))"
        let filter = """
            (s.token_country_code || '-' || s.token_party_id) = ANY($1::text[])
              AND ($2::int8 IS NULL OR \(updated) >= timestamptz 'epoch' + $2::int8 * interval '1 microsecond')
              AND ($3::int8 IS NULL OR \(updated) < timestamptz 'epoch' + $3::int8 * interval '1 microsecond')
            """
        return try await client.withConnection { conn in
            let total = try await Self.count(conn.query(
                PostgresQuery(unsafeSQL: "SELECT count(*)::int8 FROM ocpi_sessions s JOIN transactions t ON t.id = s.transaction_id WHERE \(filter)", binds: Self.binds(parties, from, to)),
                logger: logger
            ))
            var binds = Self.binds(parties, from, to)
            binds.append(page.after.map { CatalogRepository.micros($0.createdAt) })
            binds.append(page.after?.id)
            let rows = try await conn.query(
                PostgresQuery(unsafeSQL: """
                    SELECT \(Self.factColumns), (extract(epoch FROM s.created_at) * 1000000)::int8
                    FROM ocpi_sessions s JOIN transactions t ON t.id = s.transaction_id
                    WHERE \(filter) AND ($4::int8 IS NULL OR (s.created_at, s.id) > (timestamptz 'epoch' + $4::int8 * interval '1 microsecond', $5::text))
                    ORDER BY s.created_at, s.id OFFSET \(page.after == nil ? page.offset : 0) LIMIT \(page.limit + 1)
                    """, binds: binds),
                logger: logger
            )
            var items: [(SessionFacts, PageRequest.Cursor)] = []
            for try await row in rows {
                let (facts, _, _) = try Self.facts(row)
                let created = try row.makeRandomAccess()[21].decode(Int64.self)
                items.append((facts, PageRequest.Cursor(createdAt: CatalogRepository.time(created), id: facts.id)))
            }
            let more = items.count > page.limit
            if more { items.removeLast() }
            var out: [SessionFacts] = []
            for (facts, _) in items {
                // The readings of each session on the page (a page is at most the server's limit).
                out.append(try await Self.facts(conn, id: facts.id, logger: logger)?.0 ?? facts)
            }
            return CatalogRepository.Page(total: total, items: out, more: more, last: items.last?.1)
        }
    }

    /// A page of the CDRs of these eMSP parties, as stored, in creation order, filtered on `last_updated`.
    public func cdrs(_ page: PageRequest, parties: [String]) async throws -> CatalogRepository.Page<String> {
        let (from, to) = (page.dateFrom.map(CatalogRepository.micros), page.dateTo.map(CatalogRepository.micros))
        let filter = """
            (token_country_code || '-' || token_party_id) = ANY($1::text[])
              AND ($2::int8 IS NULL OR last_updated >= timestamptz 'epoch' + $2::int8 * interval '1 microsecond')
              AND ($3::int8 IS NULL OR last_updated < timestamptz 'epoch' + $3::int8 * interval '1 microsecond')
            """
        return try await client.withConnection { conn in
            let total = try await Self.count(conn.query(
                PostgresQuery(unsafeSQL: "SELECT count(*)::int8 FROM ocpi_cdrs WHERE \(filter)", binds: Self.binds(parties, from, to)), logger: logger
            ))
            var binds = Self.binds(parties, from, to)
            binds.append(page.after.map { CatalogRepository.micros($0.createdAt) })
            binds.append(page.after?.id)
            let rows = try await conn.query(
                PostgresQuery(unsafeSQL: """
                    SELECT body::text, id, (extract(epoch FROM created_at) * 1000000)::int8 FROM ocpi_cdrs
                    WHERE \(filter) AND ($4::int8 IS NULL OR (created_at, id) > (timestamptz 'epoch' + $4::int8 * interval '1 microsecond', $5::text))
                    ORDER BY created_at, id OFFSET \(page.after == nil ? page.offset : 0) LIMIT \(page.limit + 1)
                    """, binds: binds),
                logger: logger
            )
            var items: [(String, PageRequest.Cursor)] = []
            for try await (body, id, created) in rows.decode((String, String, Int64).self) {
                items.append((body, PageRequest.Cursor(createdAt: CatalogRepository.time(created), id: id)))
            }
            let more = items.count > page.limit
            if more { items.removeLast() }
            return CatalogRepository.Page(total: total, items: items.map(\.0), more: more, last: items.last?.1)
        }
    }

    static func binds(_ parties: [String], _ from: Int64?, _ to: Int64?) -> PostgresBindings {
        var b = PostgresBindings()
        b.append(parties)
        b.append(from)
        b.append(to)
        return b
    }

    static func count(_ rows: PostgresRowSequence) async throws -> Int {
        for try await n in rows.decode(Int64.self) { return Int(n) }
        throw MissingRow("a count")
    }
}
