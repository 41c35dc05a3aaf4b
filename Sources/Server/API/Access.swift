import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Storage
import OCPP
import Synchronization

/// Who is calling: an API key, or the first-run admin token (`--admin-token`), which acts as an admin key.
struct Principal: Sendable, Hashable {
    /// The key's id; nil for the bootstrap token.
    var keyId: Int64?
    var name: String
    var role: APIRole

    static let bootstrapName = "bootstrap"
}

/// What a handler adds to its audit row: the OCPP action it sent and to which station.
final class AuditNote: Sendable {
    private let state = Mutex<(action: String?, target: String?)>((nil, nil))

    func set(action: String, target: String?) { state.withLock { $0 = (action, target) } }
    var action: String? { state.withLock { $0.action } }
    var target: String? { state.withLock { $0.target } }
}

/// The role each route needs. Keys and the audit log are for admins; changing the set of stations, the catalog
/// (locations, EVSEs, tariffs), the OCPI partners, and money (top-ups, revenue splits) is for admins; every other
/// change (commands, reservations, bookings, tokens, drivers) is for operators; reading is for viewers.
enum AccessPolicy {
    /// Raw commands that change what a station trusts or how it authenticates (its roots, its own certificate, its
    /// security profile, its network slots, its password, its firmware): admin only, as the certificate routes are.
    static func commandNeedsAdmin(action: String, payload: JSONValue) -> Bool {
        switch action {
        case "InstallCertificate", "DeleteCertificate", "CertificateSigned", "SignedUpdateFirmware", "UpdateFirmware", "SetNetworkProfile":
            return true
        case "ChangeConfiguration":
            // 1.6: the Security Whitepaper's SecurityProfile and AuthorizationKey (the Basic password).
            return ["SecurityProfile", "AuthorizationKey"].contains(payload["key"]?.stringValue ?? "")
        case "SetVariables":
            // 2.0.1: SecurityCtrlr (BasicAuthPassword, SecurityProfile, organisation name, ...) and the network slots.
            guard case .array(let items)? = payload["setVariableData"] else { return false }
            return items.contains { item in
                let component = item["component"]?["name"]?.stringValue ?? ""
                let variable = item["variable"]?["name"]?.stringValue ?? ""
                return component == "SecurityCtrlr" || variable == "NetworkConfigurationPriority"
            }
        default:
            return false
        }
    }

    static func requiredRole(method: HTTPRequest.Method, route: String) -> APIRole {
        if route.hasPrefix("/api/v1/keys") || route.hasPrefix("/api/v1/audit") { return .admin }
        // Trust: what certificates stations hold and accept, revocations, the contract list, security profiles and
        // firmware. Asking a station what it holds is a command too, so even that read is not a viewer's.
        if route.hasPrefix("/api/v1/certificates") || route.hasPrefix("/api/v1/stations/{id}/certificates/")
            || route == "/api/v1/stations/{id}/security-profile" || route == "/api/v1/stations/{id}/firmware"
        {
            return .admin
        }
        switch (method, route) {
        case (.get, _), (.head, _): return .viewer
        case (.post, "/api/v1/stations"), (.patch, "/api/v1/stations/{id}"), (.delete, "/api/v1/stations/{id}"): return .admin
        case (_, "/api/v1/stations/{id}/evses/{evse}"): return .admin
        case (_, _) where route.hasPrefix("/api/v1/locations") || route.hasPrefix("/api/v1/tariffs") || route.hasPrefix("/api/v1/ocpi"): return .admin
        // Money: top-ups, revenue splits, and drivers (whether one pays before or after, which tokens bill to whom).
        case (.post, "/api/v1/drivers/{id}/topups"), (.post, "/api/v1/split-rules"), (.put, "/api/v1/drivers/{id}"): return .admin
        default: return .operator
        }
    }
}

/// The bootstrap token is compared by its SHA-256 digest, in constant time: both sides are 32 bytes
/// whatever was sent, so neither the length nor the content of the token leaks through timing.
struct BootstrapToken: Sendable {
    private let digest: [UInt8]

    init(_ token: String) { self.digest = AccessRepository.digest(token) }

    func matches(_ candidate: String) -> Bool {
        let other = AccessRepository.digest(candidate)
        var diff: UInt8 = 0
        for i in 0..<32 { diff |= digest[i] ^ other[i] }
        return diff == 0
    }
}

/// Authenticates `Authorization: Bearer <key>`, checks the route's role, and writes an audit row for
/// every call that changes something (POST, PUT, PATCH, DELETE): refused (401, 403), failed or done.
/// Keys are looked up on every request, so a revocation takes effect at once.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = AdminContext
    let bootstrap: BootstrapToken
    let access: AccessRepository

    func handle(_ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response) async throws -> Response {
        var context = context
        let route = context.endpointPath ?? request.uri.path
        var principal: Principal?
        let outcome: Result<Response, Problem>
        do {
            principal = try await authenticate(request)
            guard let principal else {
                var problem = Problem(.unauthorized, "Unauthorized", "a valid API key is required: Authorization: Bearer <key>")
                problem.headers[.wwwAuthenticate] = "Bearer realm=\"voltaic\""
                throw problem
            }
            let needed = AccessPolicy.requiredRole(method: request.method, route: route)
            guard principal.role >= needed else {
                throw Problem(.forbidden, "Forbidden", "\(request.method.rawValue) \(route) needs the \(needed.rawValue) role; this key is \(principal.role.rawValue)")
            }
            context.principal = principal
            outcome = .success(try await next(request, context))
        } catch {
            outcome = .failure(Problem.from(error, logger: context.logger))
        }
        if ![.get, .head, .options].contains(request.method) {
            await audit(request, route: route, context: context, principal: principal, outcome: outcome)
        }
        return try outcome.get()
    }

    private func authenticate(_ request: Request) async throws -> Principal? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        let secret = String(header.dropFirst(7))
        if bootstrap.matches(secret) { return Principal(keyId: nil, name: Principal.bootstrapName, role: .admin) }
        guard !secret.isEmpty, secret.utf8.count <= 256, !secret.contains("\u{0}") else { return nil }
        return try await access.key(secret: secret).map { Principal(keyId: $0.id, name: $0.name, role: $0.role) }
    }

    private func audit(_ request: Request, route: String, context: AdminContext, principal: Principal?, outcome: Result<Response, Problem>) async {
        let status: Int
        let result: String
        switch outcome {
        case .success(let response):
            status = response.status.code
            result = response.status.reasonPhrase
        case .failure(let problem):
            status = problem.status.code
            result = problem.detail.map { "\(problem.title): \($0)" } ?? problem.title
        }
        let parameters = context.parameters
        let target = context.audit.target ?? ["id", "value"].lazy.compactMap { parameters.get($0) }.first.map { $0.removingPercentEncoding ?? String($0) }
        let entry = AuditEntry(
            keyId: principal?.keyId, actor: principal?.name ?? "anonymous", role: principal?.role, method: request.method.rawValue,
            path: Self.storable(request.uri.path, 512), action: Self.storable(context.audit.action ?? "\(request.method.rawValue) \(route)", 256),
            target: target.map { Self.storable($0, 128) }, status: status, result: Self.storable(result, 512)
        )
        do {
            try await access.record(entry)
        } catch {
            context.logger.error("audit log write failed", metadata: ["audit.status": "\(status)", "audit.action": "\(entry.action)"])
        }
    }

    /// Text PostgreSQL accepts (no NUL), bounded.
    private static func storable(_ s: String, _ limit: Int) -> String {
        Problem.bounded(s.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}"), limit)
    }
}
