import Foundation
import Hummingbird
import OCPI
import Storage

/// `/api/v1/ocpi/partners`: issue a token A for a roaming partner, list partners and their state, suspend,
/// resume and remove them.
struct PartnerController: Sendable {
    let partners: PartnerRepository
    /// Where partners find Voltaic's versions, for the answer that issues a token A.
    let versionsURL: String

    func addRoutes(to group: RouterGroup<AdminContext>) {
        group.post("ocpi/partners", use: create)
        group.get("ocpi/partners", use: list)
        group.get("ocpi/partners/{id}", use: get)
        group.post("ocpi/partners/{id}/suspend", use: suspend)
        group.post("ocpi/partners/{id}/resume", use: resume)
        group.delete("ocpi/partners/{id}", use: remove)
        group.get("ocpi/partners/{id}/clients", use: clients)
    }

    /// A partner as the API shows it: never its tokens.
    struct PartnerView: Codable, ResponseEncodable, Sendable {
        var id: Int64
        var name: String
        var state: PartnerRepository.State
        var version: String?
        var versionsUrl: String?
        var roles: [Role]
        var endpoints: [EndpointView]
        var createdAt: Date
        var updatedAt: Date
        /// Only in the answer that created the partner: token A, shown this once, with Voltaic's versions URL.
        var tokenA: String?
        var ourVersionsUrl: String?

        struct Role: Codable, Sendable {
            var role: String
            var countryCode: String
            var partyId: String
            var name: String
        }

        struct EndpointView: Codable, Sendable {
            var identifier: String
            var role: String?
            var url: String
        }

        init(_ p: PartnerRepository.Partner) {
            id = p.id
            name = p.name
            state = p.state
            version = p.version?.rawValue
            versionsUrl = p.versionsURL
            roles = p.roles.map { Role(role: $0.role.rawValue, countryCode: $0.countryCode, partyId: $0.partyId, name: $0.businessDetails.name) }
            endpoints = p.endpoints.map { EndpointView(identifier: $0.identifier, role: $0.role?.rawValue, url: $0.url) }
            createdAt = p.createdAt
            updatedAt = p.updatedAt
        }
    }

    struct ListOf: Codable, ResponseEncodable, Sendable { var items: [PartnerView] }

    struct NewPartner: Decodable { var name: String }

    @Sendable func create(_ request: Request, context: AdminContext) async throws -> EditedResponse<PartnerView> {
        let body = try await request.decode(as: NewPartner.self, context: context)
        let name = body.name
        guard OCPIString.isPartnerName(name) else {
            throw Problem(.unprocessableContent, "Invalid name", "name: 1 to 100 characters, no control characters")
        }
        context.audit.set(action: "CreateOCPIPartner", target: name)
        let token = Credentials.newToken()
        var view = PartnerView(try await partners.create(name: name, tokenA: token))
        view.tokenA = token
        view.ourVersionsUrl = versionsURL
        return EditedResponse(status: .created, headers: [.location: "/api/v1/ocpi/partners/\(view.id)"], response: view)
    }

    @Sendable func list(_ request: Request, context: AdminContext) async throws -> ListOf {
        ListOf(items: try await partners.partners().map(PartnerView.init))
    }

    @Sendable func get(_ request: Request, context: AdminContext) async throws -> PartnerView {
        let id = try Self.id(context)
        guard let p = try await partners.partner(id: id) else { throw Self.noSuch(id) }
        return PartnerView(p)
    }

    @Sendable func suspend(_ request: Request, context: AdminContext) async throws -> PartnerView {
        try await setSuspended(context, true)
    }

    @Sendable func resume(_ request: Request, context: AdminContext) async throws -> PartnerView {
        try await setSuspended(context, false)
    }

    private func setSuspended(_ context: AdminContext, _ suspended: Bool) async throws -> PartnerView {
        let id = try Self.id(context)
        context.audit.set(action: suspended ? "SuspendOCPIPartner" : "ResumeOCPIPartner", target: String(id))
        guard let p = try await partners.setSuspended(id: id, suspended) else {
            guard try await partners.partner(id: id) != nil else { throw Self.noSuch(id) }
            throw Problem(.conflict, "Not registered", "only a registered partner can be suspended or resumed")
        }
        return PartnerView(p)
    }

    @Sendable func remove(_ request: Request, context: AdminContext) async throws -> Response {
        let id = try Self.id(context)
        context.audit.set(action: "RemoveOCPIPartner", target: String(id))
        guard try await partners.remove(id: id) else { throw Self.noSuch(id) }
        return Response(status: .noContent)
    }

    struct ClientView: Codable, Sendable {
        var countryCode: String
        var partyId: String
        var role: String
        var status: String
        var lastUpdated: String
    }

    struct ClientList: Codable, ResponseEncodable, Sendable { var items: [ClientView] }

    /// What a hub partner said of the parties behind it (OCPI hubclientinfo).
    @Sendable func clients(_ request: Request, context: AdminContext) async throws -> ClientList {
        let id = try Self.id(context)
        guard try await partners.partner(id: id) != nil else { throw Self.noSuch(id) }
        return ClientList(items: try await partners.clientInfo(partnerId: id).map {
            ClientView(countryCode: $0.countryCode, partyId: $0.partyId, role: $0.role.rawValue, status: $0.status.rawValue, lastUpdated: $0.lastUpdated.description)
        })
    }

    static func id(_ context: AdminContext) throws -> Int64 {
        guard let id = Int64(try context.parameters.require("id")), id > 0 else { throw Problem(.badRequest, "Invalid partner id", "a partner id is a positive integer") }
        return id
    }

    static func noSuch(_ id: Int64) -> Problem { Problem(.notFound, "No such partner", "no OCPI partner \(id)") }
}
