import CSMS
import Foundation
public import Logging
public import OCPI
public import PostgresNIO

/// Reads of the catalog, for OCPI's Sender modules and the admin API: pages in OCPI's order (oldest change first,
/// then id), behind a keyset cursor, with the live status inputs of every EVSE.
public struct CatalogRepository: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// A location as stored: its validated OCPI fields as JSON text (what the catalog service wrote), decoded
    /// only when asked (`site`). The OCPI modules splice the stored text into their answers instead, since a
    /// full pull decoding and re-encoding 50,000 EVSEs spends its time in JSON coders.
    public struct LocationView: Sendable {
        public var id: String
        /// The OCPI Location's own fields (no evses, no last_updated), a JSON object.
        public var body: String
        /// The latest of the location's own and its EVSEs'.
        public var lastUpdated: OCPIDateTime
        /// The page order's key, with the id.
        public var createdAt: OCPIDateTime
        public var evses: [EVSEView]

        public var site: LocationSite {
            get throws { try CatalogJSON.decode(LocationSite.self, body) }
        }
    }

    public struct EVSEView: Sendable {
        public var uid: String
        public var stationId: String
        public var evseId: Int
        /// OCPI's static EVSE fields, a JSON object.
        public var body: String
        public var removed: Bool
        public var stationOnline: Bool
        public var stationDecommissioned: Bool
        /// The OCPP status of each connector (by OCPP connector id), as last reported.
        public var connectorStatuses: [Int: String]
        /// The status the station reported for itself (connector 0), if any.
        public var stationStatus: String?
        public var lastUpdated: OCPIDateTime
        public var connectors: [ConnectorView]

        public var spec: EVSESpec {
            get throws { try CatalogJSON.decode(EVSESpec.self, body) }
        }
    }

    public struct ConnectorView: Sendable {
        public var id: Int
        /// OCPI's static Connector fields, a JSON object.
        public var body: String
        public var lastUpdated: OCPIDateTime

        public var spec: ConnectorSpec {
            get throws { try CatalogJSON.decode(ConnectorSpec.self, body) }
        }
    }

    public struct Page<Item: Sendable>: Sendable {
        /// Every object that matches the filters, whatever the offset and limit.
        public var total: Int
        public var items: [Item]
        /// Whether objects follow this page (read, not inferred from the total).
        public var more: Bool
        /// The position after this page's last object, for the next page's `after`.
        public var last: PageRequest.Cursor?
    }

    /// A location's last_updated as OCPI defines it: the latest of its own and its EVSEs'.
    static let locationUpdated = "greatest(l.last_updated, coalesce((SELECT max(e.last_updated) FROM evses e WHERE e.location_id = l.id), l.last_updated))"


    // MARK: Locations

    /// A page of locations, in creation order. `publishedOnly` leaves out those with `publish` false (an open-data feed).
    public func locations(_ page: PageRequest, publishedOnly: Bool = false) async throws -> Page<LocationView> {
        let (from, to) = (page.dateFrom.map(Self.micros), page.dateTo.map(Self.micros))
        let updated = Self.locationUpdated
        // The total is counted on another connection while the page is read.
        async let total = count(
            client.query(
                """
                SELECT count(*)::int8 FROM locations l
                WHERE (\(from)::int8 IS NULL OR \(unescaped: updated) >= timestamptz 'epoch' + \(from)::int8 * interval '1 microsecond')
                  AND (\(to)::int8 IS NULL OR \(unescaped: updated) < timestamptz 'epoch' + \(to)::int8 * interval '1 microsecond')
                  AND (l.publish OR NOT \(publishedOnly))
                """,
                logger: logger
            )
        )
        let afterTime = page.after.map { Self.micros($0.createdAt) }
        let afterId = page.after?.id
        let rows = try await client.query(
            """
            -- The page is chosen first, so that the EVSEs' latest last_updated is read for its rows only, not for
            -- every row an OFFSET skips (unless a date filter needs it).
            SELECT l.id, l.body::text, (extract(epoch FROM \(unescaped: updated)) * 1000000)::int8, (extract(epoch FROM l.created_at) * 1000000)::int8
            FROM (
                SELECT l.id, l.body, l.last_updated, l.created_at FROM locations l
                WHERE (\(from)::int8 IS NULL OR \(unescaped: updated) >= timestamptz 'epoch' + \(from)::int8 * interval '1 microsecond')
                  AND (\(to)::int8 IS NULL OR \(unescaped: updated) < timestamptz 'epoch' + \(to)::int8 * interval '1 microsecond')
                  AND (l.publish OR NOT \(publishedOnly))
                  AND (\(afterTime)::int8 IS NULL OR (l.created_at, l.id) > (timestamptz 'epoch' + \(afterTime)::int8 * interval '1 microsecond', \(afterId)::text))
                ORDER BY l.created_at, l.id
                OFFSET \(page.after == nil ? page.offset : 0) LIMIT \(page.limit + 1)
            ) l
            ORDER BY l.created_at, l.id
            """,
            logger: logger
        )
        var sites: [(String, String, OCPIDateTime, OCPIDateTime)] = []
        for try await (id, body, updated, created) in rows.decode((String, String, Int64, Int64).self) {
            sites.append((id, body, Self.time(updated), Self.time(created)))
        }
        let more = sites.count > page.limit
        if more { sites.removeLast() }
        let evses = try await evses(locationIds: sites.map(\.0))
        let items = sites.map { LocationView(id: $0.0, body: $0.1, lastUpdated: $0.2, createdAt: $0.3, evses: evses[$0.0] ?? []) }
        return Page(total: try await total, items: items, more: more, last: items.last.map { PageRequest.Cursor(createdAt: $0.createdAt, id: $0.id) })
    }

    /// One location by id, in any case.
    public func location(id: String) async throws -> LocationView? {
        let rows = try await client.query(
            """
            SELECT l.id, l.body::text, (extract(epoch FROM \(unescaped: Self.locationUpdated)) * 1000000)::int8, (extract(epoch FROM l.created_at) * 1000000)::int8
            FROM locations l WHERE lower(l.id) = lower(\(id))
            """,
            logger: logger
        )
        for try await (id, body, updated, created) in rows.decode((String, String, Int64, Int64).self) {
            let evses = try await evses(locationIds: [id])
            return LocationView(id: id, body: body, lastUpdated: Self.time(updated), createdAt: Self.time(created), evses: evses[id] ?? [])
        }
        return nil
    }

    /// The EVSEs of these locations with their connectors and status inputs, by location id, in uid order.
    func evses(locationIds: [String]) async throws -> [String: [EVSEView]] {
        guard !locationIds.isEmpty else { return [:] }
        let rows = try await client.query(
            """
            SELECT e.location_id, e.uid, e.station_id, e.evse_id, e.body::text, e.removed_at IS NOT NULL,
                   s.online, s.decommissioned_at IS NOT NULL, (extract(epoch FROM e.last_updated) * 1000000)::int8,
                   z.status, c.connector_id, c.body::text, (extract(epoch FROM c.last_updated) * 1000000)::int8, k.status
            FROM evses e
            JOIN stations s ON s.id = e.station_id
            JOIN evse_connectors c ON c.evse_uid = e.uid
            LEFT JOIN connectors k ON k.station_id = e.station_id AND k.evse_id = e.evse_id AND k.connector_id = c.connector_id
            LEFT JOIN connectors z ON z.station_id = e.station_id AND z.evse_id = 0 AND z.connector_id = 0
            WHERE e.location_id = ANY(\(locationIds)::text[])
            ORDER BY e.location_id, e.uid, c.connector_id
            """,
            logger: logger
        )
        var out: [String: [EVSEView]] = [:]
        for try await row in rows {
            let (location, uid, station, evseId, body, removed, online, decommissioned, updated, stationStatus, connectorId, connectorBody, connectorUpdated, status) =
                try row.decode((String, String, String, Int, String, Bool, Bool, Bool, Int64, String?, Int, String, Int64, String?).self)
            let connector = ConnectorView(id: connectorId, body: connectorBody, lastUpdated: Self.time(connectorUpdated))
            if var list = out[location], var last = list.last, last.uid == uid {
                last.connectors.append(connector)
                if let status { last.connectorStatuses[connectorId] = status }
                list[list.count - 1] = last
                out[location] = list
            } else {
                let view = EVSEView(
                    uid: uid, stationId: station, evseId: evseId, body: body, removed: removed,
                    stationOnline: online, stationDecommissioned: decommissioned, connectorStatuses: status.map { [connectorId: $0] } ?? [:],
                    stationStatus: stationStatus, lastUpdated: Self.time(updated), connectors: [connector]
                )
                out[location, default: []].append(view)
            }
        }
        return out
    }

    // MARK: Tariffs

    /// A page of live tariffs, in creation order.
    public func tariffs(_ page: PageRequest) async throws -> Page<Tariff> {
        let (from, to) = (page.dateFrom.map(Self.micros), page.dateTo.map(Self.micros))
        async let total = count(
            client.query(
                """
                SELECT count(*)::int8 FROM tariffs WHERE deleted_at IS NULL
                  AND (\(from)::int8 IS NULL OR last_updated >= timestamptz 'epoch' + \(from)::int8 * interval '1 microsecond')
                  AND (\(to)::int8 IS NULL OR last_updated < timestamptz 'epoch' + \(to)::int8 * interval '1 microsecond')
                """,
                logger: logger
            )
        )
        let afterTime = page.after.map { Self.micros($0.createdAt) }
        let afterId = page.after?.id
        let rows = try await client.query(
            """
            SELECT body::text, (extract(epoch FROM last_updated) * 1000000)::int8, (extract(epoch FROM created_at) * 1000000)::int8, id
            FROM tariffs WHERE deleted_at IS NULL
              AND (\(from)::int8 IS NULL OR last_updated >= timestamptz 'epoch' + \(from)::int8 * interval '1 microsecond')
              AND (\(to)::int8 IS NULL OR last_updated < timestamptz 'epoch' + \(to)::int8 * interval '1 microsecond')
              AND (\(afterTime)::int8 IS NULL OR (created_at, id) > (timestamptz 'epoch' + \(afterTime)::int8 * interval '1 microsecond', \(afterId)::text))
            ORDER BY created_at, id
            OFFSET \(page.after == nil ? page.offset : 0) LIMIT \(page.limit + 1)
            """,
            logger: logger
        )
        var items: [(Tariff, PageRequest.Cursor)] = []
        for try await (body, updated, created, id) in rows.decode((String, Int64, Int64, String).self) {
            var t = try CatalogJSON.decode(Tariff.self, body)
            t.lastUpdated = Self.time(updated)
            items.append((t, PageRequest.Cursor(createdAt: Self.time(created), id: id)))
        }
        let more = items.count > page.limit
        if more { items.removeLast() }
        return Page(total: try await total, items: items.map(\.0), more: more, last: items.last?.1)
    }

    /// A live tariff by id, in any case.
    public func tariff(id: String) async throws -> Tariff? {
        let rows = try await client.query(
            "SELECT body::text, (extract(epoch FROM last_updated) * 1000000)::int8 FROM tariffs WHERE lower(id) = lower(\(id)) AND deleted_at IS NULL",
            logger: logger
        )
        for try await (body, updated) in rows.decode((String, Int64).self) {
            var t = try CatalogJSON.decode(Tariff.self, body)
            t.lastUpdated = Self.time(updated)
            return t
        }
        return nil
    }

    // MARK: Helpers


    /// Microseconds, rounded up: PostgreSQL keeps microseconds, and a bound of 10.0000005 s must not take in 10.000000 s.
    static func micros(_ t: OCPIDateTime) -> Int64 { t.seconds * 1_000_000 + Int64((t.nanoseconds + 999) / 1000) }

    static func time(_ micros: Int64) -> OCPIDateTime {
        let s = micros >= 0 ? micros / 1_000_000 : -((-micros + 999_999) / 1_000_000)
        return OCPIDateTime(seconds: s, nanoseconds: Int32(micros - s * 1_000_000) * 1000)
    }

    private func count(_ rows: @autoclosure @Sendable () async throws -> PostgresRowSequence) async throws -> Int {
        for try await n in try await rows().decode(Int64.self) { return Int(n) }
        throw MissingRow("a count")
    }
}
