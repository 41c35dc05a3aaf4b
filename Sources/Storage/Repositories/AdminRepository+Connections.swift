public import CSMS
import Foundation
import PostgresNIO

extension AdminRepository {
    /// Registers a station the CSMS did not know, under `--unknown-stations accept|pending`, unless `cap`
    /// auto-registered stations exist already. Returns false when the cap is reached.
    public func registerUnknownStation(id: String, registrationStatus: RegistrationStatus, cap: Int) async throws -> Bool {
        // The advisory lock serialises auto-registrations, so concurrent handshakes cannot pass the cap together.
        try await client.withTransaction(logger: logger) { conn in
            try await conn.query("SELECT pg_advisory_xact_lock(\(Self.autoRegistrationLock))", logger: logger)
            let rows = try await conn.query(
                """
                INSERT INTO stations (id, registration_status, security_profile, registered_by)
                SELECT \(id), \(registrationStatus.rawValue), 0, 'auto'
                WHERE (SELECT count(*) FROM stations WHERE registered_by = 'auto' AND decommissioned_at IS NULL) < \(cap)
                ON CONFLICT (id) DO NOTHING RETURNING id
                """,
                logger: logger
            )
            for try await _ in rows { return true }
            return false
        }
    }

    static let autoRegistrationLock: Int64 = 0x766F_6C74_6175  // "voltau"
}
