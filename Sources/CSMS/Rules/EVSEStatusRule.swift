public import OCPI

/// An EVSE's OCPI status, from what its station reported (OCPP 1.6 ChargePointStatus or 2.0.1 ConnectorStatus):
/// - a decommissioned station, or an EVSE taken out: REMOVED (never deleted);
/// - an offline station: UNKNOWN (OCPI: "also used when offline");
/// - the station itself (connector 0) Unavailable or Faulted: that, for every EVSE;
/// - otherwise from the connectors: any in use (1.6 Preparing … Finishing, 2.0.1 Occupied) CHARGING, else any
///   Reserved RESERVED, else any Available AVAILABLE, else any Unavailable INOPERATIVE, else any Faulted
///   OUTOFORDER, else UNKNOWN (nothing reported yet).
public enum EVSEStatusRule {
    public static func status(removed: Bool, online: Bool, stationStatus: String?, connectorStatuses: some Sequence<String>) -> EVSEStatus {
        if removed { return .removed }
        guard online else { return .unknown }
        switch stationStatus {
        case "Unavailable": return .inoperative
        case "Faulted": return .outOfOrder
        default: break
        }
        let statuses = Set(connectorStatuses)
        if !statuses.isDisjoint(with: ["Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied"]) { return .charging }
        if statuses.contains("Reserved") { return .reserved }
        if statuses.contains("Available") { return .available }
        if statuses.contains("Unavailable") { return .inoperative }
        if statuses.contains("Faulted") { return .outOfOrder }
        return .unknown
    }
}
