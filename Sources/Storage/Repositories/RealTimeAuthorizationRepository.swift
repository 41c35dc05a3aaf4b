public import Foundation
public import Logging
public import OCPI
public import PostgresNIO

/// What deciding whether to ask a token's eMSP in real time needs to read (outside any transaction): whether the token
/// is Voltaic's own, the roaming copy of it, whether an answer of the last minutes still stands, and where the station is.
public struct RealTimeAuthorizationRepository: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public struct Copy: Sendable, Hashable {
        public var partnerId: Int64
        public var uid: String
        public var type: TokenType
        public var whitelist: WhitelistType
        public var valid: Bool
    }

    public struct Context: Sendable, Hashable {
        /// The token is in Voltaic's own list: its rules decide, no eMSP is asked.
        public var own: Bool
        public var copy: Copy?
        /// An eMSP allowed this token at this station in the last 15 minutes: that answer stands (a station's Authorize and
        /// then its start ask once). A refusal does not: the driver may have fixed it since (a top-up), so they ask again.
        public var answered: Bool
        /// The station's location and the EVSE uids there (the EVSE asked for first), for the LocationReferences.
        public var locationId: String?
        public var evseUIDs: [String]
    }

    public func context(idToken: String, stationId: String, evseId: Int?) async throws -> Context {
        try await client.withConnection { conn in
            var context = Context(own: false, copy: nil, answered: false, locationId: nil, evseUIDs: [])
            for try await _ in try await conn.query("SELECT 1 FROM id_tokens WHERE value = \(idToken)", logger: logger) { context.own = true }
            for try await (partner, uid, type, whitelist, valid) in try await conn.query(
                """
                SELECT partner_id, uid, type, whitelist, valid FROM ocpi_tokens WHERE lower(uid) = lower(\(idToken))
                ORDER BY valid DESC, last_updated DESC LIMIT 1
                """,
                logger: logger
            ).decode((Int64, String, String, String, Bool).self) {
                guard let type = TokenType(rawValue: type), let whitelist = WhitelistType(rawValue: whitelist) else { continue }
                context.copy = Copy(partnerId: partner, uid: uid, type: type, whitelist: whitelist, valid: valid)
            }
            for try await _ in try await conn.query(
                """
                SELECT 1 FROM (SELECT station_id, allowed FROM ocpi_authorizations WHERE lower(token_uid) = lower(\(idToken))
                    AND created_at > now() - interval '15 minutes' ORDER BY id DESC LIMIT 1) a
                WHERE a.station_id = \(stationId) AND a.allowed = 'ALLOWED'
                """,
                logger: logger
            ) { context.answered = true }
            for try await (location, uid) in try await conn.query(
                """
                SELECT location_id, uid FROM evses WHERE station_id = \(stationId) AND removed_at IS NULL
                ORDER BY evse_id = \(evseId ?? -1) DESC, evse_id
                """,
                logger: logger
            ).decode((String, String).self) {
                if context.locationId == nil { context.locationId = location }
                if location == context.locationId { context.evseUIDs.append(uid) }
            }
            return context
        }
    }
}
