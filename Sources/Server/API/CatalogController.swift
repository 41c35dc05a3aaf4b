public import CSMS
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OCPI
import OCPP
import Storage

/// `/api/v1` locations, EVSE static data and tariffs: the catalog that OCPI publishes. Bodies use OCPI's own
/// field names, and every write goes through `CatalogService` in one transaction with its outbox event.
struct CatalogController: Sendable {
    let catalog: CatalogRepository
    let runner: any TransactionRunner
    let service = CatalogService()

    func addRoutes(to group: RouterGroup<AdminContext>) {
        group.get("locations", use: listLocations)
        group.get("locations/{id}", use: getLocation)
        group.put("locations/{id}", use: putLocation)
        group.put("stations/{id}/evses/{evse}", use: putEVSE)
        group.get("tariffs", use: listTariffs)
        group.get("tariffs/{id}", use: getTariff)
        group.put("tariffs/{id}", use: putTariff)
        group.delete("tariffs/{id}", use: deleteTariff)
    }

    /// An OCPI object (or a list of them) as the admin API answers it.
    struct Body<T: Encodable & Sendable>: ResponseEncodable, Sendable {
        var value: T
        func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
    }

    struct Listing<T: Encodable & Sendable>: Encodable, Sendable {
        var items: [T]
        var total: Int
        var offset: Int
        var limit: Int
    }

    // MARK: Locations

    @Sendable func listLocations(_ request: Request, context: AdminContext) async throws -> Body<Listing<Location>> {
        let page = try Self.page(request)
        let result = try await catalog.locations(page)
        return Body(value: Listing(items: try result.items.map(LocationMapper.location), total: result.total, offset: page.offset, limit: page.limit))
    }

    @Sendable func getLocation(_ request: Request, context: AdminContext) async throws -> Body<Location> {
        let id = try context.parameters.require("id")
        guard let view = try await catalog.location(id: id) else { throw Problem(.notFound, "No such location", "no location '\(Problem.bounded(id))'") }
        return Body(value: try LocationMapper.location(view))
    }

    @Sendable func putLocation(_ request: Request, context: AdminContext) async throws -> EditedResponse<Body<Location>> {
        let id = try context.parameters.require("id")
        context.audit.set(action: "PutLocation", target: id)
        let site = try await Self.decode(LocationSite.self, request, context, filling: ["id": .string(id)])
        guard site.id.lowercased() == id.lowercased() else {
            throw Problem(.unprocessableContent, "Invalid field", "id: must equal the id in the URL ('\(Problem.bounded(id))')")
        }
        let (service, now) = (service, Date())
        let write = try await runner.perform { uow in try await service.putLocation(uow, site, now: now) }
        guard let view = try await catalog.location(id: id) else { throw Problem(.notFound, "No such location", "no location '\(Problem.bounded(id))'") }
        return EditedResponse(status: write == .created ? .created : .ok, response: Body(value: try LocationMapper.location(view)))
    }

    // MARK: EVSEs

    @Sendable func putEVSE(_ request: Request, context: AdminContext) async throws -> EditedResponse<Body<EVSE>> {
        let stationId = try context.parameters.require("id")
        let rawEVSE = try context.parameters.require("evse")
        guard let evseId = Int(rawEVSE), (1...999).contains(evseId) else {
            throw Problem(.badRequest, "Invalid EVSE id", "an OCPP EVSE id is 1 to 999 (a 1.6 connector n is EVSE n)")
        }
        context.audit.set(action: "PutEVSE", target: "\(stationId)/\(evseId)")
        let body = try await Self.decode(EVSEInput.self, request, context)
        let placement = body.placement(stationId: stationId, evseId: evseId)
        let (service, now) = (service, Date())
        let write: CatalogWrite
        do {
            write = try await runner.perform { uow in try await service.putEVSE(uow, placement, now: now) }
        } catch let refusal as CatalogRefusal {
            throw Self.problem(refusal)
        }
        guard let view = try await catalog.location(id: placement.locationId), let evse = view.evses.first(where: { $0.stationId == stationId && $0.evseId == evseId && !$0.removed }) else {
            throw Problem(.notFound, "No such EVSE", "the EVSE was not found after writing it")
        }
        return EditedResponse(status: write == .created ? .created : .ok, response: Body(value: try LocationMapper.evse(evse)))
    }

    public static func problem(_ refusal: CatalogRefusal) -> Problem {
        switch refusal {
        case .unknownStation: Problem(.notFound, "No such station", refusal.description)
        case .unknownLocation, .unknownTariffs, .invalid: Problem(.unprocessableContent, "Invalid field", refusal.description)
        case .decommissionedStation, .uidTaken, .uidChanged, .tariffInUse: Problem(.conflict, "Conflict", refusal.description)
        }
    }

    // MARK: Tariffs

    @Sendable func listTariffs(_ request: Request, context: AdminContext) async throws -> Body<Listing<Tariff>> {
        let page = try Self.page(request)
        let result = try await catalog.tariffs(page)
        return Body(value: Listing(items: result.items, total: result.total, offset: page.offset, limit: page.limit))
    }

    @Sendable func getTariff(_ request: Request, context: AdminContext) async throws -> Body<Tariff> {
        let id = try context.parameters.require("id")
        guard let t = try await catalog.tariff(id: id) else { throw Problem(.notFound, "No such tariff", "no tariff '\(Problem.bounded(id))'") }
        return Body(value: t)
    }

    @Sendable func putTariff(_ request: Request, context: AdminContext) async throws -> EditedResponse<Body<Tariff>> {
        let id = try context.parameters.require("id")
        context.audit.set(action: "PutTariff", target: id)
        // last_updated is the server's to set; a body may leave it out.
        let tariff = try await Self.decode(Tariff.self, request, context, filling: ["id": .string(id), "last_updated": .string(OCPIDateTime(Date()).description)])
        guard tariff.id.lowercased() == id.lowercased() else {
            throw Problem(.unprocessableContent, "Invalid field", "id: must equal the id in the URL ('\(Problem.bounded(id))')")
        }
        let (service, now) = (service, Date())
        let write = try await runner.perform { uow in try await service.putTariff(uow, tariff, now: now) }
        guard let stored = try await catalog.tariff(id: id) else { throw Problem(.notFound, "No such tariff", "no tariff '\(Problem.bounded(id))'") }
        return EditedResponse(status: write == .created ? .created : .ok, response: Body(value: stored))
    }

    @Sendable func deleteTariff(_ request: Request, context: AdminContext) async throws -> Response {
        let id = try context.parameters.require("id")
        context.audit.set(action: "DeleteTariff", target: id)
        let (service, now) = (service, Date())
        let gone: Tariff?
        do {
            gone = try await runner.perform { uow in try await service.deleteTariff(uow, id: id, now: now) }
        } catch let refusal as CatalogRefusal {
            throw Self.problem(refusal)
        }
        guard gone != nil else { throw Problem(.notFound, "No such tariff", "no tariff '\(Problem.bounded(id))'") }
        return Response(status: .noContent)
    }

    // MARK: Helpers

    /// `offset` and `limit` (at most 1,000) of an admin list.
    static func page(_ request: Request) throws -> PageRequest {
        var query: [String: String] = [:]
        for (k, v) in request.uri.queryParameters { query[String(k)] = String(v) }
        do {
            return try PageRequest(query: query, maxLimit: 1000)
        } catch {
            throw Problem(.badRequest, "Invalid query parameter", error.description)
        }
    }

    /// Decodes an OCPI-shaped body (`OCPIBody`). Not JSON is 400; a field OCPI's rules refuse is 422, naming it.
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: AdminContext, filling: [String: JSONValue] = [:]) async throws -> T {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        do {
            return try OCPIBody.decode(T.self, Array(buffer.readableBytesView), filling: filling)
        } catch .notJSON {
            throw Problem(.badRequest, "Invalid JSON", "the body is not valid JSON")
        } catch .notAnObject {
            throw Problem(.unprocessableContent, "Invalid body", "the body must be a JSON object")
        } catch .field(let e) {
            throw Problem(.unprocessableContent, "Invalid field", e.description)
        }
    }
}

/// The admin body of an EVSE (API and CLI): where it stands, its uid (chosen once), OCPI's static EVSE fields,
/// and its connectors by OCPP connector id with OCPI's static Connector fields.
public struct EVSEInput: Decodable, Sendable {
    struct ConnectorBody: Decodable {
        var id: Int
        var spec: ConnectorSpec

        enum CodingKeys: String, CodingKey { case id }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(.id, in: 1...99)
            spec = try ConnectorSpec(from: decoder)
        }
    }

    var locationId: String
    var uid: String?
    var spec: EVSESpec
    var connectors: [Int: ConnectorSpec]

    enum CodingKeys: String, CodingKey { case locationId = "location_id", uid, connectors }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        locationId = try c.decode(.locationId, ciString: 36)
        uid = c.contains(.uid) && (try? c.decodeNil(forKey: .uid)) == false ? try c.decode(.uid, objectId: ()) : nil
        spec = try EVSESpec(from: decoder)
        let list = try c.decode([ConnectorBody].self, forKey: .connectors)
        guard (1...16).contains(list.count) else { throw OCPIFieldError(c.codingPath + [CodingKeys.connectors], "must hold 1 to 16 connectors") }
        var byId: [Int: ConnectorSpec] = [:]
        for (i, k) in list.enumerated() {
            guard byId.updateValue(k.spec, forKey: k.id) == nil else {
                throw OCPIFieldError(c.codingPath + [CodingKeys.connectors, OCPIIndexKey(i), ConnectorBody.CodingKeys.id], "repeats connector \(k.id)")
            }
        }
        connectors = byId
    }

    /// The placement of EVSE `evseId` of station `stationId`; the uid defaults to "<station>-<evse>".
    public func placement(stationId: String, evseId: Int) -> EVSEPlacement {
        EVSEPlacement(
            stationId: stationId, evseId: evseId, locationId: locationId,
            uid: uid ?? EVSEPlacement.defaultUID(stationId: stationId, evseId: evseId), spec: spec, connectors: connectors
        )
    }
}
