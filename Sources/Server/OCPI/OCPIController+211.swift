import Foundation
import Hummingbird
import OCPI
import OCPP
import Storage

/// OCPI 2.1.1 for the partners still on it: the details, and the locations and tariffs Sender modules in 2.1.1's
/// shapes. The same data as 2.2.1, rendered as 2.2.1 and then reshaped (`OCPI211`), paged the same way.
/// Credentials are served by the version-neutral handlers.
extension OCPIController {
    func add211Routes(to ocpi: RouterGroup<AdminContext>) {
        ocpi.get("2.1.1", use: details211)
        ocpi.get("2.1.1/locations", use: listLocations211)
        ocpi.get("2.1.1/locations/{location}", use: getLocation211)
        ocpi.get("2.1.1/locations/{location}/{evse}", use: getEVSE211)
        ocpi.get("2.1.1/locations/{location}/{evse}/{connector}", use: getConnector211)
        ocpi.get("2.1.1/tariffs", use: listTariffs211)
    }

    @Sendable func details211(_ request: Request, context: AdminContext) async throws -> Response {
        _ = try await caller(request)
        let endpoints = [ModuleID.credentials, .locations, .tariffs].map { Endpoint(identifier: $0.rawValue, role: nil, url: moduleURL(.v211, $0.rawValue)) }
        return OCPIReply.envelope(VersionDetails(version: OCPIVersion.v211.rawValue, endpoints: endpoints), request: request)
    }

    /// `json` (2.2.1 text we made) reshaped to 2.1.1 by `reshape`.
    func reply211(_ json: String, request: Request, partner: PartnerRepository.Partner, headers: HTTPFields = [:], _ reshape: (JSONValue) -> JSONValue) throws -> Response {
        let value = try JSONParser.parse(json)
        return OCPIReply.envelope(json: reshape(value).serialized, request: request, routing: routing(partner), headers: headers)
    }

    @Sendable func listLocations211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let page = try pageRequest(request)
        let result = try await catalog.locations(page)
        return try reply211(LocationMapper.json(result.items), request: request, partner: partner,
                            headers: pageHeaders(page, result, path: "locations", root: moduleURL(.v211, ""))) { list in
            guard case .array(let items) = list else { return list }
            return .array(items.map(OCPI211.location))
        }
    }

    @Sendable func getLocation211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        return try reply211(LocationMapper.json(try await requireLocation(context)), request: request, partner: partner, OCPI211.location)
    }

    @Sendable func getEVSE211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        return try reply211(LocationMapper.json(try await requireEVSE(context)), request: request, partner: partner, OCPI211.evse)
    }

    @Sendable func getConnector211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let evse = try await requireEVSE(context)
        let id = try Self.parameter(context, "connector")
        guard let connector = evse.connectors.first(where: { String($0.id) == id }) else {
            throw OCPIError(.notFound, .unknownLocation, "no connector '\(id.prefix(36))' at EVSE '\(evse.uid)'")
        }
        return try reply211(LocationMapper.json(connector), request: request, partner: partner, OCPI211.connector)
    }

    @Sendable func listTariffs211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let page = try pageRequest(request)
        let result = try await catalog.tariffs(page)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let json = String(decoding: try encoder.encode(result.items), as: UTF8.self)
        return try reply211(json, request: request, partner: partner, headers: pageHeaders(page, result, path: "tariffs", root: moduleURL(.v211, ""))) { list in
            guard case .array(let items) = list else { return list }
            return .array(items.map(OCPI211.tariff))
        }
    }
}

/// 2.2.1 objects reshaped to 2.1.1 (research notes §15): the fields 2.1.1 lacks dropped, the renamed ones renamed,
/// and enum values 2.1.1 does not know left out or mapped to its nearest.
enum OCPI211 {
    static let capabilities: Set<String> = ["CHARGING_PROFILE_CAPABLE", "CREDIT_CARD_PAYABLE", "REMOTE_START_STOP_CAPABLE", "RESERVABLE", "RFID_READER", "UNLOCK_CAPABLE"]

    static func location(_ v: JSONValue) -> JSONValue {
        guard case .object(var o) = v else { return v }
        let parking = o["parking_type"]?.stringValue
        for key in ["country_code", "party_id", "publish", "publish_allowed_to", "parking_type"] { o[key] = nil }
        let type: String = switch parking {
        case "ON_STREET", "PARKING_GARAGE", "UNDERGROUND_GARAGE", "PARKING_LOT": parking ?? "UNKNOWN"
        case nil: "UNKNOWN"
        default: "OTHER"
        }
        o["type"] = .string(type)
        if case .array(let evses) = o["evses"] { o["evses"] = .array(evses.map(evse)) }
        return .object(o)
    }

    static func evse(_ v: JSONValue) -> JSONValue {
        guard case .object(var o) = v else { return v }
        if case .array(let caps) = o["capabilities"] { o["capabilities"] = .array(caps.filter { $0.stringValue.map(capabilities.contains) ?? false }) }
        if case .array(let connectors) = o["connectors"] { o["connectors"] = .array(connectors.map(connector)) }
        return .object(o)
    }

    static func connector(_ v: JSONValue) -> JSONValue {
        guard case .object(var o) = v else { return v }
        o["voltage"] = o["max_voltage"]
        o["amperage"] = o["max_amperage"]
        if case .array(let ids) = o["tariff_ids"], let first = ids.first { o["tariff_id"] = first }
        for key in ["max_voltage", "max_amperage", "max_electric_power", "tariff_ids"] { o[key] = nil }
        return .object(o)
    }

    static func tariff(_ v: JSONValue) -> JSONValue {
        guard case .object(var o) = v else { return v }
        for key in ["country_code", "party_id", "type", "min_price", "max_price"] { o[key] = nil }
        if let start = o.removeValue(forKey: "start_date_time") { o["start_datetime"] = start }
        if let end = o.removeValue(forKey: "end_date_time") { o["end_datetime"] = end }
        if case .array(let elements) = o["elements"] {
            o["elements"] = .array(elements.map { element in
                guard case .object(var e) = element else { return element }
                if case .array(let components) = e["price_components"] {
                    e["price_components"] = .array(components.map { c in
                        guard case .object(var pc) = c else { return c }
                        pc["vat"] = nil
                        return .object(pc)
                    })
                }
                if case .object(var r) = e["restrictions"] {
                    for key in ["reservation", "min_current", "max_current"] { r[key] = nil }
                    e["restrictions"] = .object(r)
                }
                return .object(e)
            })
        }
        return .object(o)
    }
}
