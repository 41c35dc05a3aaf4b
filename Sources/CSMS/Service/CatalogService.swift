public import Foundation
public import OCPI
import OCPP

/// The one write path of the catalog: locations, the EVSEs placed at them, and tariffs. The admin API and the
/// CLI call it inside the transaction runner; each change writes its outbox event in the same transaction,
/// for the OCPI push worker.
public struct CatalogService: Sendable {
    public init() {}

    /// Creates or replaces a location's own fields. The id's case is the one first stored.
    public func putLocation(_ uow: any UnitOfWork, _ site: LocationSite, now: Date) async throws -> CatalogWrite {
        var site = site
        if let stored = try await uow.locationId(matching: site.id) { site.id = stored }
        let write = try await uow.upsertLocation(site, at: now)
        if write != .unchanged { try await uow.appendOutbox(topic: "location.updated", payload: .object(["location_id": .string(site.id)])) }
        return write
    }

    /// Places an EVSE of a station at a location, or updates what is known of it. The uid is chosen once.
    public func putEVSE(_ uow: any UnitOfWork, _ placement: EVSEPlacement, now: Date) async throws -> CatalogWrite {
        var placement = placement
        guard let station = try await uow.station(id: placement.stationId) else { throw CatalogRefusal.unknownStation(placement.stationId) }
        guard station.decommissionedAt == nil else { throw CatalogRefusal.decommissionedStation(station.id) }
        guard let location = try await uow.locationId(matching: placement.locationId) else { throw CatalogRefusal.unknownLocation(placement.locationId) }
        placement.locationId = location
        guard OCPIString.isObjectId(placement.uid) else { throw CatalogRefusal.invalid(field: "uid", reason: OCPIString.objectIdRule + " (give one when the station id is too long for <station>-<evse>)") }
        guard !placement.connectors.isEmpty else { throw CatalogRefusal.invalid(field: "connectors", reason: "must hold at least one connector") }
        if let current = try await uow.evseUID(stationId: placement.stationId, evseId: placement.evseId) {
            guard current.lowercased() == placement.uid.lowercased() else { throw CatalogRefusal.uidChanged(from: current, to: placement.uid) }
            placement.uid = current
        } else if try await uow.evseUIDExists(placement.uid) {
            throw CatalogRefusal.uidTaken(placement.uid)
        }
        let named = Array(Set(placement.connectors.values.flatMap(\.tariffIds))).sorted()
        if !named.isEmpty {
            let known = try await uow.existingTariffIds(named)
            let missing = named.filter { !known.contains($0.lowercased()) }
            guard missing.isEmpty else { throw CatalogRefusal.unknownTariffs(missing) }
        }
        let write = try await uow.upsertEVSE(placement, at: now)
        if write != .unchanged { try await uow.appendOutbox(
            topic: "evse.updated", payload: .object(["location_id": .string(placement.locationId), "evse_uid": .string(placement.uid)])
        ) }
        return write
    }

    /// Creates or replaces a tariff; its `last_updated` becomes `now`.
    public func putTariff(_ uow: any UnitOfWork, _ tariff: Tariff, now: Date) async throws -> CatalogWrite {
        var tariff = tariff
        tariff.lastUpdated = OCPIDateTime(now)
        let write = try await uow.upsertTariff(tariff, at: now)
        if write != .unchanged { try await uow.appendOutbox(topic: "tariff.updated", payload: Self.tariffKey(tariff)) }
        return write
    }

    /// Deletes a tariff (its row stays, for the sessions priced by it); nil when there is no such live tariff.
    /// A tariff that connectors still name is refused (`tariffInUse`).
    public func deleteTariff(_ uow: any UnitOfWork, id: String, now: Date) async throws -> Tariff? {
        guard try await !uow.tariffInUse(id: id) else { throw CatalogRefusal.tariffInUse(id) }
        guard let gone = try await uow.deleteTariff(id: id, at: now) else { return nil }
        try await uow.appendOutbox(topic: "tariff.deleted", payload: Self.tariffKey(gone))
        return gone
    }

    static func tariffKey(_ t: Tariff) -> JSONValue {
        .object(["country_code": .string(t.countryCode), "party_id": .string(t.partyId), "id": .string(t.id)])
    }
}
