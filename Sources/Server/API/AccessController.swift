import Foundation
import HTTPTypes
public import Hummingbird
import OCPP
import Storage

/// `/api/v1/keys` and `/api/v1/audit`: API keys with roles, and the audit log. Admin only (`AccessPolicy`).
struct AccessController: Sendable {
    let access: AccessRepository

    func addRoutes(to group: RouterGroup<AdminContext>) {
        group.post("keys", use: createKey)
        group.get("keys", use: listKeys)
        group.delete("keys/{id}", use: revokeKey)
        group.get("audit", use: auditLog)
    }

    struct NewKey: Decodable {
        var name: String
        var role: APIRole
    }

    struct CreatedKey: Codable, ResponseEncodable {
        var key: APIKey
        /// Shown only in this answer; only its SHA-256 digest is kept.
        var secret: String
    }

    static func validName(_ name: String) -> Bool {
        (1...64).contains(name.unicodeScalars.count) && !name.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    @Sendable func createKey(_ request: Request, context: AdminContext) async throws -> EditedResponse<CreatedKey> {
        let body = try await request.decode(as: NewKey.self, context: context)
        guard Self.validName(body.name) else { throw Problem(.unprocessableContent, "Invalid key name", "a key name is 1 to 64 characters, no control characters") }
        let (key, secret) = try await access.createKey(name: body.name, role: body.role)
        context.audit.set(action: "POST /api/v1/keys", target: String(key.id))
        return EditedResponse(status: .created, headers: [.location: "/api/v1/keys/\(key.id)"], response: CreatedKey(key: key, secret: secret))
    }

    @Sendable func listKeys(_ request: Request, context: AdminContext) async throws -> AdminController.ListOf<APIKey> {
        AdminController.ListOf(items: try await access.keys())
    }

    @Sendable func revokeKey(_ request: Request, context: AdminContext) async throws -> HTTPResponse.Status {
        guard let id = Int64(try context.parameters.require("id")), id >= 1 else { throw Problem(.badRequest, "Invalid key id", "a key id is a positive integer") }
        guard try await access.revokeKey(id: id) != nil else { throw Problem(.notFound, "No such key", "key \(id) does not exist") }
        return .noContent
    }

    @Sendable func auditLog(_ request: Request, context: AdminContext) async throws -> AdminController.ListOf<AuditEntry> {
        let q = request.uri.queryParameters
        var limit = 100
        if let s = q.get("limit") {
            guard let l = Int(s), (1...1000).contains(l) else { throw Problem(.badRequest, "Invalid limit", "limit is 1 to 1000") }
            limit = l
        }
        var since: Date?
        if let s = q.get("since") {
            guard let d = OCPPDateTime.parse(s) else { throw Problem(.badRequest, "Invalid since", "since is an RFC 3339 date-time") }
            since = d
        }
        return AdminController.ListOf(items: try await access.auditLog(limit: limit, since: since))
    }
}

extension APIKey: ResponseEncodable {}
extension AuditEntry: ResponseEncodable {}
