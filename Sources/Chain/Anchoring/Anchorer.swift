import Foundation
public import Logging

/// Drives anchor jobs to finality: one writer per key, signed bytes persisted before broadcast, stuck
/// transactions re-signed with the same nonce and higher fees, "nonce too low" read as an earlier attempt
/// having been mined, reorgs detected by block hash and answered by rebroadcasting.
public actor Anchorer {
    nonisolated public let rpc: EthereumRPC
    nonisolated public let contract: Address
    public let policy: AnchorLifecycle.Policy
    let key: PrivateKey
    let store: any AnchorStore
    let logger: Logger
    private var chainId: UInt64?
    private var nextNonce: UInt64?
    /// Sent jobs whose latest attempt this process has broadcast. A job saved as sent by an earlier process may never
    /// have reached the node (a crash between save and broadcast): its signed bytes go out again once.
    private var broadcastHere: Set<UUID> = []

    public init(rpc: EthereumRPC, key: PrivateKey, contract: Address, store: any AnchorStore, policy: AnchorLifecycle.Policy = .init(), logger: Logger = Logger(label: "voltaic.anchor")) {
        self.rpc = rpc
        self.key = key
        self.contract = contract
        self.store = store
        self.policy = policy
        self.logger = logger
    }

    /// Accepts a root for anchoring; it is signed and sent on the next tick.
    public func enqueue(root: [UInt8], count: UInt64, uri: String) async throws -> AnchorJob {
        precondition(root.count == 32, "a root is 32 bytes")
        let job = AnchorJob(root: root, count: count, uri: uri)
        try await store.save(job)
        return job
    }

    /// Runs `tick` every `interval` until cancelled; node errors are logged and retried.
    public func run(every interval: Duration) async {
        while !Task.isCancelled {
            await tick()
            try? await Task.sleep(for: interval)
        }
    }

    /// One pass over every unfinished job. Errors from the node leave the job as it was, for the next tick.
    public func tick() async {
        let jobs: [AnchorJob]
        do { jobs = try await store.unfinishedJobs() } catch {
            logger.error("cannot load anchor jobs", metadata: ["error.type": "\(String(reflecting: error))"])
            return
        }
        for job in jobs {
            do {
                try await advance(job)
            } catch {
                logger.warning("anchor job did not advance", metadata: ["anchor.job": "\(job.id)", "error.type": "\(String(reflecting: error))"])
            }
        }
    }

    // MARK: Steps

    private func advance(_ job: AnchorJob) async throws {
        var job = job
        let id = try await verifiedChainId()
        if case .queued = job.state {
            if let existing = try await alreadyAnchored(job.root) {
                job.state = .included(existing)
                try await store.save(job)
            } else {
                try await send(&job, chainId: id)
                return
            }
        }
        if case .sent = job.state, !broadcastHere.contains(job.id) {
            // Once per process; a refusal (fees now too low, say) must not stop the receipt check and the bump below.
            do { try await broadcastLatest(job) } catch {
                logger.notice("rebroadcast of a saved attempt refused; going on", metadata: ["anchor.job": "\(job.id)", "error.type": "\(String(reflecting: error))"])
            }
            broadcastHere.insert(job.id)
        }
        let head = try await rpc.blockNumber()
        let finalized = try? await rpc.block("finalized")?.number
        var receipt: TransactionReceipt?
        for attempt in job.attempts.reversed() {
            if let r = try await rpc.transactionReceipt(attempt.hash) {
                receipt = r
                break
            }
        }
        if receipt == nil, let inclusion = job.inclusion {
            receipt = try await rpc.transactionReceipt(inclusion.transactionHash)
        }
        let height = receipt?.blockNumber ?? job.inclusion?.blockNumber
        var canonical: [UInt8]?
        if let height { canonical = try await rpc.block(number: height)?.hash }
        let logIndex = receipt?.logs.first { $0.address == contract && $0.topics.count == 2 && $0.topics[1] == job.root }?.logIndex
        let observation = AnchorLifecycle.Observation(head: head, finalized: finalized, receipt: receipt, canonicalHash: canonical, logIndex: logIndex)

        switch AnchorLifecycle.decide(job, observation, policy: policy) {
        case .wait:
            return
        case .included(let inclusion):
            job.state = .included(inclusion)
            logger.info("anchor included", metadata: ["anchor.job": "\(job.id)", "eth.block": "\(inclusion.blockNumber)"])
            try await store.save(job)
            CrashPoint.hit("anchor.included")
            return
        case .final(let inclusion):
            job.state = .final(inclusion)
            logger.info("anchor final", metadata: ["anchor.job": "\(job.id)", "eth.block": "\(inclusion.blockNumber)"])
        case .failed(let reason):
            job.state = .failed(reason)
            logger.error("anchor failed", metadata: ["anchor.job": "\(job.id)", "reason": "\(reason)"])
        case .bump:
            try await bump(&job, chainId: id, head: head)
            return
        case .reorged:
            logger.notice("anchor left the canonical chain; rebroadcasting", metadata: ["anchor.job": "\(job.id)"])
            job.state = .sent
            if var last = job.attempts.popLast() {
                last.sentAtBlock = head
                job.attempts.append(last)
            }
            try await store.save(job)
            try await broadcastLatest(job)
            return
        }
        try await store.save(job)
    }

    private func verifiedChainId() async throws -> UInt64 {
        let id = try await rpc.chainId()
        if let known = chainId, known != id { throw RPCError(.wrongChain, message: "chain id changed from \(known) to \(id)") }
        chainId = id
        return id
    }

    /// The inclusion of `root` when the contract already has it (after a crash between send and save).
    private func alreadyAnchored(_ root: [UInt8]) async throws -> AnchorJob.Inclusion? {
        let result = try await rpc.call(to: contract, data: AnchorABI.encodeAnchoredAt(root: root))
        guard let block = AnchorABI.uint64(result, at: 0), block > 0 else { return nil }
        let logs = try await rpc.logs(address: contract, topics: [AnchorABI.eventTopic, root], fromBlock: block, toBlock: Quantity.encode(block))
        guard let log = logs.first else { return nil }
        return AnchorJob.Inclusion(transactionHash: log.transactionHash, blockNumber: log.blockNumber, blockHash: log.blockHash, logIndex: log.logIndex)
    }

    /// The nonce the next new job takes. It is only taken (`nextNonce` advanced) once the job signed with it is saved:
    /// a failure in between leaves the nonce free for the next job, never a gap that no transaction fills.
    private func nextFreeNonce() async throws -> UInt64 {
        let pending = try await rpc.transactionCount(key.address, block: "pending")
        // A job signed and saved whose broadcast never reached the node still owns its nonce.
        let saved = try await store.unfinishedJobs().compactMap(\.nonce).max().map { $0 + 1 } ?? 0
        return max(pending, nextNonce ?? 0, saved)
    }

    private func send(_ job: inout AnchorJob, chainId: UInt64) async throws {
        let data = AnchorABI.encodeAnchor(root: job.root, count: job.count, uri: job.uri)
        let gas = try await rpc.estimateGas(from: key.address, to: contract, data: data)
        let fees = try await currentFees(gasLimit: gas + gas / 5)
        let nonce = try await nextFreeNonce()
        job.nonce = nonce
        try await sign(&job, fees: fees, chainId: chainId, head: try await rpc.blockNumber())
        nextNonce = nonce + 1
        CrashPoint.hit("anchor.signed")
        try await broadcastLatest(job)
        CrashPoint.hit("anchor.broadcast")
    }

    /// Fees for a new transaction: EIP-1559 where blocks carry a base fee, legacy gas price otherwise.
    private func currentFees(gasLimit: UInt64) async throws -> AnchorJob.TransactionFees {
        if let base = try await rpc.block("latest")?.baseFeePerGas {
            let tip = (try? await rpc.maxPriorityFeePerGas()) ?? 1_000_000_000
            let next = (try? await rpc.feeHistory(blocks: 1, percentiles: []).baseFeePerGas.last) ?? base
            return .init(legacy: false, gasPrice: 0, maxPriorityFeePerGas: tip, maxFeePerGas: 2 * next + tip, gasLimit: gasLimit)
        }
        return .init(legacy: true, gasPrice: try await rpc.gasPrice(), maxPriorityFeePerGas: 0, maxFeePerGas: 0, gasLimit: gasLimit)
    }

    func transaction(for job: AnchorJob, fees: AnchorJob.TransactionFees, chainId: UInt64) -> Transaction {
        let data = AnchorABI.encodeAnchor(root: job.root, count: job.count, uri: job.uri)
        if fees.legacy {
            return .legacy(.init(chainId: chainId, nonce: job.nonce!, gasPrice: fees.gasPrice, gasLimit: fees.gasLimit, to: contract, data: data))
        }
        return .dynamicFee(.init(chainId: chainId, nonce: job.nonce!, maxPriorityFeePerGas: fees.maxPriorityFeePerGas, maxFeePerGas: fees.maxFeePerGas, gasLimit: fees.gasLimit, to: contract, data: data))
    }

    /// Signs a new attempt and saves it before anything is broadcast.
    private func sign(_ job: inout AnchorJob, fees: AnchorJob.TransactionFees, chainId: UInt64, head: UInt64) async throws {
        let signed = try transaction(for: job, fees: fees, chainId: chainId).signed(with: key)
        job.attempts.append(.init(raw: signed.raw, hash: signed.hash, sentAtBlock: head, transaction: fees))
        job.state = .sent
        try await store.save(job)
    }

    private func bump(_ job: inout AnchorJob, chainId: UInt64, head: UInt64) async throws {
        guard let last = job.attempts.last else { return }
        func raise(_ v: UInt128) -> UInt128 { v + max(1, (v * policy.bumpPerMille + 999) / 1000) }
        var fees = last.transaction
        fees.gasPrice = raise(fees.gasPrice)
        fees.maxPriorityFeePerGas = raise(fees.maxPriorityFeePerGas)
        fees.maxFeePerGas = raise(fees.maxFeePerGas)
        logger.notice("anchor stuck; replacing with higher fees", metadata: ["anchor.job": "\(job.id)", "eth.nonce": "\(job.nonce ?? 0)", "anchor.attempt": "\(job.attempts.count + 1)"])
        try await sign(&job, fees: fees, chainId: chainId, head: head)
        try await broadcastLatest(job)
    }

    private func broadcastLatest(_ job: AnchorJob) async throws {
        guard let last = job.attempts.last else { return }
        let outcome: RPCError.Code?
        do {
            try await rpc.sendRawTransaction(raw: last.raw)
            outcome = nil
        } catch let error {
            outcome = error.code
            guard error.code == .nonceTooLow || error.code == .replacementUnderpriced || error.code == .alreadyKnown else { throw error }
        }
        broadcastHere.insert(job.id)
        if outcome == .nonceTooLow {
            // One of the earlier attempts was mined: the next tick finds its receipt.
            logger.info("nonce already used; an earlier attempt was mined", metadata: ["anchor.job": "\(job.id)"])
        } else if outcome == .replacementUnderpriced {
            logger.notice("replacement refused as underpriced; will bump again", metadata: ["anchor.job": "\(job.id)"])
        }
    }
}
