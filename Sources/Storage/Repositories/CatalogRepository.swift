public import CSMS
public import Foundation
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

    public struct LocationView: Sendable {
        public var site: LocationSite
        public var lastUpdated: OCPIDateTime
        public var evses: [EVSEView]
    }

    public struct EVSEView: Sendable {
        public var uid: String
        public var stationId: String
        public var evseId: Int
        public var spec: EVSESpec
        public var removed: Bool
        public var stationOnline: Bool
        public var stationDecommissioned: Bool
        /// The OCPP status of each connector (by OCPP connector id), as last reported.
        public var connectorStatuses: [Int: String]
        /// The status the station reported for itself (connector 0), if any.
        public var stationStatus: String?
        public var lastUpdated: OCPIDateTime
        public var connectors: [ConnectorView]
    }

    public struct ConnectorView: Sendable {
        public var id: Int
        public var spec: ConnectorSpec
        public var lastUpdated: OCPIDateTime
    }

    public struct Page<Item: Sendable>: Sendable {
        /// Every object that matches the filters, whatever the offset and limit.
        public var total: Int
        public var items: [Item]
    }

    // MARK: Locations

    /// A page of locations. `publishedOnly` leaves out those with `publish` false (the open-data feed).
    public func locations(_ page: PageRequest, publishedOnly: Bool = false) async throws -> Page<LocationView> {
        let (from, to) = (page.dateFrom.map(Self.micros), page.dateTo.map(Self.micros))
        let total = try await count(
            client.query(
                """
                SELECT count(*)::int8 FROM locations
                WHERE (\(from)::int8 IS NULL OR last_updated >= timestamptz 'epoch' + \(from)::int8 * interval '1 microsecond')
                  AND (\(to)::int8 IS NULL OR last_updated < timestamptz 'epoch' + \(to)::int8 * interval '1 microsecond')
                  AND (publish OR NOT \(publishedOnly))
                """,
                logger: logger
            )
        )
        let afterTime = page.after.map { Self.micros($0.lastUpdated) }
        let afterId = page.after?.id
        let rows = try await client.query(
            """
            SELECT id, body::text, (extract(epoch FROM last_updated) * 1000000)::int8 FROM locations
            WHERE (\(from)::int8 IS NULL OR last_updated >= timestamptz 'epoch' + \(from)::int8 * interval '1 microsecond')
              AND (\(to)::int8 IS NULL OR last_updated < timestamptz 'epoch' + \(to)::int8 * interval '1 microsecond')
              AND (publish OR NOT \(publishedOnly))
              AND (\(afterTime)::int8 IS NULL OR (last_updated, id) > (timestamptz 'epoch' + \(afterTime)::int8 * interval '1 microsecond', \(afterId)::text))
            ORDER BY last_updated, id
            OFFSET \(page.after == nil ? page.offset : 0) LIMIT \(page.limit)
            """,
            logger: logger
        )
        var sites: [(String, LocationSite, OCPIDateTime)] = []
        for try await (id, body, updated) in rows.decode((String, String, Int64).self) {
            sites.append((id, try CatalogJSON.decode(LocationSite.self, body), Self.time(updated)))
        }
        let evses = try await evses(locationIds: sites.map(\.0))
        return Page(total: total, items: sites.map { LocationView(site: $0.1, lastUpdated: $0.2, evses: evses[$0.0] ?? []) })
    }

    /// One location by id, in any case.
    public func location(id: String) async throws -> LocationView? {
        let rows = try await client.query(
            "SELECT id, body::text, (extract(epoch FROM last_updated) * 1000000)::int8 FROM locations WHERE lower(id) = lower(\(id))", logger: logger
        )
        for try await (id, body, updated) in rows.decode((String, String, Int64).self) {
            let evses = try await evses(locationIds: [id])
            return LocationView(site: try CatalogJSON.decode(LocationSite.self, body), lastUpdated: Self.time(updated), evses: evses[id] ?? [])
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
                   (SELECT status FROM connectors z WHERE z.station_id = e.station_id AND z.evse_id = 0 AND z.connector_id = 0),
                   c.connector_id, c.body::text, (extract(epoch FROM c.last_updated) * 1000000)::int8, k.status
            FROM evses e
            JOIN stations s ON s.id = e.station_id
            JOIN evse_connectors c ON c.evse_uid = e.uid
            LEFT JOIN connectors k ON k.station_id = e.station_id AND k.evse_id = e.evse_id AND k.connector_id = c.connector_id
            WHERE e.location_id = ANY(\(locationIds)::text[])
            ORDER BY e.location_id, e.uid, c.connector_id
            """,
            logger: logger
        )
        var out: [String: [EVSEView]] = [:]
        for try await row in rows {
            let (location, uid, station, evseId, body, removed, online, decommissioned, updated, stationStatus, connectorId, connectorBody, connectorUpdated, status) =
                try row.decode((String, String, String, Int, String, Bool, Bool, Bool, Int64, String?, Int, String, Int64, String?).self)
            let connector = ConnectorView(id: connectorId, spec: try CatalogJSON.decode(ConnectorSpec.self, connectorBody), lastUpdated: Self.time(connectorUpdated))
            if var list = out[location], var last = list.last, last.uid == uid {
                last.connectors.append(connector)
                if let status { last.connectorStatuses[connectorId] = status }
                list[list.count - 1] = last
                out[location] = list
            } else {
                let view = EVSEView(
                    uid: uid, stationId: station, evseId: evseId, spec: try CatalogJSON.decode(EVSESpec.self, body), removed: removed,
                    stationOnline: online, stationDecommissioned: decommissioned, connectorStatuses: status.map { [connectorId: $0] } ?? [:],
                    stationStatus: stationStatus, lastUpdated: Self.time(updated), connectors: [connector]
                )
                out[location, default: []].append(view)
            }
        }
        return out
    }

    // MARK: Tariffs

    /// A page of live tariffs.
    public func tariffs(_ page: PageRequest) async throws -> Page<Tariff> {
        let (from, to) = (page.dateFrom.map(Self.micros), page.dateTo.map(Self.micros))
        let total = try await count(
            client.query(
                """
                SELECT count(*)::int8 FROM tariffs WHERE deleted_at IS NULL
                  AND (\(from)::int8 IS NULL OR last_updated >= timestamptz 'epoch' + \(from)::int8 * interval '1 microsecond')
                  AND (\(to)::int8 IS NULL OR last_updated < timestamptz 'epoch' + \(to)::int8 * interval '1 microsecond')
                """,
                logger: logger
            )
        )
        let afterTime = page.after.map { Self.micros($0.lastUpdated) }
        let afterId = page.after?.id
        let rows = try await client.query(
            """
            SELECT body::text, (extract(epoch FROM last_updated) * 1000000)::int8 FROM tariffs WHERE deleted_at IS NULL
              AND (\(from)::int8 IS NULL OR last_updated >= timestamptz 'epoch' + \(from)::int8 * interval '1 microsecond')
              AND (\(to)::int8 IS NULL OR last_updated < timestamptz 'epoch' + \(to)::int8 * interval '1 microsecond')
              AND (\(afterTime)::int8 IS NULL OR (last_updated, id) > (timestamptz 'epoch' + \(afterTime)::int8 * interval '1 microsecond', \(afterId)::text))
            ORDER BY last_updated, id
            OFFSET \(page.after == nil ? page.offset : 0) LIMIT \(page.limit)
            """,
            logger: logger
        )
        var items: [Tariff] = []
        for try await (body, updated) in rows.decode((String, Int64).self) {
            var t = try CatalogJSON.decode(Tariff.self, body)
            t.lastUpdated = Self.time(updated)
            items.append(t)
        }
        return Page(total: total, items: items)
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


    static func micros(_ t: OCPIDateTime) -> Int64 { t.seconds * 1_000_000 + Int64(t.nanoseconds / 1000) }

    static func time(_ micros: Int64) -> OCPIDateTime {
        let s = micros >= 0 ? micros / 1_000_000 : -((-micros + 999_999) / 1_000_000)
        return OCPIDateTime(seconds: s, nanoseconds: Int32(micros - s * 1_000_000) * 1000)
    }

    private func count(_ rows: PostgresRowSequence) async throws -> Int {
        for try await n in rows.decode(Int64.self) { return Int(n) }
        throw MissingRow("a count")
    }
}
