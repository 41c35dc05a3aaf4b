import Foundation
import Hummingbird
import OCPI
import Settlement
import Storage

/// The sessions and cdrs modules, Voltaic the Sender: a partner pulls the sessions and CDRs of its own parties'
/// tokens, paged like every list. A session is rendered as it stands (its periods and cost so far); a CDR as made.
extension OCPIController {
    func addSessionRoutes(to ocpi: RouterGroup<AdminContext>) {
        ocpi.get("2.2.1/sessions", use: listSessions)
        ocpi.get("2.2.1/cdrs", use: listCDRs)
    }

    @Sendable func listSessions(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let page = try pageRequest(request)
        let result = try await sessions.sessions(page, parties: Self.parties(partner).sorted())
        let now = OCPIDateTime(Date())
        let rendered = try result.items.map { try $0.session(now: now) }
        return OCPIReply.envelope(rendered, request: request, routing: routing(partner), headers: pageHeaders(page, result, path: "sessions"))
    }

    @Sendable func listCDRs(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let page = try pageRequest(request)
        let result = try await sessions.cdrs(page, parties: Self.parties(partner).sorted())
        return OCPIReply.envelope(
            json: "[" + result.items.joined(separator: ",") + "]", request: request, routing: routing(partner),
            headers: pageHeaders(page, result, path: "cdrs")
        )
    }
}
