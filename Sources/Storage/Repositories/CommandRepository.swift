public import Foundation
public import Logging
public import OCPI
public import OCPP
public import PostgresNIO

/// OCPI commands (Migrations/0008): kept when a partner sends them, claimed by the node that holds the station,
/// completed with their result, which goes to the partner's `response_url` through the push queue.
public struct CommandRepository: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// An EVSE a command can act on: its station as the database knows it.
    public struct Place: Sendable, Hashable {
        public var stationId: String
        public var evseId: Int
        public var evseUID: String
        /// The OCPP connector ids of its connectors.
        public var connectorIds: [Int]
        public var version: String?
        public var online: Bool
        public var decommissioned: Bool
    }

    /// The EVSEs of a location (one, when `evseUID` is given), placed now.
    public func places(locationId: String, evseUID: String?) async throws -> [Place] {
        let rows = try await client.query(
            """
            SELECT s.id, e.evse_id::int8, e.uid, coalesce((SELECT array_agg(c.connector_id::int8 ORDER BY c.connector_id) FROM evse_connectors c WHERE c.evse_uid = e.uid), '{}'),
                   s.ocpp_version, s.online, s.decommissioned_at IS NOT NULL
            FROM evses e JOIN stations s ON s.id = e.station_id
            WHERE lower(e.location_id) = lower(\(locationId)) AND e.removed_at IS NULL
              AND (\(evseUID)::text IS NULL OR lower(e.uid) = lower(\(evseUID)::text))
            ORDER BY e.uid
            """,
            logger: logger
        )
        var out: [Place] = []
        for try await (station, evse, uid, connectors, version, online, gone) in rows.decode((String, Int64, String, [Int64], String?, Bool, Bool).self) {
            out.append(Place(stationId: station, evseId: Int(evse), evseUID: uid, connectorIds: connectors.map(Int.init), version: version, online: online, decommissioned: gone))
        }
        return out
    }

    /// A session of this partner's, with its transaction and station.
    public struct SessionPlace: Sendable {
        public var stationId: String
        public var transactionId: Int64
        public var transactionUID: String
        public var active: Bool
        public var version: String?
        public var online: Bool
        /// The OCPP EVSE of the transaction.
        public var evseId: Int = 0
        /// Its OCPI EVSE lists CHARGING_PROFILE_CAPABLE.
        public var takesProfiles: Bool = false
    }

    public func session(id: String, partnerId: Int64) async throws -> SessionPlace? {
        let rows = try await client.query(
            """
            SELECT t.station_id, t.id, t.uid, t.state = 'Active', st.ocpp_version, st.online, t.evse_id::int8,
                coalesce((SELECT e.body->'capabilities' ? 'CHARGING_PROFILE_CAPABLE' FROM evses e WHERE e.uid = s.evse_uid), false)
            FROM ocpi_sessions s JOIN transactions t ON t.id = s.transaction_id JOIN stations st ON st.id = t.station_id
            WHERE s.id = \(id) AND s.partner_id = \(partnerId)
            """,
            logger: logger
        )
        for try await (station, tx, uid, active, version, online, evse, profiles) in rows.decode((String, Int64, String, Bool, String?, Bool, Int64, Bool).self) {
            return SessionPlace(stationId: station, transactionId: tx, transactionUID: uid, active: active, version: version, online: online,
                                evseId: Int(evse), takesProfiles: profiles)
        }
        return nil
    }

    /// A fresh OCPP 2.0.1 remoteStartId.
    public func nextRemoteStartId() async throws -> Int {
        for try await n in try await client.query("SELECT nextval('ocpi_remote_start_ids')::int8", logger: logger).decode(Int64.self) { return Int(n) }
        throw MissingRow("a remote start id")
    }

    public struct NewCommand: Sendable {
        public var partnerId: Int64
        /// What is kept in `ocpi_commands.command`: an OCPI CommandType, or a charging profile request.
        public let name: String
        public var stationId: String
        public var action: String
        public var payload: JSONValue
        public var responseURL: String
        public var tokenUID: String?
        public var authorizationReference: String?
        public var remoteStartId: Int?
        /// By when the station must have been sent it and answered; past it, TIMEOUT.
        public var within: Duration

        public init(partnerId: Int64, command: CommandType, stationId: String, action: String, payload: JSONValue, responseURL: String,
                    tokenUID: String? = nil, authorizationReference: String? = nil, remoteStartId: Int? = nil, within: Duration) {
            self.init(partnerId: partnerId, name: command.rawValue, stationId: stationId, action: action, payload: payload, responseURL: responseURL,
                      tokenUID: tokenUID, authorizationReference: authorizationReference, remoteStartId: remoteStartId, within: within)
        }

        /// A charging profile request, kept beside the commands and sent the same way.
        public init(partnerId: Int64, profile: ChargingProfileRequest, stationId: String, action: String, payload: JSONValue, responseURL: String, within: Duration) {
            self.init(partnerId: partnerId, name: profile.rawValue, stationId: stationId, action: action, payload: payload, responseURL: responseURL,
                      tokenUID: nil, authorizationReference: nil, remoteStartId: nil, within: within)
        }

        private init(partnerId: Int64, name: String, stationId: String, action: String, payload: JSONValue, responseURL: String,
                     tokenUID: String?, authorizationReference: String?, remoteStartId: Int?, within: Duration) {
            self.partnerId = partnerId
            self.name = name
            self.stationId = stationId
            self.action = action
            self.payload = payload
            self.responseURL = responseURL
            self.tokenUID = tokenUID
            self.authorizationReference = authorizationReference
            self.remoteStartId = remoteStartId
            self.within = within
        }
    }

    /// Keeps a command for the node that holds its station; returns its id.
    public func record(_ c: NewCommand) async throws -> UUID {
        let seconds = c.within.seconds
        let rows = try await client.query(
            """
            INSERT INTO ocpi_commands (partner_id, command, station_id, action, payload, response_url, token_uid, authorization_reference, remote_start_id, deadline)
            VALUES (\(c.partnerId), \(c.name), \(c.stationId), \(c.action), \(c.payload.serialized)::jsonb, \(c.responseURL), \(c.tokenUID),
                    \(c.authorizationReference), \(c.remoteStartId), now() + \(seconds) * interval '1 second')
            RETURNING id
            """,
            logger: logger
        )
        for try await id in rows.decode(UUID.self) { return id }
        throw MissingRow("the command insert")
    }

    public struct Pending: Sendable {
        public var id: UUID
        /// The OCPI command, or (for a charging profile request) nil and `profile`.
        public var command: CommandType?
        public var profile: ChargingProfileRequest?
        public var stationId: String
        public var action: String
        public var payload: JSONValue
    }

    /// Commands not sent yet, oldest first.
    public func pending(limit: Int = 1000) async throws -> [Pending] {
        let rows = try await client.query(
            "SELECT id, command, station_id, action, payload::text FROM ocpi_commands WHERE state = 'pending' AND deadline > now() ORDER BY created_at LIMIT \(limit)",
            logger: logger
        )
        var out: [Pending] = []
        for try await (id, command, station, action, payload) in rows.decode((UUID, String, String, String, String).self) {
            let type = CommandType(rawValue: command), profile = ChargingProfileRequest(rawValue: command)
            guard type != nil || profile != nil, let value = try? JSONParser.parse(payload) else { continue }
            out.append(Pending(id: id, command: type, profile: profile, stationId: station, action: action, payload: value))
        }
        return out
    }

    /// Takes a pending command to send it now: true for the one node that gets it. Once taken it is never sent again.
    public func claim(id: UUID) async throws -> Bool {
        try await !client.query(
            "UPDATE ocpi_commands SET state = 'sent' WHERE id = \(id) AND state = 'pending' AND deadline > now() RETURNING id", logger: logger
        ).collect().isEmpty
    }

    /// Records a command's result with its outbox event (`command.completed`), in one transaction: the relay makes
    /// it a push to the partner's response_url, as it makes every push.
    @discardableResult
    public func complete(id: UUID, _ result: CommandResult) async throws -> Bool {
        try await client.withTransaction(logger: logger) { conn in
            try await Self.complete(conn, id: id, result, from: ["pending", "sent"], logger: logger)
        }
    }

    static func complete(_ conn: PostgresConnection, id: UUID, _ result: CommandResult, from states: [String], logger: Logger) async throws -> Bool {
        try await complete(conn, id: id, result: result.result.rawValue, message: result.message.first?.text, body: nil, from: states, logger: logger)
    }

    static func complete(_ conn: PostgresConnection, id: UUID, result: String, message: String?, body: JSONValue?, from states: [String], logger: Logger) async throws -> Bool {
        let rows = try await conn.query(
            """
            UPDATE ocpi_commands SET state = 'done', result = \(result), message = \(message), result_body = \(body?.serialized)::jsonb, completed_at = now()
            WHERE id = \(id) AND state = ANY(\(states)::text[]) RETURNING id
            """,
            logger: logger
        )
        for try await _ in rows {
            let event = JSONValue.object(["id": .string(id.uuidString.lowercased()), "result": .string(result)])
            try await conn.query("INSERT INTO outbox (topic, payload) VALUES ('command.completed', \(event.serialized)::jsonb)", logger: logger)
            return true
        }
        return false
    }

    /// Records a charging profile request's outcome, the module's own result object (`body`), with its outbox event.
    @discardableResult
    public func complete(id: UUID, profile result: ChargingProfileResultType, body: JSONValue) async throws -> Bool {
        try await client.withTransaction(logger: logger) { conn in
            try await Self.complete(conn, id: id, result: result.rawValue, message: nil, body: body, from: ["pending", "sent"], logger: logger)
        }
    }

    /// Commands whose deadline passed unanswered (their station never took them, or their node died mid-call):
    /// TIMEOUT, sent to the partner like any result. Returns how many.
    public func expire() async throws -> Int {
        try await client.withTransaction(logger: logger) { conn in
            var ids: [UUID] = []
            for try await id in try await conn.query(
                "SELECT id FROM ocpi_commands WHERE state <> 'done' AND deadline <= now() ORDER BY created_at LIMIT 100 FOR UPDATE SKIP LOCKED", logger: logger
            ).decode(UUID.self) { ids.append(id) }
            for try await id in try await conn.query(
                "SELECT id FROM ocpi_commands WHERE id = ANY(\(ids)) AND command LIKE '%CHARGING_PROFILE'", logger: logger
            ).decode(UUID.self) {
                // A charging profile's result has no TIMEOUT: the request was not carried out.
                _ = try await Self.complete(conn, id: id, result: "REJECTED", message: "the charger did not answer in time",
                                            body: .object(["result": .string("REJECTED")]), from: ["pending", "sent"], logger: logger)
            }
            for id in ids {
                _ = try await Self.complete(conn, id: id, CommandResult(result: .timeout, message: "the charger did not answer in time"), from: ["pending", "sent"], logger: logger)
            }
            return ids.count
        }
    }

    /// The body to POST for a request whose result is not a CommandResult (charging profiles), once it has one.
    public func resultBody(id: UUID) async throws -> String? {
        for try await body in try await client.query(
            "SELECT result_body::text FROM ocpi_commands WHERE id = \(id) AND state = 'done' AND result_body IS NOT NULL", logger: logger
        ).decode(String.self) { return body }
        return nil
    }

    /// The result to POST for a command, once it has one.
    public func result(id: UUID) async throws -> CommandResult? {
        for try await (result, message) in try await client.query(
            "SELECT result, message FROM ocpi_commands WHERE id = \(id) AND state = 'done'", logger: logger
        ).decode((String?, String?).self) {
            guard let result, let type = CommandResultType(rawValue: result) else { return nil }
            return CommandResult(result: type, message: message)
        }
        return nil
    }
}
