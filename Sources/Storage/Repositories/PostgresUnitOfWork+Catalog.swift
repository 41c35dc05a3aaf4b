import CSMS
import Foundation
import OCPI
import PostgresNIO

/// The catalog's rows. Each object's validated OCPI fields are kept as jsonb; a write that changes nothing (a
/// replayed PUT) matches no row in `ON CONFLICT … WHERE`, so it keeps its `last_updated` and says `.unchanged`.
extension PostgresUnitOfWork {
    func upsertLocation(_ site: LocationSite, at: Date) async throws -> CatalogWrite {
        let body = try CatalogJSON.text(site)
        let rows = try await connection.query(
            """
            INSERT INTO locations (id, country_code, party_id, publish, time_zone, body, last_updated)
            VALUES (\(site.id), \(site.countryCode), \(site.partyId), \(site.publish), \(site.timeZone), \(body)::jsonb, \(at))
            ON CONFLICT (id) DO UPDATE SET country_code = EXCLUDED.country_code, party_id = EXCLUDED.party_id, publish = EXCLUDED.publish,
                time_zone = EXCLUDED.time_zone, body = EXCLUDED.body, last_updated = greatest(locations.last_updated, EXCLUDED.last_updated)
            WHERE locations.body IS DISTINCT FROM EXCLUDED.body
            RETURNING xmax = 0
            """,
            logger: logger
        )
        for try await created in rows.decode(Bool.self) { return created ? .created : .updated }
        return .unchanged
    }

    func locationId(matching id: String) async throws -> String? {
        let rows = try await connection.query("SELECT id FROM locations WHERE lower(id) = lower(\(id))", logger: logger)
        for try await stored in rows.decode(String.self) { return stored }
        return nil
    }

    func evseUID(stationId: String, evseId: Int) async throws -> String? {
        let rows = try await connection.query(
            "SELECT uid FROM evses WHERE station_id = \(stationId) AND evse_id = \(evseId) AND removed_at IS NULL", logger: logger
        )
        for try await uid in rows.decode(String.self) { return uid }
        return nil
    }

    func evseUIDExists(_ uid: String) async throws -> Bool {
        try await connection.query("SELECT 1 FROM evses WHERE lower(uid) = lower(\(uid))", logger: logger).collect().count > 0
    }

    func upsertEVSE(_ p: EVSEPlacement, at: Date) async throws -> CatalogWrite {
        let body = try CatalogJSON.text(p.spec)
        // The location it leaves, if it moves, changes as well.
        var previous: String?
        for try await old in try await connection.query("SELECT location_id FROM evses WHERE uid = \(p.uid) FOR UPDATE", logger: logger).decode(String.self) {
            previous = old
        }
        var write = CatalogWrite.unchanged
        let evse = try await connection.query(
            """
            INSERT INTO evses (uid, location_id, station_id, evse_id, body, last_updated)
            VALUES (\(p.uid), \(p.locationId), \(p.stationId), \(p.evseId), \(body)::jsonb, \(at))
            ON CONFLICT (uid) DO UPDATE SET location_id = EXCLUDED.location_id, body = EXCLUDED.body
            WHERE evses.location_id IS DISTINCT FROM EXCLUDED.location_id OR evses.body IS DISTINCT FROM EXCLUDED.body
            RETURNING xmax = 0
            """,
            logger: logger
        )
        for try await created in evse.decode(Bool.self) { write = created ? .created : .updated }
        let ids = p.connectors.keys.sorted()
        let bodies = try ids.map { try CatalogJSON.text(p.connectors[$0]!) }
        // text[] per connector travels as one JSON array per connector.
        let tariffs = try ids.map { try CatalogJSON.text(p.connectors[$0]!.tariffIds) }
        let changed = try await connection.query(
            """
            INSERT INTO evse_connectors (evse_uid, connector_id, body, tariff_ids, last_updated)
            SELECT \(p.uid), c.id, c.body::jsonb, ARRAY(SELECT jsonb_array_elements_text(c.tariffs::jsonb)), \(at)
            FROM unnest(\(ids)::int[], \(bodies)::text[], \(tariffs)::text[]) AS c(id, body, tariffs)
            ON CONFLICT (evse_uid, connector_id) DO UPDATE SET body = EXCLUDED.body, tariff_ids = EXCLUDED.tariff_ids,
                last_updated = greatest(evse_connectors.last_updated, EXCLUDED.last_updated)
            WHERE evse_connectors.body IS DISTINCT FROM EXCLUDED.body
            RETURNING 1
            """,
            logger: logger
        ).collect().count
        if changed > 0, write == .unchanged { write = .updated }
        guard write != .unchanged else { return .unchanged }
        let touched = Array(Set([p.locationId] + (previous.map { [$0] } ?? [])))
        try await connection.query(
            "UPDATE evses SET last_updated = greatest(last_updated, \(at)) WHERE uid = \(p.uid)", logger: logger
        )
        try await connection.query(
            "UPDATE locations SET last_updated = greatest(last_updated, \(at)) WHERE id = ANY(\(touched)::text[])", logger: logger
        )
        return write
    }

    func existingTariffIds(_ ids: [String]) async throws -> Set<String> {
        let lowered = ids.map { $0.lowercased() }
        var out = Set<String>()
        for try await id in try await connection.query(
            "SELECT lower(id) FROM tariffs WHERE lower(id) = ANY(\(lowered)::text[]) AND deleted_at IS NULL", logger: logger
        ).decode(String.self) {
            out.insert(id)
        }
        return out
    }

    func upsertTariff(_ t: Tariff, at: Date) async throws -> CatalogWrite {
        var t = t
        if let stored = try await tariffId(matching: t.id) { t.id = stored }
        let body = try CatalogJSON.text(t)
        let rows = try await connection.query(
            """
            INSERT INTO tariffs (id, country_code, party_id, currency, body, last_updated)
            VALUES (\(t.id), \(t.countryCode), \(t.partyId), \(t.currency), \(body)::jsonb, \(at))
            ON CONFLICT (id) DO UPDATE SET country_code = EXCLUDED.country_code, party_id = EXCLUDED.party_id,
                currency = EXCLUDED.currency, body = EXCLUDED.body, deleted_at = NULL,
                last_updated = greatest(tariffs.last_updated, EXCLUDED.last_updated)
            WHERE tariffs.deleted_at IS NOT NULL OR (tariffs.body - 'last_updated') IS DISTINCT FROM (EXCLUDED.body - 'last_updated')
            RETURNING xmax = 0
            """,
            logger: logger
        )
        for try await created in rows.decode(Bool.self) { return created ? .created : .updated }
        return .unchanged
    }

    func tariffInUse(id: String) async throws -> Bool {
        try await connection.query(
            "SELECT 1 FROM evse_connectors c, unnest(c.tariff_ids) t WHERE lower(t) = lower(\(id)) LIMIT 1", logger: logger
        ).collect().count > 0
    }

    func deleteTariff(id: String, at: Date) async throws -> Tariff? {
        let rows = try await connection.query(
            """
            UPDATE tariffs SET deleted_at = \(at), last_updated = greatest(last_updated, \(at))
            WHERE lower(id) = lower(\(id)) AND deleted_at IS NULL
            RETURNING body::text
            """,
            logger: logger
        )
        for try await body in rows.decode(String.self) { return try CatalogJSON.decode(Tariff.self, body) }
        return nil
    }

    private func tariffId(matching id: String) async throws -> String? {
        for try await stored in try await connection.query("SELECT id FROM tariffs WHERE lower(id) = lower(\(id))", logger: logger).decode(String.self) {
            return stored
        }
        return nil
    }
}

/// The catalog's jsonb columns: OCPI objects as their own encoders write them.
extension PostgresUnitOfWork {
    func ocpiToken(_ key: RoamingTokenService.Key) async throws -> StoredToken? {
        let rows = try await connection.query(
            """
            SELECT body::text, partner_id FROM ocpi_tokens
            WHERE country_code = \(key.countryCode) AND party_id = \(key.partyId) AND lower(uid) = lower(\(key.uid)) AND type = \(key.type.rawValue)
            FOR UPDATE
            """,
            logger: logger
        )
        for try await (body, partner) in rows.decode((String, Int64).self) {
            return StoredToken(token: try CatalogJSON.decode(Token.self, body), partnerId: partner)
        }
        return nil
    }

    func upsertClientInfo(_ info: ClientInfo, partnerId: Int64) async throws -> CatalogWrite {
        let rows = try await connection.query(
            """
            INSERT INTO ocpi_client_info AS c (partner_id, country_code, party_id, role, status, last_updated)
            VALUES (\(partnerId), \(info.countryCode), \(info.partyId), \(info.role.rawValue), \(info.status.rawValue), \(info.lastUpdated.date))
            ON CONFLICT (partner_id, country_code, party_id) DO UPDATE SET role = EXCLUDED.role, status = EXCLUDED.status, last_updated = EXCLUDED.last_updated
            WHERE (c.role, c.status, c.last_updated) IS DISTINCT FROM (EXCLUDED.role, EXCLUDED.status, EXCLUDED.last_updated)
            RETURNING (xmax = 0)
            """,
            logger: logger
        )
        for try await created in rows.decode(Bool.self) { return created ? .created : .updated }
        return .unchanged
    }

    func recordRealTimeAuthorization(_ a: RealTimeAuthorization) async throws {
        try await connection.query(
            """
            INSERT INTO ocpi_authorizations (partner_id, token_uid, token_type, station_id, location_id, allowed, authorization_reference)
            VALUES (\(a.partnerId), \(a.tokenUID), \(a.tokenType.rawValue), \(a.stationId), \(a.locationId), \(a.allowed.rawValue), \(a.authorizationReference))
            """,
            logger: logger
        )
    }

    func upsertOCPIToken(_ t: Token, partnerId: Int64) async throws -> CatalogWrite {
        var t = t
        if let stored = try await ocpiToken(RoamingTokenService.Key(countryCode: t.countryCode, partyId: t.partyId, uid: t.uid, type: t.type)) {
            t.uid = stored.token.uid
        }
        let body = try CatalogJSON.text(t)
        let rows = try await connection.query(
            """
            INSERT INTO ocpi_tokens (country_code, party_id, uid, type, partner_id, valid, whitelist, group_id, body, last_updated)
            VALUES (\(t.countryCode), \(t.partyId), \(t.uid), \(t.type.rawValue), \(partnerId), \(t.valid), \(t.whitelist.rawValue), \(t.groupId),
                    \(body)::jsonb, \(t.lastUpdated.date))
            ON CONFLICT (country_code, party_id, lower(uid), type) DO UPDATE SET valid = EXCLUDED.valid, whitelist = EXCLUDED.whitelist,
                group_id = EXCLUDED.group_id, body = EXCLUDED.body, last_updated = EXCLUDED.last_updated
            WHERE ocpi_tokens.body IS DISTINCT FROM EXCLUDED.body
            RETURNING xmax = 0
            """,
            logger: logger
        )
        for try await created in rows.decode(Bool.self) { return created ? .created : .updated }
        return .unchanged
    }
}

enum CatalogJSON {
    static func text(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}
