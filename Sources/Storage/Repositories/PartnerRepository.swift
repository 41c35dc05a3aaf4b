import Crypto
public import Foundation
public import Logging
public import OCPI
public import PostgresNIO

/// OCPI partners and their tokens. A token Voltaic only checks (token A, and the token a partner calls Voltaic
/// with) is kept as its SHA-256 digest; the token Voltaic calls a partner with is kept as given.
public struct PartnerRepository: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public enum State: String, Sendable, Codable, CaseIterable {
        /// Token A issued, no handshake yet.
        case pending
        case registered
        /// Registered, but refused every request until an admin lifts it.
        case suspended
        /// DELETE'd by the partner; its tokens are void.
        case unregistered
        /// Removed by an admin: its tokens are void and it is gone from the API (the row stays for the audit log).
        case removed
    }

    public struct Partner: Sendable, Codable, Hashable {
        public var id: Int64
        public var name: String
        public var state: State
        public var version: OCPIVersion?
        public var versionsURL: String?
        public var roles: [CredentialsRole]
        public var endpoints: [Endpoint]
        /// The token Voltaic calls the partner with (never shown by the API).
        public var clientToken: String?
        public var createdAt: Date
        public var updatedAt: Date
    }

    /// Which of its tokens a caller presented.
    public enum TokenKind: Sendable { case registration, server }

    static func digest(_ token: String) -> ByteBuffer { ByteBuffer(bytes: Array(SHA256.hash(data: Data(token.utf8)))) }

    /// A new partner, pending, with the digest of its token A.
    public func create(name: String, tokenA: String) async throws -> Partner {
        let rows = try await client.query(
            "INSERT INTO ocpi_partners (name, state, token_a_sha256) VALUES (\(name), 'pending', \(Self.digest(tokenA))) RETURNING \(unescaped: Self.columns)",
            logger: logger
        )
        return try await Self.first(rows) ?? { throw MissingRow("the partner insert") }()
    }

    /// The partner whose token A or server token is one of `candidates` (the header's decodings, tried in order).
    public func authenticate(_ candidates: [String]) async throws -> (Partner, TokenKind, token: String)? {
        for token in candidates {
            let d = Self.digest(token)
            // One statement: a token A of a pending partner, or the token of a registered (or suspended) one, or
            // the one a PUT replaced, until the new one is first used.
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.columns), token_a_sha256 IS NOT DISTINCT FROM \(d), server_sha256 IS NOT DISTINCT FROM \(d) AND previous_sha256 IS NOT NULL
                FROM ocpi_partners
                WHERE (token_a_sha256 = \(d) AND state = 'pending')
                   OR ((server_sha256 = \(d) OR previous_sha256 = \(d)) AND state IN ('registered', 'suspended'))
                """,
                logger: logger
            )
            for try await row in rows {
                let columns = row.makeRandomAccess()
                let isA = try columns[10].decode(Bool.self)
                let partner = try Self.partner(row)
                if try columns[11].decode(Bool.self) {
                    // The new token's first use: the one it replaced is void from now on.
                    try await client.query("UPDATE ocpi_partners SET previous_sha256 = NULL WHERE id = \(partner.id) AND server_sha256 = \(d)", logger: logger)
                }
                return (partner, isA ? .registration : .server, token)
            }
        }
        return nil
    }

    /// Completes or renews a handshake: the partner's client token, versions and endpoints are stored, its
    /// server token's digest replaces the old one, and token A is void. Only from `expected` states, and only
    /// while `presented` (the token the request came with) is still the partner's: of two concurrent PUTs, the
    /// second finds its token replaced and is refused, instead of answering a token that is already void.
    public func register(id: Int64, presented: String, from expected: [State], clientToken: String, serverToken: String, version: OCPIVersion, versionsURL: String, roles: [CredentialsRole], endpoints: [Endpoint]) async throws -> Partner? {
        let presentedDigest = Self.digest(presented)
        let rolesJSON = String(decoding: try JSONEncoder().encode(roles), as: UTF8.self)
        let endpointsJSON = String(decoding: try JSONEncoder().encode(endpoints), as: UTF8.self)
        let rows = try await client.query(
            """
            UPDATE ocpi_partners SET state = CASE WHEN state = 'suspended' THEN 'suspended' ELSE 'registered' END,
                -- A PUT made with the current token keeps it, until the new one is used; one made with the token
                -- kept so (its answer was lost) keeps that one.
                previous_sha256 = CASE WHEN server_sha256 = \(presentedDigest) THEN server_sha256 ELSE previous_sha256 END,
                token_a_sha256 = NULL, server_sha256 = \(Self.digest(serverToken)), client_token = \(clientToken),
                version = \(version.rawValue), versions_url = \(versionsURL), roles = \(rolesJSON)::jsonb, endpoints = \(endpointsJSON)::jsonb,
                updated_at = now()
            WHERE id = \(id) AND state = ANY(\(expected.map(\.rawValue))::text[])
              AND (token_a_sha256 = \(presentedDigest) OR server_sha256 = \(presentedDigest) OR previous_sha256 = \(presentedDigest))
            RETURNING \(unescaped: Self.columns)
            """,
            logger: logger
        )
        return try await Self.first(rows)
    }

    /// Voltaic registers toward a pending partner: `serverToken` (the token the partner will call Voltaic with)
    /// replaces the token A Voltaic issued, so that the partner may read Voltaic's versions and details with it while
    /// it answers our credentials. False when the partner is not pending.
    /// Only if the partner is as it was read (`readAt`, its `updated_at`): of two registrations at once, the second
    /// finds it changed and is refused, instead of replacing the token the first one is sending.
    public func prepareOutbound(id: Int64, serverToken: String, readAt: Date) async throws -> Bool {
        try await !client.query(
            """
            UPDATE ocpi_partners SET token_a_sha256 = \(Self.digest(serverToken)), updated_at = clock_timestamp()
            WHERE id = \(id) AND state = 'pending' AND updated_at = \(readAt) RETURNING id
            """,
            logger: logger
        ).collect().isEmpty
    }

    /// The partner's own DELETE: its tokens are void; false when it was not registered (or suspended).
    public func unregister(id: Int64) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE ocpi_partners SET state = 'unregistered', token_a_sha256 = NULL, server_sha256 = NULL, previous_sha256 = NULL, client_token = NULL, updated_at = now()
            WHERE id = \(id) AND state IN ('registered', 'suspended') RETURNING id
            """,
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    /// Removes a partner for good; false when there is none (or it was removed already).
    public func remove(id: Int64) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE ocpi_partners SET state = 'removed', token_a_sha256 = NULL, server_sha256 = NULL, previous_sha256 = NULL, client_token = NULL, updated_at = now()
            WHERE id = \(id) AND state <> 'removed' RETURNING id
            """,
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    /// Suspends a registered partner or lifts its suspension; nil when it is in neither state.
    public func setSuspended(id: Int64, _ suspended: Bool) async throws -> Partner? {
        let (to, from) = suspended ? ("suspended", "registered") : ("registered", "suspended")
        let rows = try await client.query(
            """
            UPDATE ocpi_partners SET state = \(to), updated_at = now() WHERE id = \(id) AND state IN (\(to), \(from))
            RETURNING \(unescaped: Self.columns)
            """,
            logger: logger
        )
        return try await Self.first(rows)
    }

    public func partner(id: Int64) async throws -> Partner? {
        try await Self.first(client.query("SELECT \(unescaped: Self.columns) FROM ocpi_partners WHERE id = \(id) AND state <> 'removed'", logger: logger))
    }

    public func partners() async throws -> [Partner] {
        var out: [Partner] = []
        for try await row in try await client.query("SELECT \(unescaped: Self.columns) FROM ocpi_partners WHERE state <> 'removed' ORDER BY id", logger: logger) {
            out.append(try Self.partner(row))
        }
        return out
    }

    static let columns = "id, name, state, version, versions_url, roles::text, endpoints::text, client_token, created_at, updated_at"

    static func partner(_ row: PostgresRow) throws -> Partner {
        let (id, name, state, version, url, roles, endpoints, token, created, updated) =
            try row.decode((Int64, String, String, String?, String?, String, String, String?, Date, Date).self)
        return Partner(
            id: id, name: name, state: State(rawValue: state) ?? .unregistered, version: version.flatMap(OCPIVersion.init(rawValue:)),
            versionsURL: url, roles: try JSONDecoder().decode([CredentialsRole].self, from: Data(roles.utf8)),
            endpoints: try JSONDecoder().decode([Endpoint].self, from: Data(endpoints.utf8)), clientToken: token, createdAt: created, updatedAt: updated
        )
    }

    static func first(_ rows: PostgresRowSequence) async throws -> Partner? {
        for try await row in rows { return try partner(row) }
        return nil
    }
}

extension PartnerRepository {
    /// What the hub `partnerId` said of its parties (hubclientinfo), by country code and party id; one party's when named.
    public func clientInfo(partnerId: Int64, countryCode: String? = nil, partyId: String? = nil) async throws -> [ClientInfo] {
        var out: [ClientInfo] = []
        for try await (cc, pid, role, status, updated) in try await client.query(
            """
            SELECT country_code, party_id, role, status, last_updated FROM ocpi_client_info
            WHERE partner_id = \(partnerId) AND (\(countryCode?.uppercased())::text IS NULL OR country_code = \(countryCode?.uppercased()))
              AND (\(partyId?.uppercased())::text IS NULL OR party_id = \(partyId?.uppercased()))
            ORDER BY country_code, party_id
            """,
            logger: logger
        ).decode((String, String, String, String, Date).self) {
            guard let role = PartyRole(rawValue: role), let status = ConnectionStatus(rawValue: status) else { continue }
            out.append(ClientInfo(partyId: pid, countryCode: cc, role: role, status: status, lastUpdated: OCPIDateTime(updated)))
        }
        return out
    }
}
