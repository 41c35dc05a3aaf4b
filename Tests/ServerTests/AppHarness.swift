import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
@testable import Server
import Storage
import TestSupport

enum AppHarness {
    static let adminToken = "test-admin-token-0123456789"

    /// The real application on a fresh migrated database.
    static func app() async throws -> some ApplicationProtocol {
        let location = try await TestPostgres.shared.database(migrated: false)
        var config = ServerConfiguration(database: location, migrationsDirectory: TestPostgres.migrationsDirectory, adminToken: adminToken, nodeId: "test-node")
        config.port = 0
        config.migrate = true
        config.callTimeout = .seconds(2)
        config.unknownStations = .reject
        return try await buildApplication(config, logger: TestPostgres.shared.logger)
    }

    static var auth: HTTPFields { [.authorization: "Bearer \(adminToken)", .contentType: "application/json"] }
}

extension TestClientProtocol {
    func json(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, headers: HTTPFields = AppHarness.auth) async throws -> (HTTPResponse.Status, [String: Any], HTTPFields) {
        try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
            let object = (try? JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8))) as? [String: Any] ?? [:]
            return (response.status, object, response.headers)
        }
    }
}
