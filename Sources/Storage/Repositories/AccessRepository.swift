public import Foundation
public import Logging
public import PostgresNIO
import Crypto

/// What an API key may do. Each role includes the ones below it.
public enum APIRole: String, Sendable, Codable, CaseIterable, Comparable {
    /// Read-only: every GET except keys and the audit log.
    case viewer
    /// Station commands, reservations, tokens; not creating, changing or removing stations, not keys.
    case `operator`
    /// Everything.
    case admin

    private var rank: Int {
        switch self {
        case .viewer: 0
        case .operator: 1
        case .admin: 2
        }
    }

    public static func < (a: APIRole, b: APIRole) -> Bool { a.rank < b.rank }
}

/// An API key as stored: never its secret, only the secret's SHA-256 digest.
public struct APIKey: Sendable, Codable, Hashable {
    public var id: Int64
    public var name: String
    public var role: APIRole
    public var createdAt: Date
    public var revokedAt: Date?
}

/// One row of the audit log.
public struct AuditEntry: Sendable, Codable, Hashable {
    public var id: Int64
    public var at: Date
    /// The API key's id; nil for the bootstrap admin token and for a caller without a valid key.
    public var keyId: Int64?
    /// The key's name, `bootstrap`, or `anonymous`.
    public var actor: String
    public var role: APIRole?
    public var method: String
    public var path: String
    /// The route (`POST /api/v1/stations/{id}/commands/{action}`) or the OCPP action sent to a station.
    public var action: String
    /// What was acted on: a station id, a token value, a key id.
    public var target: String?
    public var status: Int
    public var result: String?

    public init(
        id: Int64 = 0, at: Date = Date(), keyId: Int64?, actor: String, role: APIRole?, method: String, path: String, action: String, target: String?,
        status: Int, result: String?
    ) {
        self.id = id
        self.at = at
        self.keyId = keyId
        self.actor = actor
        self.role = role
        self.method = method
        self.path = path
        self.action = action
        self.target = target
        self.status = status
        self.result = result
    }
}

/// API keys and the audit log, for the admin API and the CLI.
public struct AccessRepository: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The SHA-256 digest under which a secret is kept.
    public static func digest(_ secret: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(secret.utf8)))
    }

    /// A new high-entropy secret: `vk_` and 32 random bytes in hex.
    public static func newSecret() -> String {
        var rng = SystemRandomNumberGenerator()
        return "vk_" + (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }

    private static let keyColumns = "id, name, role, created_at, revoked_at"

    private static func keys(_ rows: PostgresRowSequence) async throws -> [APIKey] {
        var out: [APIKey] = []
        for try await (id, name, role, created, revoked) in rows.decode((Int64, String, String, Date, Date?).self) {
            out.append(APIKey(id: id, name: name, role: APIRole(rawValue: role) ?? .viewer, createdAt: created, revokedAt: revoked))
        }
        return out
    }

    /// Makes a key; the secret is returned here and never again.
    public func createKey(name: String, role: APIRole) async throws -> (key: APIKey, secret: String) {
        let secret = Self.newSecret()
        let digest = ByteBuffer(bytes: Self.digest(secret))
        let rows = try await client.query(
            "INSERT INTO api_keys (name, role, secret_sha256) VALUES (\(name), \(role.rawValue), \(digest)) RETURNING \(unescaped: Self.keyColumns)",
            logger: logger
        )
        guard let key = try await Self.keys(rows).first else { throw MissingRow("insert returned no row") }
        return (key, secret)
    }

    public func keys() async throws -> [APIKey] {
        try await Self.keys(client.query("SELECT \(unescaped: Self.keyColumns) FROM api_keys ORDER BY id", logger: logger))
    }

    /// Revokes a key from now on; nil when there is no such key. Revoking a revoked key keeps its first revocation time.
    public func revokeKey(id: Int64) async throws -> APIKey? {
        let rows = try await client.query(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = \(id) RETURNING \(unescaped: Self.keyColumns)",
            logger: logger
        )
        return try await Self.keys(rows).first
    }

    /// The live (not revoked) key whose secret this is.
    public func key(secret: String) async throws -> APIKey? {
        let digest = ByteBuffer(bytes: Self.digest(secret))
        return try await Self.keys(
            client.query("SELECT \(unescaped: Self.keyColumns) FROM api_keys WHERE secret_sha256 = \(digest) AND revoked_at IS NULL", logger: logger)
        ).first
    }

    // MARK: Audit log

    public func record(_ e: AuditEntry) async throws {
        try await client.query(
            """
            INSERT INTO audit_log (key_id, actor, role, method, path, action, target, status, result)
            VALUES (\(e.keyId), \(e.actor), \(e.role?.rawValue), \(e.method), \(e.path), \(e.action), \(e.target), \(e.status), \(e.result))
            """,
            logger: logger
        )
    }

    /// The newest entries first, at most `limit`, only those at or after `since` when given.
    public func auditLog(limit: Int = 100, since: Date? = nil) async throws -> [AuditEntry] {
        let rows = try await client.query(
            """
            SELECT id, at, key_id, actor, role, method, path, action, target, status, result FROM audit_log
            WHERE (\(since)::timestamptz IS NULL OR at >= \(since)) ORDER BY at DESC, id DESC LIMIT \(limit)
            """,
            logger: logger
        )
        var out: [AuditEntry] = []
        for try await (id, at, keyId, actor, role, method, path, action, target, status, result) in rows.decode(
            (Int64, Date, Int64?, String, String?, String, String, String, String?, Int, String?).self
        ) {
            out.append(
                AuditEntry(
                    id: id, at: at, keyId: keyId, actor: actor, role: role.flatMap(APIRole.init(rawValue:)), method: method, path: path,
                    action: action, target: target, status: status, result: result
                )
            )
        }
        return out
    }
}
