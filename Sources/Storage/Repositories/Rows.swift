import CSMS
import Foundation
import Logging
import OCPP
import PostgresNIO

/// Column lists and row decoders shared by the unit of work and the admin repository.
enum StationRows {
    static let columns = """
        id, vendor, model, serial_number, firmware_version, ocpp_version, registration_status, security_profile,
        password_hash IS NOT NULL AS has_password, online, last_boot_at, last_seen_at, created_at, decommissioned_at,
        last_security_profile, last_certificate
        """

    static func fetch(_ conn: PostgresConnection, logger: Logger, where id: String) async throws -> [Station] {
        try await all(conn.query("SELECT \(unescaped: columns) FROM stations WHERE id = \(id)", logger: logger))
    }

    static func all<Rows: AsyncSequence>(_ rows: Rows) async throws -> [Station] where Rows.Element == PostgresRow {
        var out: [Station] = []
        for try await row in rows { out.append(try decode(row)) }
        return out
    }

    static func decode(_ row: PostgresRow) throws -> Station {
        let r = row.makeRandomAccess()
        var station = Station(
            id: try r["id"].decode(String.self), vendor: try r["vendor"].decode(String?.self), model: try r["model"].decode(String?.self),
            serialNumber: try r["serial_number"].decode(String?.self), firmwareVersion: try r["firmware_version"].decode(String?.self),
            ocppVersion: try r["ocpp_version"].decode(String?.self).flatMap(OCPPVersion.init(rawValue:)),
            registrationStatus: RegistrationStatus(rawValue: try r["registration_status"].decode(String.self)) ?? .rejected,
            securityProfile: try r["security_profile"].decode(Int.self), hasPassword: try r["has_password"].decode(Bool.self),
            online: try r["online"].decode(Bool.self), lastBootAt: try r["last_boot_at"].decode(Date?.self),
            lastSeenAt: try r["last_seen_at"].decode(Date?.self), createdAt: try r["created_at"].decode(Date.self),
            decommissionedAt: try r["decommissioned_at"].decode(Date?.self)
        )
        station.lastSecurityProfile = try r["last_security_profile"].decode(Int?.self)
        station.lastCertificate = try r["last_certificate"].decode(String?.self)
        return station
    }
}

enum TokenRows {
    static let columns = "value, type, status, expires_at, group_id, created_at, updated_at"

    static func fetch(_ conn: PostgresConnection, logger: Logger, value: String) async throws -> [IdToken] {
        try await all(conn.query("SELECT \(unescaped: columns) FROM id_tokens WHERE value = \(value)", logger: logger))
    }

    static func all<Rows: AsyncSequence>(_ rows: Rows) async throws -> [IdToken] where Rows.Element == PostgresRow {
        var out: [IdToken] = []
        for try await row in rows {
            let r = row.makeRandomAccess()
            out.append(
                IdToken(
                    value: try r["value"].decode(String.self), type: try r["type"].decode(String.self),
                    status: AuthorizationStatus(rawValue: try r["status"].decode(String.self)) ?? .invalid,
                    expiresAt: try r["expires_at"].decode(Date?.self), groupId: try r["group_id"].decode(String?.self),
                    createdAt: try r["created_at"].decode(Date.self), updatedAt: try r["updated_at"].decode(Date.self)
                )
            )
        }
        return out
    }
}

enum TransactionRows {
    static let columns = """
        id, uid, ocpp_version, station_id, evse_id, connector_id, id_token, reservation_id, state, started_at, stopped_at, meter_start_wh,
        meter_stop_wh, energy_wh, stop_reason, charging_state, suspect, suspect_reasons
        """

    static func fetch(_ conn: PostgresConnection, logger: Logger, _ whereClause: PostgresQuery) async throws -> [ChargingTransaction] {
        let query = PostgresQuery(unsafeSQL: "SELECT \(columns) FROM transactions " + whereClause.sql, binds: whereClause.binds)
        return try await all(conn.query(query, logger: logger))
    }

    static func all<Rows: AsyncSequence>(_ rows: Rows) async throws -> [ChargingTransaction] where Rows.Element == PostgresRow {
        var out: [ChargingTransaction] = []
        for try await row in rows { out.append(try decode(row)) }
        return out
    }

    static func decode(_ row: PostgresRow) throws -> ChargingTransaction {
        let r = row.makeRandomAccess()
        return ChargingTransaction(
            id: try r["id"].decode(Int64.self), uid: try r["uid"].decode(String.self), stationId: try r["station_id"].decode(String.self),
            ocppVersion: OCPPVersion(rawValue: try r["ocpp_version"].decode(String.self)) ?? .v16,
            evseId: try r["evse_id"].decode(Int.self), connectorId: try r["connector_id"].decode(Int.self),
            idToken: try r["id_token"].decode(String?.self), reservationId: try r["reservation_id"].decode(Int?.self),
            state: TransactionState(rawValue: try r["state"].decode(String.self)) ?? .active,
            startedAt: try r["started_at"].decode(Date?.self), stoppedAt: try r["stopped_at"].decode(Date?.self),
            meterStartWh: try r["meter_start_wh"].decode(Int64?.self), meterStopWh: try r["meter_stop_wh"].decode(Int64?.self),
            energyWh: try r["energy_wh"].decode(Int64?.self), stopReason: try r["stop_reason"].decode(String?.self),
            chargingState: try r["charging_state"].decode(String?.self), suspect: try r["suspect"].decode(Bool.self),
            suspectReasons: try r["suspect_reasons"].decode([String].self)
        )
    }
}

enum ReservationRows {
    /// Expiry is derived when read, not written by a sweep: an open reservation past its time reads as Expired.
    static let columns = """
        id, station_id, evse_id, id_token, expires_at,
        CASE WHEN status IN ('Pending', 'Accepted') AND expires_at <= now() THEN 'Expired' ELSE status END AS status,
        transaction_id, created_at
        """

    static func fetch(_ conn: PostgresConnection, logger: Logger, _ whereClause: PostgresQuery) async throws -> [Reservation] {
        let query = PostgresQuery(unsafeSQL: "SELECT \(columns) FROM reservations " + whereClause.sql, binds: whereClause.binds)
        return try await all(conn.query(query, logger: logger))
    }

    static func all(_ rows: PostgresRowSequence) async throws -> [Reservation] {
        var out: [Reservation] = []
        for try await row in rows {
            let r = row.makeRandomAccess()
            out.append(
                Reservation(
                    id: try r["id"].decode(Int.self), stationId: try r["station_id"].decode(String.self), evseId: try r["evse_id"].decode(Int?.self),
                    idToken: try r["id_token"].decode(String.self), expiresAt: try r["expires_at"].decode(Date.self),
                    status: ReservationStatus(rawValue: try r["status"].decode(String.self)) ?? .pending,
                    transactionId: try r["transaction_id"].decode(Int64?.self), createdAt: try r["created_at"].decode(Date.self)
                )
            )
        }
        return out
    }
}
