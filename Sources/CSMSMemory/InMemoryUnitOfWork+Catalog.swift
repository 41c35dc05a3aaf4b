public import CSMS
public import Foundation
public import OCPI

/// The catalog's tables, keyed as PostgreSQL keys them: ids unique in any case, rows never deleted.
struct CatalogTables: Sendable {
    struct LocationRow: Sendable { var site: LocationSite; var lastUpdated: Date }
    struct EVSERow: Sendable {
        var placement: EVSEPlacement
        var removed: Bool
        var lastUpdated: Date
    }
    struct TariffRow: Sendable { var tariff: Tariff; var deleted: Bool; var lastUpdated: Date }

    /// By lower-cased id.
    var locations: [String: LocationRow] = [:]
    var evses: [String: EVSERow] = [:]
    var tariffs: [String: TariffRow] = [:]
    /// Roaming tokens by "CC PID lower(uid) TYPE".
    var ocpiTokens: [String: StoredToken] = [:]
    var realTimeAuthorizations: [RealTimeAuthorization] = []
    var clientInfo: [String: ClientInfo] = [:]

    static func tokenKey(_ k: RoamingTokenService.Key) -> String { "\(k.countryCode) \(k.partyId) \(k.uid.lowercased()) \(k.type.rawValue)" }
}

extension InMemoryUnitOfWork {
    private func catalog<T>(_ body: (inout CatalogTables, Tables) throws(DatabaseRejection) -> T) throws(DatabaseRejection) -> T {
        try mutate { t throws(DatabaseRejection) in
            var c = t.catalog
            defer { t.catalog = c }
            return try body(&c, t)
        }
    }

    public func upsertLocation(_ site: LocationSite, at: Date) async throws -> CatalogWrite {
        try catalog { c, _ throws(DatabaseRejection) in
            let key = site.id.lowercased()
            if let row = c.locations[key] {
                guard row.site != site else { return .unchanged }
                c.locations[key] = .init(site: site, lastUpdated: max(row.lastUpdated, at))
                return .updated
            }
            c.locations[key] = .init(site: site, lastUpdated: at)
            return .created
        }
    }

    public func locationId(matching id: String) async throws -> String? {
        try catalog { c, _ throws(DatabaseRejection) in c.locations[id.lowercased()]?.site.id }
    }

    public func evseUID(stationId: String, evseId: Int) async throws -> String? {
        try catalog { c, _ throws(DatabaseRejection) in
            c.evses.values.first { !$0.removed && $0.placement.stationId == stationId && $0.placement.evseId == evseId }?.placement.uid
        }
    }

    public func evseUIDExists(_ uid: String) async throws -> Bool {
        try catalog { c, _ throws(DatabaseRejection) in c.evses[uid.lowercased()] != nil }
    }

    public func upsertEVSE(_ p: EVSEPlacement, at: Date) async throws -> CatalogWrite {
        try catalog { c, t throws(DatabaseRejection) in
            guard t.stations[p.stationId] != nil else { throw Tables.missingStation("evses") }
            guard c.locations[p.locationId.lowercased()] != nil else {
                throw DatabaseRejection(.foreignKeyViolation, "insert or update on table \"evses\" violates foreign key constraint \"evses_location_id_fkey\"", at: "evses.location_id")
            }
            let key = p.uid.lowercased()
            let old = c.evses[key]
            var merged = p
            if let old { merged.connectors = old.placement.connectors.merging(p.connectors) { $1 } }
            if let old, old.placement == merged { return .unchanged }
            c.evses[key] = .init(placement: merged, removed: false, lastUpdated: max(old?.lastUpdated ?? at, at))
            for id in Set([p.locationId.lowercased(), old?.placement.locationId.lowercased()].compactMap { $0 }) {
                if let row = c.locations[id] { c.locations[id] = .init(site: row.site, lastUpdated: max(row.lastUpdated, at)) }
            }
            return old == nil ? .created : .updated
        }
    }

    public func existingTariffIds(_ ids: [String]) async throws -> Set<String> {
        try catalog { c, _ throws(DatabaseRejection) in
            Set(ids.map { $0.lowercased() }.filter { c.tariffs[$0].map { !$0.deleted } ?? false })
        }
    }

    public func upsertTariff(_ tariff: Tariff, at: Date) async throws -> CatalogWrite {
        try catalog { c, _ throws(DatabaseRejection) in
            let key = tariff.id.lowercased()
            var tariff = tariff
            if let row = c.tariffs[key] {
                tariff.id = row.tariff.id
                var same = row.tariff
                same.lastUpdated = tariff.lastUpdated
                guard row.deleted || same != tariff else { return .unchanged }
                c.tariffs[key] = .init(tariff: tariff, deleted: false, lastUpdated: max(row.lastUpdated, at))
                return .updated
            }
            c.tariffs[key] = .init(tariff: tariff, deleted: false, lastUpdated: at)
            return .created
        }
    }

    public func tariffInUse(id: String) async throws -> Bool {
        try catalog { c, _ throws(DatabaseRejection) in
            c.evses.values.contains { $0.placement.connectors.values.contains { $0.tariffIds.contains { $0.lowercased() == id.lowercased() } } }
        }
    }

    public func deleteTariff(id: String, at: Date) async throws -> Tariff? {
        try catalog { c, _ throws(DatabaseRejection) in
            let key = id.lowercased()
            guard let row = c.tariffs[key], !row.deleted else { return nil }
            c.tariffs[key] = .init(tariff: row.tariff, deleted: true, lastUpdated: max(row.lastUpdated, at))
            return row.tariff
        }
    }

    public func ocpiToken(_ key: RoamingTokenService.Key) async throws -> StoredToken? {
        try catalog { c, _ throws(DatabaseRejection) in c.ocpiTokens[CatalogTables.tokenKey(key)] }
    }

    public func upsertClientInfo(_ info: ClientInfo, partnerId: Int64) async throws -> CatalogWrite {
        try catalog { c, _ throws(DatabaseRejection) in
            let key = "\(partnerId) \(info.countryCode) \(info.partyId)"
            guard let stored = c.clientInfo[key] else {
                c.clientInfo[key] = info
                return .created
            }
            guard stored != info else { return .unchanged }
            c.clientInfo[key] = info
            return .updated
        }
    }

    /// Kept; the in-memory token rules read only Voltaic's own tokens, so no answer changes a decision here.
    public func recordRealTimeAuthorization(_ answer: RealTimeAuthorization) async throws {
        try catalog { c, _ throws(DatabaseRejection) in c.realTimeAuthorizations.append(answer) }
    }

    public func upsertOCPIToken(_ token: Token, partnerId: Int64) async throws -> CatalogWrite {
        try catalog { c, _ throws(DatabaseRejection) in
            let key = CatalogTables.tokenKey(RoamingTokenService.Key(countryCode: token.countryCode, partyId: token.partyId, uid: token.uid, type: token.type))
            var token = token
            if let stored = c.ocpiTokens[key] {
                token.uid = stored.token.uid
                guard stored.token != token else { return .unchanged }
                c.ocpiTokens[key] = StoredToken(token: token, partnerId: stored.partnerId)
                return .updated
            }
            c.ocpiTokens[key] = StoredToken(token: token, partnerId: partnerId)
            return .created
        }
    }
}
