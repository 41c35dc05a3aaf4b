import Foundation
import Hummingbird
import Logging
import OCPI
import Storage

/// The other direction of the credentials handshake: Voltaic registers toward a partner that issued it a token A
/// (`POST /api/v1/ocpi/partners/{id}/register`, admin). Voltaic reads the partner's versions and details with that
/// token, makes a token B for the partner to call it with (valid at once for versions and details, which the
/// partner may read before it answers), POSTs its credentials, and keeps the partner's token C, roles and endpoints.
/// The token A Voltaic issued for the partner is void from the first attempt on.
extension OCPIController {
    func addAdminRoutes(to api: RouterGroup<AdminContext>) {
        api.post("ocpi/partners/{id}/register", use: registerOutbound)
    }

    struct Outbound: Decodable {
        var versionsUrl: String
        var token: String
    }

    @Sendable func registerOutbound(_ request: Request, context: AdminContext) async throws -> PartnerController.PartnerView {
        let id = try PartnerController.id(context)
        context.audit.set(action: "RegisterWithOCPIPartner", target: String(id))
        let body = try await request.decode(as: Outbound.self, context: context)
        guard OCPIString.isURL(body.versionsUrl) else {
            throw Problem(.unprocessableContent, "Invalid versionsUrl", "versionsUrl: an absolute http(s) URL of at most 255 characters")
        }
        guard OCPIString.isCiString(body.token, maxLength: 64), !body.token.contains(" ") else {
            throw Problem(.unprocessableContent, "Invalid token", "token: 1 to 64 printable ASCII characters, no spaces")
        }
        guard let partner = try await partners.partner(id: id) else { throw PartnerController.noSuch(id) }
        guard partner.state == .pending else {
            throw Problem(.conflict, "Not pending", "partner \(id) is \(partner.state.rawValue); only a pending partner is registered with")
        }
        let details: VersionDetails
        do {
            details = try await discover(versionsURL: body.versionsUrl, token: body.token)
        } catch {
            context.logger.notice("OCPI partner's API unusable for registration", metadata: ["ocpi.partner.id": "\(id)", "error": "\(error)"])
            switch error {
            case .versions(let f): throw Problem(.badGateway, "Partner unusable", "its versions endpoint \(f.summary)")
            case .details(let f): throw Problem(.badGateway, "Partner unusable", "its version details endpoint \(f.summary)")
            case .noCommonVersion(let offered):
                throw Problem(.unprocessableContent, "No common version", "Voltaic speaks 2.2.1; the partner offers \(offered.joined(separator: ", "))")
            case .noCredentials: throw Problem(.unprocessableContent, "No credentials endpoint", "the partner's version details list no credentials endpoint")
            }
        }
        let tokenB = Credentials.newToken()
        guard try await partners.prepareOutbound(id: id, serverToken: tokenB, readAt: partner.updatedAt), let credentialsURL = details.url(of: .credentials, role: nil) else {
            throw Problem(.conflict, "Changed meanwhile", "partner \(id) changed meanwhile (another registration?); try again")
        }
        let theirs: Credentials
        do {
            theirs = try await client.post(Credentials.self, url: credentialsURL, token: body.token, body: ours(token: tokenB))
        } catch {
            context.logger.notice("OCPI partner refused our credentials", metadata: ["ocpi.partner.id": "\(id)", "error": "\(error)"])
            throw Problem(.badGateway, "Partner refused", "its credentials endpoint \(error.summary)")
        }
        guard let registered = try await partners.register(
            id: id, presented: tokenB, from: [.pending], clientToken: theirs.token, serverToken: tokenB, version: .v221, versionsURL: body.versionsUrl,
            roles: theirs.roles, endpoints: details.endpoints
        ) else {
            throw Problem(.conflict, "Not pending", "partner \(id) changed meanwhile")
        }
        context.logger.notice("registered with OCPI partner", metadata: ["ocpi.partner.id": "\(id)", "ocpi.version": "2.2.1"])
        return PartnerController.PartnerView(registered)
    }
}
