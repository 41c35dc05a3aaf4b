import OCPI
import Storage

/// The catalog's rows as OCPI objects: EVSE status from what the station reported (research §14.2).
enum LocationMapper {
    static func location(_ v: CatalogRepository.LocationView) -> Location {
        Location(site: v.site, evses: v.evses.map(evse), lastUpdated: v.lastUpdated)
    }

    static func evse(_ v: CatalogRepository.EVSEView) -> EVSE {
        EVSE(
            uid: v.uid, spec: v.spec, status: status(v),
            connectors: v.connectors.map { Connector(id: String($0.id), spec: $0.spec, lastUpdated: $0.lastUpdated) },
            lastUpdated: v.lastUpdated
        )
    }

    /// - decommissioned station, or EVSE taken out: REMOVED (never deleted);
    /// - station offline: UNKNOWN;
    /// - the station itself (connector 0) Unavailable or Faulted: that, for every EVSE;
    /// - otherwise from the connectors: any in use → CHARGING, else any Reserved → RESERVED, else any Available →
    ///   AVAILABLE, else any Unavailable → INOPERATIVE, else any Faulted → OUTOFORDER, else UNKNOWN.
    static func status(_ v: CatalogRepository.EVSEView) -> EVSEStatus {
        if v.removed || v.stationDecommissioned { return .removed }
        guard v.stationOnline else { return .unknown }
        switch v.stationStatus {
        case "Unavailable": return .inoperative
        case "Faulted": return .outOfOrder
        default: break
        }
        let statuses = Set(v.connectors.compactMap { v.connectorStatuses[$0.id] })
        // 1.6: Preparing … Finishing; 2.0.1: Occupied.
        if !statuses.isDisjoint(with: ["Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied"]) { return .charging }
        if statuses.contains("Reserved") { return .reserved }
        if statuses.contains("Available") { return .available }
        if statuses.contains("Unavailable") { return .inoperative }
        if statuses.contains("Faulted") { return .outOfOrder }
        return .unknown
    }
}
