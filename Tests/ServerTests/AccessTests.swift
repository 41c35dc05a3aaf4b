import Foundation
import Hummingbird
import HummingbirdTesting
@testable import Server
import Storage
import Testing

/// API keys with roles, the bootstrap token, revocation and the audit log.
@Suite struct AccessTests {
    static func bearer(_ key: String?) -> HTTPFields {
        var h: HTTPFields = [.contentType: "application/json"]
        if let key { h[.authorization] = "Bearer \(key)" }
        return h
    }

    @Test func everyRoleGetsWhatItMayAndNothingMore() async throws {
        try await AppHarness.app().test(.router) { client in
            func key(_ name: String, _ role: String) async throws -> (id: Int, secret: String) {
                let (status, body, _) = try await client.json(.post, "/api/v1/keys", #"{"name":"\#(name)","role":"\#(role)"}"#)
                #expect(status == .created)
                let secret = try #require(body["secret"] as? String)
                #expect(secret.hasPrefix("vk_") && secret.count == 67)
                return (try #require((body["key"] as? [String: Any])?["id"] as? Int), secret)
            }
            let viewer = try await key("dashboard", "viewer")
            let op = try await key("night-shift", "operator")
            let admin = try await key("ops-lead", "admin")
            #expect(try await client.json(.post, "/api/v1/stations", #"{"id":"ACL-1"}"#).0 == .created)

            // (key, method, path, body, expected status)
            let matrix: [(String?, HTTPRequest.Method, String, String?, HTTPResponse.Status)] = [
                (nil, .get, "/api/v1/stations", nil, .unauthorized),
                ("vk_" + String(repeating: "0", count: 64), .get, "/api/v1/stations", nil, .unauthorized),
                (AppHarness.adminToken + "x", .get, "/api/v1/stations", nil, .unauthorized),
                (String(AppHarness.adminToken.dropLast()), .get, "/api/v1/stations", nil, .unauthorized),
                (viewer.secret, .get, "/api/v1/stations", nil, .ok),
                (viewer.secret, .get, "/api/v1/stations/ACL-1", nil, .ok),
                (viewer.secret, .get, "/api/v1/transactions", nil, .ok),
                (viewer.secret, .post, "/api/v1/tokens", #"{"value":"ACL-T1"}"#, .forbidden),
                (viewer.secret, .post, "/api/v1/stations/ACL-1/commands/Reset", #"{"type":"Soft"}"#, .forbidden),
                (viewer.secret, .get, "/api/v1/keys", nil, .forbidden),
                (viewer.secret, .get, "/api/v1/audit", nil, .forbidden),
                (op.secret, .post, "/api/v1/tokens", #"{"value":"ACL-T1"}"#, .created),
                (op.secret, .put, "/api/v1/tokens/ACL-T1", #"{"status":"Blocked"}"#, .ok),
                (op.secret, .post, "/api/v1/stations/ACL-1/commands/Reset", #"{"type":"Soft"}"#, .conflict),
                (op.secret, .post, "/api/v1/reservations", #"{"stationId":"ACL-1","idToken":"ACL-T1"}"#, .conflict),
                (op.secret, .post, "/api/v1/stations", #"{"id":"ACL-2"}"#, .forbidden),
                (op.secret, .patch, "/api/v1/stations/ACL-1", #"{"registrationStatus":"Pending"}"#, .forbidden),
                (op.secret, .delete, "/api/v1/stations/ACL-1", nil, .forbidden),
                (op.secret, .post, "/api/v1/keys", #"{"name":"x","role":"admin"}"#, .forbidden),
                (op.secret, .get, "/api/v1/keys", nil, .forbidden),
                (admin.secret, .post, "/api/v1/stations", #"{"id":"ACL-2"}"#, .created),
                (admin.secret, .patch, "/api/v1/stations/ACL-2", #"{"registrationStatus":"Pending"}"#, .ok),
                (admin.secret, .get, "/api/v1/keys", nil, .ok),
            ]
            for (key, method, path, body, expected) in matrix {
                let (status, problem, headers) = try await client.json(method, path, body, headers: Self.bearer(key))
                #expect(status == expected, "\(method) \(path) with \(key.map { String($0.prefix(12)) } ?? "no key")")
                if status == .unauthorized { #expect(headers[.wwwAuthenticate] == "Bearer realm=\"voltaic\"") }
                if status == .forbidden { #expect(problem["status"] as? Int == 403) }
            }

            // A key list never shows secrets; revocation is immediate.
            let (_, keys, _) = try await client.json(.get, "/api/v1/keys", headers: Self.bearer(admin.secret))
            let items = try #require(keys["items"] as? [[String: Any]])
            #expect(Set(items.compactMap { $0["name"] as? String }) == ["dashboard", "night-shift", "ops-lead"])
            #expect(items.allSatisfy { $0["secret"] == nil && $0["secretSha256"] == nil })
            #expect(try await client.json(.delete, "/api/v1/keys/\(viewer.id)", headers: Self.bearer(admin.secret)).0 == .noContent)
            #expect(try await client.json(.get, "/api/v1/stations", headers: Self.bearer(viewer.secret)).0 == .unauthorized)
            #expect(try await client.json(.delete, "/api/v1/keys/999999").0 == .notFound)
            #expect(try await client.json(.post, "/api/v1/keys", #"{"name":"","role":"viewer"}"#).0 == .unprocessableContent)
            #expect(try await client.json(.post, "/api/v1/keys", #"{"name":"x","role":"root"}"#).0 == .badRequest)

            // Every mutating call is audited, refused ones too; reads are not.
            let (status, audit, _) = try await client.json(.get, "/api/v1/audit?limit=1000")
            #expect(status == .ok)
            let rows = try #require(audit["items"] as? [[String: Any]])
            func has(_ actor: String, _ method: String, _ action: String, _ code: Int) -> Bool {
                rows.contains { $0["actor"] as? String == actor && $0["method"] as? String == method && $0["action"] as? String == action && $0["status"] as? Int == code }
            }
            #expect(has("bootstrap", "POST", "POST /api/v1/keys", 201))
            #expect(has("dashboard", "POST", "POST /api/v1/tokens", 403))
            #expect(has("night-shift", "POST", "POST /api/v1/stations", 403))
            #expect(has("night-shift", "POST", "Reset", 409))
            #expect(has("night-shift", "POST", "ReserveNow", 409))
            #expect(has("night-shift", "PUT", "PUT /api/v1/tokens/{value}", 200))
            #expect(has("ops-lead", "PATCH", "PATCH /api/v1/stations/{id}", 200))
            #expect(has("ops-lead", "DELETE", "DELETE /api/v1/keys/{id}", 204))
            #expect(!rows.contains { $0["method"] as? String == "GET" })
            let reset = try #require(rows.first { $0["action"] as? String == "Reset" })
            #expect(reset["target"] as? String == "ACL-1" && reset["role"] as? String == "operator" && reset["keyId"] as? Int == op.id)
            #expect(try await client.json(.get, "/api/v1/audit?since=2999-01-01T00:00:00Z").1["items"] as? [Any] != nil)
            #expect(try await client.json(.get, "/api/v1/audit?limit=0").0 == .badRequest)
        }
    }

    @Test(arguments: [
        ("bootstrap-token-0123456789", true), ("bootstrap-token-012345678", false), ("bootstrap-token-01234567890", false),
        ("bootstrap-token-0123456788", false), ("", false), (String(repeating: "b", count: 300), false),
        // Lengths that differ by a multiple of 256 used to compare equal in their length term.
        ("bootstrap-token-0123456789" + String(repeating: "\u{0}", count: 256), false),
    ])
    func theBootstrapTokenIsComparedByDigest(candidate: String, matches: Bool) {
        #expect(BootstrapToken("bootstrap-token-0123456789").matches(candidate) == matches)
    }

    @Test func theRoleEachRouteNeeds() {
        #expect(AccessPolicy.requiredRole(method: .get, route: "/api/v1/stations") == .viewer)
        #expect(AccessPolicy.requiredRole(method: .get, route: "/api/v1/keys") == .admin)
        #expect(AccessPolicy.requiredRole(method: .get, route: "/api/v1/audit") == .admin)
        // Asking a station which certificates it holds sends it a command: not a viewer's read.
        #expect(AccessPolicy.requiredRole(method: .get, route: "/api/v1/stations/{id}/certificates/installed") == .admin)
        #expect(AccessPolicy.requiredRole(method: .get, route: "/api/v1/stations/{id}/certificates") == .viewer)
        #expect(AccessPolicy.requiredRole(method: .post, route: "/api/v1/certificates/revocations") == .admin)
        #expect(AccessPolicy.requiredRole(method: .post, route: "/api/v1/stations/{id}/firmware") == .admin)
        #expect(AccessPolicy.requiredRole(method: .post, route: "/api/v1/stations") == .admin)
        #expect(AccessPolicy.requiredRole(method: .delete, route: "/api/v1/stations/{id}") == .admin)
        #expect(AccessPolicy.requiredRole(method: .post, route: "/api/v1/stations/{id}/commands/{action}") == .operator)
        #expect(AccessPolicy.requiredRole(method: .delete, route: "/api/v1/reservations/{id}") == .operator)
        #expect(AccessPolicy.requiredRole(method: .post, route: "/api/v1/tokens/{value}/block") == .operator)
    }
}
