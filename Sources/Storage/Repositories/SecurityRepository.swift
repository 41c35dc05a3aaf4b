public import Foundation
public import Logging
public import PKI
public import PostgresNIO

/// Station certificates (Migrations/0012): the signing requests stations sent, the certificates the station CA
/// issued, Voltaic's revocation list, and the contract certificate status list for Plug & Charge.
public struct SecurityRepository: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    // MARK: Revocation

    public func revokedFingerprints() async throws -> Set<String> {
        var out: Set<String> = []
        for try await fingerprint in try await client.query("SELECT fingerprint FROM revoked_certificates", logger: logger).decode(String.self) {
            out.insert(fingerprint)
        }
        return out
    }

    /// The stations whose last connection used one of these certificates.
    public func stations(usingCertificates fingerprints: Set<String>) async throws -> [String] {
        var out: [String] = []
        let rows = try await client.query("SELECT id FROM stations WHERE last_certificate = ANY(\(Array(fingerprints)))", logger: logger)
        for try await id in rows.decode(String.self) { out.append(id) }
        return out
    }

    public enum RevocationOutcome: Sendable, Equatable {
        case revoked(fingerprint: String)
        case alreadyRevoked(fingerprint: String)
        /// A serial that no certificate Voltaic issued carries.
        case unknownSerial
    }

    /// Revokes a certificate by its SHA-256 fingerprint (any certificate) or by the serial of one the station CA issued.
    public func revoke(fingerprintOrSerial given: String, reason: String?) async throws -> RevocationOutcome {
        let key = given.lowercased().replacingOccurrences(of: ":", with: "")
        var fingerprint = key
        if !(key.count == 64 && key.isASCIIHex) {
            let serial = String(key.drop { $0 == "0" })
            let rows = try await client.query("SELECT fingerprint FROM station_certificates WHERE serial = \(serial)", logger: logger)
            var found: String?
            for try await f in rows.decode(String.self) { found = f }
            guard let found else { return .unknownSerial }
            fingerprint = found
        }
        let rows = try await client.query(
            "INSERT INTO revoked_certificates (fingerprint, reason) VALUES (\(fingerprint), \(reason)) ON CONFLICT (fingerprint) DO NOTHING RETURNING 1",
            logger: logger
        )
        for try await _ in rows { return .revoked(fingerprint: fingerprint) }
        return .alreadyRevoked(fingerprint: fingerprint)
    }

    // MARK: Signing requests

    public struct SigningRequest: Sendable {
        public var id: Int64
        public var stationId: String
        public var csr: String
        public var use: CertificateUse
        public var attempts: Int
        /// The certificate chain already made for it (PEM), when a earlier attempt made one.
        public var certificate: String?
        /// The OCPP version the station last spoke.
        public var ocppVersion: String?
    }

    /// Claims the next due request: it is not due again for `lease` (a node that dies mid-way leaves it to another).
    public func claimSigningRequest(lease: Duration) async throws -> SigningRequest? {
        try await client.withTransaction(logger: logger) { conn in
            let rows = try await conn.query(
                """
                UPDATE certificate_signing_requests r SET attempts = r.attempts + 1, next_attempt_at = now() + \(lease.seconds) * interval '1 second'
                WHERE r.id = (SELECT id FROM certificate_signing_requests WHERE state = 'pending' AND next_attempt_at <= now()
                              ORDER BY next_attempt_at FOR UPDATE SKIP LOCKED LIMIT 1)
                RETURNING r.id, r.station_id, r.csr, r.certificate_use, r.attempts, r.certificate, (SELECT ocpp_version FROM stations WHERE id = r.station_id)
                """,
                logger: logger
            )
            for try await (id, station, csr, use, attempts, certificate, version) in rows.decode((Int64, String, String, String, Int, String?, String?).self) {
                return SigningRequest(
                    id: id, stationId: station, csr: csr, use: CertificateUse(rawValue: use) ?? .chargingStation, attempts: attempts, certificate: certificate,
                    ocppVersion: version
                )
            }
            return nil
        }
    }

    /// Keeps the certificate made for a request, and records it among the issued ones, in one transaction: a retry
    /// sends the same certificate again.
    public func recordIssued(requestId: Int64, stationId: String, use: CertificateUse, chainPEM: String, leaf: IssuedCertificate) async throws {
        try await client.withTransaction(logger: logger) { conn in
            try await conn.query("UPDATE certificate_signing_requests SET certificate = \(chainPEM) WHERE id = \(requestId)", logger: logger)
            try await conn.query(
                """
                INSERT INTO station_certificates (fingerprint, station_id, serial, certificate_use, subject, not_before, not_after, pem, request_id)
                VALUES (\(leaf.fingerprint), \(stationId), \(leaf.serial), \(use.rawValue), \(leaf.subject), \(leaf.notBefore), \(leaf.notAfter), \(leaf.pem), \(requestId))
                ON CONFLICT (fingerprint) DO NOTHING
                """,
                logger: logger
            )
        }
    }

    public struct IssuedCertificate: Sendable, Codable, Equatable {
        public var fingerprint: String
        public var serial: String
        public var subject: String
        public var notBefore: Date
        public var notAfter: Date
        public var pem: String

        public init(fingerprint: String, serial: String, subject: String, notBefore: Date, notAfter: Date, pem: String) {
            self.fingerprint = fingerprint
            self.serial = serial
            self.subject = subject
            self.notBefore = notBefore
            self.notAfter = notAfter
            self.pem = pem
        }
    }

    public enum RequestOutcome: String, Sendable { case accepted, rejected, failed }

    /// Ends a request; `pending` with a later attempt when `retryIn` is given.
    public func finish(requestId: Int64, _ outcome: RequestOutcome, error: String?) async throws {
        try await client.query(
            "UPDATE certificate_signing_requests SET state = \(outcome.rawValue), last_error = \(error), done_at = now() WHERE id = \(requestId) AND state = 'pending'",
            logger: logger
        )
    }

    public func retry(requestId: Int64, in delay: Duration, error: String) async throws {
        try await client.query(
            "UPDATE certificate_signing_requests SET next_attempt_at = now() + \(delay.seconds) * interval '1 second', last_error = \(error) WHERE id = \(requestId) AND state = 'pending'",
            logger: logger
        )
    }

    public struct RequestView: Sendable, Codable {
        public var id: Int64
        public var certificateUse: String
        public var receivedAt: Date
        public var state: String
        public var attempts: Int
        public var lastError: String?
        public var doneAt: Date?
    }

    public struct CertificateView: Sendable, Codable {
        public var fingerprint: String
        public var serial: String
        public var certificateUse: String
        public var subject: String
        public var notBefore: Date
        public var notAfter: Date
        public var issuedAt: Date
        public var revokedAt: Date?
        public var renewalTriggeredAt: Date?
    }

    /// A station's signing requests and issued certificates, newest first.
    public func station(_ stationId: String) async throws -> (requests: [RequestView], certificates: [CertificateView]) {
        var requests: [RequestView] = []
        let r = try await client.query(
            """
            SELECT id, certificate_use, received_at, state, attempts, last_error, done_at FROM certificate_signing_requests
            WHERE station_id = \(stationId) ORDER BY received_at DESC, id DESC LIMIT 100
            """,
            logger: logger
        )
        for try await (id, use, at, state, attempts, error, done) in r.decode((Int64, String, Date, String, Int, String?, Date?).self) {
            requests.append(RequestView(id: id, certificateUse: use, receivedAt: at, state: state, attempts: attempts, lastError: error, doneAt: done))
        }
        var certificates: [CertificateView] = []
        let c = try await client.query(
            """
            SELECT c.fingerprint, c.serial, c.certificate_use, c.subject, c.not_before, c.not_after, c.issued_at, v.revoked_at, c.renewal_triggered_at
            FROM station_certificates c LEFT JOIN revoked_certificates v ON v.fingerprint = c.fingerprint
            WHERE c.station_id = \(stationId) ORDER BY c.issued_at DESC LIMIT 100
            """,
            logger: logger
        )
        for try await (f, serial, use, subject, nb, na, issued, revoked, renewal) in c.decode((String, String, String, String, Date, Date, Date, Date?, Date?).self) {
            certificates.append(
                CertificateView(fingerprint: f, serial: serial, certificateUse: use, subject: subject, notBefore: nb, notAfter: na, issuedAt: issued, revokedAt: revoked, renewalTriggeredAt: renewal)
            )
        }
        return (requests, certificates)
    }

    // MARK: Renewal

    public struct Renewal: Sendable {
        public var stationId: String
        public var fingerprint: String
        public var use: CertificateUse
        public var notAfter: Date
        public var ocppVersion: String?
    }

    /// The newest unrevoked certificate of each station and use that ends within `window`, whose renewal was not
    /// asked for in the last `again`; each is marked as asked in the same statement (one node asks).
    public func claimRenewals(within window: Duration, again: Duration, limit: Int = 100) async throws -> [Renewal] {
        let rows = try await client.query(
            """
            WITH newest AS (
                -- Only stations online now: one that is away is asked when it is back, and never holds a place meanwhile.
                SELECT DISTINCT ON (c.station_id, c.certificate_use) c.fingerprint
                FROM station_certificates c JOIN stations s ON s.id = c.station_id AND s.decommissioned_at IS NULL AND s.online
                WHERE NOT EXISTS (SELECT 1 FROM revoked_certificates v WHERE v.fingerprint = c.fingerprint)
                ORDER BY c.station_id, c.certificate_use, c.not_after DESC
            ), due AS (
                SELECT c.fingerprint FROM station_certificates c JOIN newest n ON n.fingerprint = c.fingerprint
                WHERE c.not_after < now() + \(window.seconds) * interval '1 second'
                  AND (c.renewal_triggered_at IS NULL OR c.renewal_triggered_at < now() - \(again.seconds) * interval '1 second')
                ORDER BY c.not_after LIMIT \(limit)
                FOR UPDATE OF c SKIP LOCKED
            )
            UPDATE station_certificates c SET renewal_triggered_at = now() FROM due WHERE c.fingerprint = due.fingerprint
            RETURNING c.station_id, c.fingerprint, c.certificate_use, c.not_after, (SELECT ocpp_version FROM stations WHERE id = c.station_id)
            """,
            logger: logger
        )
        var out: [Renewal] = []
        for try await (station, fingerprint, use, notAfter, version) in rows.decode((String, String, String, Date, String?).self) {
            out.append(Renewal(stationId: station, fingerprint: fingerprint, use: CertificateUse(rawValue: use) ?? .chargingStation, notAfter: notAfter, ocppVersion: version))
        }
        return out
    }

    /// Forgets that a renewal was asked for (the station could not be told), so that it is asked again.
    public func unmarkRenewal(fingerprint: String) async throws {
        try await client.query("UPDATE station_certificates SET renewal_triggered_at = NULL WHERE fingerprint = \(fingerprint)", logger: logger)
    }

    // MARK: Contract certificates (Plug & Charge)

    public func setContractStatus(_ id: CertificateID, status: CertificateStatus, eMAID: String?, reason: String?) async throws {
        guard status != .unknown else {
            try await client.query(
                """
                DELETE FROM contract_certificate_status WHERE hash_algorithm = \(id.hashAlgorithm) AND issuer_name_hash = \(id.issuerNameHash)
                  AND issuer_key_hash = \(id.issuerKeyHash) AND serial = \(id.serialNumber)
                """,
                logger: logger
            )
            return
        }
        try await client.query(
            """
            INSERT INTO contract_certificate_status (hash_algorithm, issuer_name_hash, issuer_key_hash, serial, status, emaid, reason)
            VALUES (\(id.hashAlgorithm), \(id.issuerNameHash), \(id.issuerKeyHash), \(id.serialNumber), \(status.rawValue), \(eMAID), \(reason))
            ON CONFLICT (hash_algorithm, issuer_name_hash, issuer_key_hash, serial)
            DO UPDATE SET status = excluded.status, emaid = coalesce(excluded.emaid, contract_certificate_status.emaid), reason = excluded.reason, updated_at = now()
            """,
            logger: logger
        )
    }

    public func contractStatus(_ id: CertificateID) async throws -> (status: CertificateStatus, eMAID: String?) {
        let rows = try await client.query(
            """
            SELECT status, emaid FROM contract_certificate_status WHERE hash_algorithm = \(id.hashAlgorithm) AND issuer_name_hash = \(id.issuerNameHash)
              AND issuer_key_hash = \(id.issuerKeyHash) AND serial = \(id.serialNumber)
            """,
            logger: logger
        )
        for try await (status, eMAID) in rows.decode((String, String?).self) { return (CertificateStatus(rawValue: status) ?? .unknown, eMAID) }
        return (.unknown, nil)
    }
}

/// The local status list as a `CertificateStatusSource`; a database that does not answer gives `unknown`.
public struct StatusListSource: CertificateStatusSource {
    public let repository: SecurityRepository
    public let timeout: Duration

    public init(repository: SecurityRepository, timeout: Duration) {
        self.repository = repository
        self.timeout = timeout
    }

    public func eMAID(of id: CertificateID) async -> String? {
        (try? await Deadline.run(within: timeout) { [repository] in try await repository.contractStatus(id) })?.eMAID ?? nil
    }

    public func status(of id: CertificateID, responder: String?) async -> CertificateStatus {
        await withTaskGroup(of: CertificateStatus?.self) { group in
            group.addTask { (try? await repository.contractStatus(id))?.status ?? .unknown }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .unknown
        }
    }
}
