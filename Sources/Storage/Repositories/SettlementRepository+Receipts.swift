public import Chain
public import Foundation
public import PostgresNIO
public import Logging
import Settlement

extension SettlementRepository {
    public struct StoredReceipt: Sendable, Hashable {
        public var id: UUID
        public var transactionId: Int64
        public var body: [UInt8]
        public var signature: [UInt8]
        public var keyId: String
        public var secret: String
        public var tokenSalt: String
        public var batchId: Int64?
        public var leafIndex: Int?
        public var createdAt: Date
    }

    static let receiptColumns = "id, transaction_id, body, signature, key_id, secret, token_salt, batch_id, leaf_index, created_at"

    static func receipt(_ row: PostgresRow) throws -> StoredReceipt {
        let (id, tx, body, sig, key, secret, salt, batch, leaf, created) = try row.decode((UUID, Int64, Data, Data, String, String, String, Int64?, Int32?, Date).self)
        return StoredReceipt(id: id, transactionId: tx, body: Array(body), signature: Array(sig), keyId: key, secret: secret, tokenSalt: salt,
                             batchId: batch, leafIndex: leaf.map(Int.init), createdAt: created)
    }

    public func receipt(id: UUID) async throws -> StoredReceipt? {
        for try await row in try await client.query("SELECT \(unescaped: Self.receiptColumns) FROM receipts WHERE id = \(id)", logger: logger) {
            return try Self.receipt(row)
        }
        return nil
    }

    public func receipt(transactionId: Int64) async throws -> StoredReceipt? {
        for try await row in try await client.query("SELECT \(unescaped: Self.receiptColumns) FROM receipts WHERE transaction_id = \(transactionId)", logger: logger) {
            return try Self.receipt(row)
        }
        return nil
    }

    public func receipts(afterCreated: Date?, limit: Int) async throws -> [StoredReceipt] {
        var out: [StoredReceipt] = []
        for try await row in try await client.query(
            "SELECT \(unescaped: Self.receiptColumns) FROM receipts WHERE \(afterCreated)::timestamptz IS NULL OR created_at > \(afterCreated) ORDER BY created_at, id LIMIT \(limit)",
            logger: logger
        ) { out.append(try Self.receipt(row)) }
        return out
    }

    // MARK: Batches

    /// Batches the oldest unbatched receipts when there are `maxCount` of them or the oldest waited `maxAge`: one
    /// batcher at a time (an advisory lock), the tree's root recorded with its leaves' positions in one
    /// transaction. Returns the batch id, or nil when nothing was due.
    public func batchReceipts(maxCount: Int, maxAge: Duration, root: @Sendable ([[UInt8]]) -> [UInt8]) async throws -> Int64? {
        try await client.withTransaction(logger: logger) { conn in
            guard try await Self.tryLock(conn, Self.batchLock, logger: logger) else { return nil }
            var ids: [UUID] = [], leaves: [[UInt8]] = [], oldest: Date?
            for try await (id, body, created) in try await conn.query(
                "SELECT id, body, created_at FROM receipts WHERE batch_id IS NULL ORDER BY created_at, id LIMIT \(maxCount)", logger: logger
            ).decode((UUID, Data, Date).self) {
                ids.append(id)
                leaves.append(Array(body))
                oldest = oldest ?? created
            }
            guard let oldest, ids.count >= maxCount || Date().timeIntervalSince(oldest) >= maxAge.seconds else { return nil }
            let r = root(leaves)
            var batch: Int64?
            for try await id in try await conn.query(
                "INSERT INTO receipt_batches (root, size) VALUES (\(Data(r)), \(ids.count)) RETURNING id", logger: logger
            ).decode(Int64.self) { batch = id }
            guard let batch else { throw MissingRow("a new batch") }
            try await conn.query(
                "UPDATE receipts r SET batch_id = \(batch), leaf_index = x.i - 1 FROM unnest(\(ids)::uuid[]) WITH ORDINALITY AS x(id, i) WHERE r.id = x.id",
                logger: logger
            )
            return batch
        }
    }

    public struct Batch: Sendable, Hashable {
        public var id: Int64
        public var root: [UInt8]
        public var leaves: [[UInt8]]
        public var anchorJobId: UUID?
    }

    public func batch(id: Int64) async throws -> Batch? {
        try await client.withConnection { conn in
            var head: (Data, UUID?)?
            for try await row in try await conn.query("SELECT root, anchor_job_id FROM receipt_batches WHERE id = \(id)", logger: logger).decode((Data, UUID?).self) {
                head = row
            }
            guard let (root, job) = head else { return nil }
            var leaves: [[UInt8]] = []
            for try await body in try await conn.query("SELECT body FROM receipts WHERE batch_id = \(id) ORDER BY leaf_index", logger: logger).decode(Data.self) {
                leaves.append(Array(body))
            }
            return Batch(id: id, root: Array(root), leaves: leaves, anchorJobId: job)
        }
    }

    /// Batches whose root has no anchor job yet, oldest first.
    public func unanchoredBatches(limit: Int = 100) async throws -> [(id: Int64, root: [UInt8], size: Int)] {
        var out: [(Int64, [UInt8], Int)] = []
        for try await (id, root, size) in try await client.query(
            "SELECT id, root, size FROM receipt_batches WHERE anchor_job_id IS NULL ORDER BY id LIMIT \(limit)", logger: logger
        ).decode((Int64, Data, Int32).self) { out.append((id, Array(root), Int(size))) }
        return out
    }

    static let batchLock: Int64 = 0x766F_6C74_6261_7463  // "voltbatc"
    static let anchorLock: Int64 = 0x766F_6C74_616E_6368  // "voltanch"

    static func tryLock(_ conn: PostgresConnection, _ key: Int64, logger: Logger) async throws -> Bool {
        for try await locked in try await conn.query("SELECT pg_try_advisory_xact_lock(\(key))", logger: logger).decode(Bool.self) { return locked }
        return false
    }

    // MARK: Lapsed holds

    /// Releases holds that an Authorize placed and no transaction took before they lapsed. Returns how many.
    public func releaseLapsedHolds(now: Date = Date(), limit: Int = 500) async throws -> Int {
        try await client.withTransaction(logger: logger) { conn in
            var lapsed: [(Int64, String, String, String)] = []
            for try await row in try await conn.query(
                """
                SELECT id, driver_id, currency, amount::text FROM holds WHERE state = 'held' AND transaction_id IS NULL AND expires_at <= \(now)
                ORDER BY expires_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
                """,
                logger: logger
            ).decode((Int64, String, String, String).self) { lapsed.append(row) }
            for (id, driver, currency, amount) in lapsed {
                try await LedgerSQL.post(conn, CapturePlan.release(id: id, driver: driver, currency: currency, amount: try LedgerSQL.decimal(amount)), holdId: id, logger: logger)
                try await conn.query("UPDATE holds SET state = 'expired', settled_at = \(now) WHERE id = \(id)", logger: logger)
            }
            return lapsed.count
        }
    }
}

/// Anchor jobs in PostgreSQL (`anchor_jobs`), as the Chain library keeps them: every save is durable before the
/// anchorer goes on, so a crash resumes from the last step saved.
public struct PostgresAnchorStore: AnchorStore {
    public let client: PostgresClient
    public let logger: Logger
    /// Where the anchoring lock (a session lock) is held: `client` unless a pooler in transaction mode stands in front of it.
    public var sessionClient: PostgresClient?

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func save(_ job: AnchorJob) async throws {
        let body = String(decoding: try JSONEncoder().encode(job), as: UTF8.self)
        try await client.query(
            """
            INSERT INTO anchor_jobs (id, body, finished) VALUES (\(job.id), \(body)::jsonb, \(job.isFinished))
            ON CONFLICT (id) DO UPDATE SET body = excluded.body, finished = excluded.finished, updated_at = now()
            """,
            logger: logger
        )
    }

    public func unfinishedJobs() async throws -> [AnchorJob] {
        var out: [AnchorJob] = []
        for try await body in try await client.query("SELECT body::text FROM anchor_jobs WHERE NOT finished ORDER BY updated_at, id", logger: logger).decode(String.self) {
            out.append(try JSONDecoder().decode(AnchorJob.self, from: Data(body.utf8)))
        }
        return out
    }

    public func job(id: UUID) async throws -> AnchorJob? {
        for try await body in try await client.query("SELECT body::text FROM anchor_jobs WHERE id = \(id)", logger: logger).decode(String.self) {
            return try JSONDecoder().decode(AnchorJob.self, from: Data(body.utf8))
        }
        return nil
    }

    /// A batch's anchor job, made and linked in one transaction: a batch is anchored by one job only.
    public func enqueue(batchId: Int64, root: [UInt8], count: Int, uri: String) async throws -> AnchorJob? {
        try await client.withTransaction(logger: logger) { conn in
            let job = AnchorJob(root: root, count: UInt64(count), uri: uri)
            let linked = try await conn.query(
                "UPDATE receipt_batches SET anchor_job_id = \(job.id) WHERE id = \(batchId) AND anchor_job_id IS NULL RETURNING id", logger: logger
            ).collect()
            guard !linked.isEmpty else { return nil }
            let body = String(decoding: try JSONEncoder().encode(job), as: UTF8.self)
            try await conn.query("INSERT INTO anchor_jobs (id, body, finished) VALUES (\(job.id), \(body)::jsonb, false)", logger: logger)
            return job
        }
    }

    /// Runs `body` while holding the anchoring lock (one nonce writer per key across nodes), or returns false at
    /// once when another node holds it. The lock is a session lock on one pooled connection: it goes with the
    /// connection if the node dies.
    public func whileAnchoringLock(_ body: @Sendable () async -> Void) async throws -> Bool {
        try await (sessionClient ?? client).withConnection { conn in
            var locked = false
            for try await l in try await conn.query("SELECT pg_try_advisory_lock(\(SettlementRepository.anchorLock))", logger: logger).decode(Bool.self) { locked = l }
            guard locked else { return false }
            await body()
            _ = try? await conn.query("SELECT pg_advisory_unlock(\(SettlementRepository.anchorLock))", logger: logger).collect()
            return true
        }
    }
}

extension SettlementRepository {
    public struct AnchorStatus: Sendable {
        public var batchId: Int64
        public var size: Int
        public var root: [UInt8]
        public var job: AnchorJob?
    }

    /// Every batch, newest first, with its anchor job's state.
    public func anchorStatus(limit: Int = 100) async throws -> [AnchorStatus] {
        var out: [AnchorStatus] = []
        for try await (id, size, root, body) in try await client.query(
            """
            SELECT b.id, b.size, b.root, j.body::text FROM receipt_batches b LEFT JOIN anchor_jobs j ON j.id = b.anchor_job_id
            ORDER BY b.id DESC LIMIT \(limit)
            """,
            logger: logger
        ).decode((Int64, Int32, Data, String?).self) {
            out.append(AnchorStatus(batchId: id, size: Int(size), root: Array(root), job: try body.map { try JSONDecoder().decode(AnchorJob.self, from: Data($0.utf8)) }))
        }
        return out
    }
}
