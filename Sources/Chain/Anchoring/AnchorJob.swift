public import Foundation

/// One Merkle root on its way on chain, with every signed attempt made for its nonce.
public struct AnchorJob: Sendable, Hashable, Codable {
    public enum State: Sendable, Hashable, Codable {
        /// Accepted, not yet signed.
        case queued
        /// Signed and persisted, broadcast (maybe not yet accepted by the node).
        case sent
        /// In a block that is still on the canonical chain, not yet final.
        case included(Inclusion)
        /// Final: N confirmations, or at/below the node's `finalized` block.
        case final(Inclusion)
        case failed(String)
    }

    public struct Attempt: Sendable, Hashable, Codable {
        /// The exact signed bytes, saved before they are broadcast.
        public var raw: [UInt8]
        public var hash: [UInt8]
        public var sentAtBlock: UInt64
        public var transaction: TransactionFees
    }

    /// What a bump needs to rebuild the same payload with higher fees.
    public struct TransactionFees: Sendable, Hashable, Codable {
        public var legacy: Bool
        public var gasPrice: UInt128
        public var maxPriorityFeePerGas: UInt128
        public var maxFeePerGas: UInt128
        public var gasLimit: UInt64
    }

    public struct Inclusion: Sendable, Hashable, Codable {
        public var transactionHash: [UInt8]
        public var blockNumber: UInt64
        public var blockHash: [UInt8]
        public var logIndex: UInt64
    }

    public let id: UUID
    public let root: [UInt8]
    public let count: UInt64
    public let uri: String
    public var nonce: UInt64?
    public var attempts: [Attempt]
    public var state: State

    public init(root: [UInt8], count: UInt64, uri: String) {
        id = UUID()
        self.root = root
        self.count = count
        self.uri = uri
        attempts = []
        state = .queued
    }

    public var isFinished: Bool {
        switch state {
        case .final, .failed: true
        default: false
        }
    }

    public var inclusion: Inclusion? {
        switch state {
        case .included(let i), .final(let i): i
        default: nil
        }
    }
}

/// Where anchor jobs live between ticks and across restarts. The PostgreSQL implementation comes with
/// settlement; `InMemoryAnchorStore` serves tests and single runs.
public protocol AnchorStore: Sendable {
    func save(_ job: AnchorJob) async throws
    func unfinishedJobs() async throws -> [AnchorJob]
    func job(id: UUID) async throws -> AnchorJob?
}

public actor InMemoryAnchorStore: AnchorStore {
    private var jobs: [UUID: AnchorJob] = [:]
    private var order: [UUID] = []

    public init() {}

    public func save(_ job: AnchorJob) {
        if jobs.updateValue(job, forKey: job.id) == nil { order.append(job.id) }
    }

    public func unfinishedJobs() -> [AnchorJob] { order.compactMap { jobs[$0] }.filter { !$0.isFinished } }

    public func job(id: UUID) -> AnchorJob? { jobs[id] }
}
