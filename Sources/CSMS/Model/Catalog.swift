import Foundation
public import OCPI

/// An EVSE of a station placed at a location, with what the operator says about it and its connectors.
public struct EVSEPlacement: Hashable, Sendable {
    public var stationId: String
    /// The OCPP EVSE (a 1.6 connector n is EVSE n).
    public var evseId: Int
    public var locationId: String
    /// The stable OCPI uid; chosen once, never changed, never reused.
    public var uid: String
    public var spec: EVSESpec
    /// By OCPP connector id (1 for a 1.6 connector).
    public var connectors: [Int: ConnectorSpec]

    public init(stationId: String, evseId: Int, locationId: String, uid: String, spec: EVSESpec, connectors: [Int: ConnectorSpec]) {
        self.stationId = stationId
        self.evseId = evseId
        self.locationId = locationId
        self.uid = uid
        self.spec = spec
        self.connectors = connectors
    }

    /// The uid an EVSE gets when the operator names none: its station and OCPP EVSE, which never change.
    public static func defaultUID(stationId: String, evseId: Int) -> String { "\(stationId)-\(evseId)" }
}

/// Why the catalog refused a change.
public enum CatalogRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownLocation(String)
    case unknownStation(String)
    case decommissionedStation(String)
    /// Another EVSE holds (or once held) this uid.
    case uidTaken(String)
    /// The EVSE was placed before under another uid, which never changes.
    case uidChanged(from: String, to: String)
    case unknownTariffs([String])
    /// Connectors still name the tariff: deleting it would leave them pointing at nothing.
    case tariffInUse(String)
    case invalid(field: String, reason: String)

    public var description: String {
        switch self {
        case .unknownLocation(let id): "no location '\(id)'"
        case .unknownStation(let id): "no station '\(id)'"
        case .decommissionedStation(let id): "station '\(id)' is decommissioned"
        case .uidTaken(let uid): "the EVSE uid '\(uid)' belongs to another EVSE, now or in the past"
        case .uidChanged(let from, let to): "this EVSE's uid is '\(from)' and never changes (asked: '\(to)')"
        case .unknownTariffs(let ids): "no tariff \(ids.map { "'\($0)'" }.joined(separator: ", "))"
        case .tariffInUse(let id): "tariff '\(id)' is named by connectors; give them another tariff first"
        case .invalid(let field, let reason): "\(field): \(reason)"
        }
    }
}

/// What a catalog write did. An unchanged object (a replayed PUT) keeps its `last_updated` and makes no event.
public enum CatalogWrite: Sendable, Hashable {
    case created, updated, unchanged
}
