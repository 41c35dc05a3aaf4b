import Foundation
import Hummingbird
import OCPI
import OCPP
import Storage

/// OCPI 2.1.1 for the partners still on it: the details, and the locations and tariffs Sender modules in 2.1.1's
/// shapes (tokens, sessions and cdrs: `OCPIController+211Sessions`). The same data as 2.2.1, rendered as 2.2.1 and then reshaped (`OCPI211`), paged the same way.
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
        let endpoints = [ModuleID.credentials, .locations, .tariffs, .tokens, .sessions, .cdrs, .commands].map { Endpoint(identifier: $0.rawValue, role: nil, url: moduleURL(.v211, $0.rawValue)) }
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
        // 2.1.1 has no `publish` to say a location is not for drivers: such a location is not listed.
        let result = try await catalog.locations(page, publishedOnly: true)
        return try reply211(LocationMapper.json(result.items), request: request, partner: partner,
                            headers: pageHeaders(page, result, path: "locations", root: moduleURL(.v211, ""))) { list in
            guard case .array(let items) = list else { return list }
            return .array(items.map(OCPI211.location))
        }
    }

    @Sendable func getLocation211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        return try reply211(LocationMapper.json(try await requirePublished211(context)), request: request, partner: partner, OCPI211.location)
    }

    /// The location the URL names, if it is published (2.1.1 lists no other).
    func requirePublished211(_ context: AdminContext) async throws -> CatalogRepository.LocationView {
        let location = try await requireLocation(context)
        guard (try? location.site.publish) == true else { throw OCPIError(.notFound, .unknownLocation, "no location '\(location.id.prefix(36))'") }
        return location
    }

    @Sendable func getEVSE211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        _ = try await requirePublished211(context)
        let evse = OCPI211.evse(try JSONParser.parse(LocationMapper.json(try await requireEVSE(context))))
        guard case .array(let connectors)? = evse["connectors"], !connectors.isEmpty else {
            throw OCPIError(.notFound, .unknownLocation, "this EVSE has no connector OCPI 2.1.1 can describe")
        }
        return OCPIReply.envelope(json: evse.serialized, request: request, routing: routing(partner))
    }

    @Sendable func getConnector211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        _ = try await requirePublished211(context)
        let evse = try await requireEVSE(context)
        let id = try Self.parameter(context, "connector")
        guard let connector = evse.connectors.first(where: { String($0.id) == id }) else {
            throw OCPIError(.notFound, .unknownLocation, "no connector '\(id.prefix(36))' at EVSE '\(evse.uid)'")
        }
        let raw = try JSONParser.parse(LocationMapper.json(connector))
        guard (raw["standard"]?.stringValue).map(OCPI211.standards.contains) ?? false, (raw["power_type"]?.stringValue).map(OCPI211.powerTypes.contains) ?? false else {
            throw OCPIError(.notFound, .unknownLocation, "connector '\(connector.id)' is of a kind OCPI 2.1.1 cannot describe")
        }
        return OCPIReply.envelope(json: OCPI211.connector(raw).serialized, request: request, routing: routing(partner))
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
            return .array(items.compactMap { OCPI211.tariff($0) })
        }
    }
}

/// 2.2.1 objects reshaped to 2.1.1 (research notes §15): the fields 2.1.1 lacks dropped, the renamed ones renamed,
/// and enum values 2.1.1 does not know left out or mapped to its nearest.
enum OCPI211 {
    static let capabilities: Set<String> = ["CHARGING_PROFILE_CAPABLE", "CREDIT_CARD_PAYABLE", "REMOTE_START_STOP_CAPABLE", "RESERVABLE", "RFID_READER", "UNLOCK_CAPABLE"]
    static let facilities: Set<String> = [
        "HOTEL", "RESTAURANT", "CAFE", "MALL", "SUPERMARKET", "SPORT", "RECREATION_AREA", "NATURE", "MUSEUM", "BUS_STOP", "TAXI_STAND",
        "TRAIN_STATION", "AIRPORT", "CARPOOL_PARKING", "FUEL_STATION", "WIFI",
    ]
    static let standards: Set<String> = Set(["CHADEMO", "IEC_60309_2_single_16", "IEC_60309_2_three_16", "IEC_60309_2_three_32", "IEC_60309_2_three_64",
        "IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2", "IEC_62196_T2_COMBO", "IEC_62196_T3A", "IEC_62196_T3C", "TESLA_R", "TESLA_S"]
        + "ABCDEFGHIJKL".map { "DOMESTIC_\($0)" })
    static let powerTypes: Set<String> = ["AC_1_PHASE", "AC_3_PHASE", "DC"]

    /// 2.1.1 coordinates have exactly 6 decimals (2.2 allows 5 to 7).
    static func coordinates(_ v: JSONValue?) -> JSONValue? {
        guard case .object(var o)? = v else { return v }
        for key in ["latitude", "longitude"] {
            // Within ±180 with 6 decimals a Double holds the value exactly enough for %.6f.
            guard let text = o[key]?.stringValue, let d = Decimal(string: text) else { continue }
            o[key] = .string(String(format: "%.6f", NSDecimalNumber(decimal: d.rounded(6, .plain)).doubleValue))
        }
        return .object(o)
    }

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
        o["state"] = nil
        // Required on 2.1.1 (optional since 2.2): a site without one says so with an empty one.
        if o["postal_code"] == nil || o["postal_code"] == .null { o["postal_code"] = .string("") }
        o["coordinates"] = coordinates(o["coordinates"])
        if case .array(let related) = o["related_locations"] { o["related_locations"] = .array(related.map { coordinates($0) ?? $0 }) }
        if case .array(let list) = o["facilities"] { o["facilities"] = .array(list.filter { $0.stringValue.map(facilities.contains) ?? false }) }
        if case .object(var mix) = o["energy_mix"], case .array(let impacts) = mix["environ_impact"] {
            // 2.1.1 names the impact's category `source`.
            mix["environ_impact"] = .array(impacts.map { impact in
                guard case .object(var i) = impact else { return impact }
                if let category = i.removeValue(forKey: "category") { i["source"] = category }
                return .object(i)
            })
            o["energy_mix"] = .object(mix)
        }
        // An EVSE whose connectors 2.1.1 cannot describe at all is left out (2.1.1 needs at least one).
        if case .array(let evses) = o["evses"] {
            o["evses"] = .array(evses.map(evse).filter { if case .array(let c)? = $0["connectors"] { !c.isEmpty } else { true } })
        }
        return .object(o)
    }

    static func evse(_ v: JSONValue) -> JSONValue {
        guard case .object(var o) = v else { return v }
        if case .array(let caps) = o["capabilities"] { o["capabilities"] = .array(caps.filter { $0.stringValue.map(capabilities.contains) ?? false }) }
        o["coordinates"] = coordinates(o["coordinates"])
        // A connector of a standard or power type 2.1.1 does not have is left out.
        if case .array(let connectors) = o["connectors"] {
            o["connectors"] = .array(connectors.filter { c in
                (c["standard"]?.stringValue).map(standards.contains) ?? false && (c["power_type"]?.stringValue).map(powerTypes.contains) ?? false
            }.map(connector))
        }
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

    /// Nil when 2.1.1 cannot carry the tariff: outside its validity (2.1.1 has no validity window, so such a tariff
    /// would look current), or with no element left once those with restrictions 2.1.1 lacks are left out (an element
    /// for reservations only, or by current, would apply to everything on 2.1.1).
    /// `now` nil: the tariff as a CDR was priced by it, whatever its window says now.
    static func tariff(_ v: JSONValue, now: Date? = Date()) -> JSONValue? {
        guard case .object(var o) = v else { return v }
        if let now, let start = o["start_date_time"]?.stringValue.flatMap(OCPIDateTime.init(string:)), start.date > now { return nil }
        if let now, let end = o["end_date_time"]?.stringValue.flatMap(OCPIDateTime.init(string:)), end.date <= now { return nil }
        for key in ["country_code", "party_id", "type", "min_price", "max_price", "start_date_time", "end_date_time"] { o[key] = nil }
        guard case .array(let elements) = o["elements"] else { return .object(o) }
        let kept: [JSONValue] = elements.compactMap { element in
            guard case .object(var e) = element else { return element }
            if case .object(let r) = e["restrictions"], ["reservation", "min_current", "max_current"].contains(where: { r[$0] != nil && r[$0] != .null }) {
                return nil
            }
            if case .array(let components) = e["price_components"] {
                e["price_components"] = .array(components.map { c in
                    guard case .object(var pc) = c else { return c }
                    pc["vat"] = nil
                    return .object(pc)
                })
            }
            return .object(e)
        }
        guard !kept.isEmpty else { return nil }
        o["elements"] = .array(kept)
        return .object(o)
    }
}
