import CSMS
import Foundation
import Hummingbird
import Logging
import PostgresNIO
@testable import Server
import Storage
import Testing
import TestSupport

/// openapi/admin.yaml and the router describe the same API: every documented operation is routed and
/// every route is documented.
@Suite struct OpenAPIRoutesTests {
    static var specPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("openapi/admin.yaml").path
    }

    /// (method, path) of every operation, read from the document's `paths:` block.
    static func documentedOperations() throws -> Set<String> {
        let text = try String(contentsOfFile: specPath, encoding: .utf8)
        var operations: Set<String> = []
        var path: String?
        var inPaths = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            if inPaths, let first = line.first, first != " " { break }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "delete", "patch"].contains(String(method)) {
                    operations.insert("\(method.uppercased()) /api/v1\(path)")
                }
            }
        }
        return operations
    }

    @Test func theDocumentAndTheRoutesAgree() throws {
        let logger = Logger(label: "test")
        let client = PostgresClient(configuration: try DatabaseLocation.url("postgres://u@localhost/db").clientConfiguration(), backgroundLogger: logger)
        let repository = AdminRepository(client: client, logger: logger)
        let registry = StationRegistry()
        let router = buildRouter(
            client: client, registry: registry, repository: repository,
            commands: CommandDispatcher(registry: registry, repository: repository, callTimeout: .seconds(1)),
            runner: GroupCommitter(client: client, logger: logger), service: ChargingService(), adminToken: "x", logger: logger
        )
        let routed = Set(router.routes.map { "\($0.method) \($0.path)" }.filter { $0.contains("/api/v1/") })
        let documented = try Self.documentedOperations()
        #expect(documented.count >= 15)
        #expect(routed.subtracting(documented).isEmpty, "undocumented routes: \(routed.subtracting(documented).sorted())")
        #expect(documented.subtracting(routed).isEmpty, "documented but not routed: \(documented.subtracting(routed).sorted())")
    }
}
