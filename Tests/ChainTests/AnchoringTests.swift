import Chain
import Foundation
import Testing

/// Against a real local EVM: deploy, anchor, find, reject; and the faults the anchoring must survive.
@Suite(.enabled(if: EVMNode.available, "needs Python with eth-tester (Scripts/test makes .venv)"))
struct AnchoringTests {
    func root(_ seed: String) -> [UInt8] { Keccak256.hash(Array(seed.utf8)) }

    /// Ticks the anchorer (mining a block between ticks) until the job is final or failed.
    func driveToEnd(_ anchorer: Anchorer, _ store: InMemoryAnchorStore, _ id: UUID, _ node: EVMNode, rounds: Int = 60, mine: Bool = true) async throws -> AnchorJob {
        for _ in 0..<rounds {
            await anchorer.tick()
            let job = try #require(await store.job(id: id))
            if job.isFinished { return job }
            if mine { try await node.mine() }
        }
        return try #require(await store.job(id: id))
    }

    @Test func deployAnchorFindAndReject() async throws {
        let node = try EVMNode()
        let contract = try await ContractDeployer.deployAnchor(rpc: node.rpc, key: EVMNode.owner)
        let store = InMemoryAnchorStore()
        let anchorer = Anchorer(rpc: node.rpc, key: EVMNode.owner, contract: contract, store: store)
        let r = root("batch-1")
        let job = try await anchorer.enqueue(root: r, count: 5, uri: "https://voltaic.example/batches/1")
        let done = try await driveToEnd(anchorer, store, job.id, node)
        guard case .final(let inclusion) = done.state else {
            Issue.record("not final: \(done.state)")
            return
        }
        // Found again by root alone.
        let logs = try await node.rpc.logs(address: contract, topics: [AnchorABI.eventTopic, r])
        #expect(logs.count == 1)
        let event = try #require(AnchorABI.decodeAnchored(topics: logs[0].topics, data: logs[0].data))
        #expect(event == AnchorABI.AnchoredEvent(root: r, count: 5, uri: "https://voltaic.example/batches/1"))
        #expect(logs[0].transactionHash == inclusion.transactionHash && logs[0].blockHash == inclusion.blockHash)

        // A duplicate root and a non-owner are refused by the contract.
        let again = AnchorABI.encodeAnchor(root: r, count: 5, uri: "x")
        await #expect(throws: RPCError.self) { try await node.rpc.estimateGas(from: EVMNode.owner.address, to: contract, data: again) }
        do {
            _ = try await node.rpc.estimateGas(from: EVMNode.owner.address, to: contract, data: again)
        } catch {
            #expect(error.code == .executionReverted && error.message.contains("duplicate root"))
        }
        let fresh = AnchorABI.encodeAnchor(root: root("other"), count: 1, uri: "x")
        do {
            _ = try await node.rpc.estimateGas(from: EVMNode.stranger.address, to: contract, data: fresh)
            Issue.record("a non-owner could anchor")
        } catch {
            #expect(error.code == .executionReverted && error.message.contains("not owner"))
        }
        // Enqueuing the same root again does not send a second transaction: the contract already has it.
        let nonceBefore = try await node.rpc.transactionCount(EVMNode.owner.address, block: "latest")
        let duplicate = try await anchorer.enqueue(root: r, count: 5, uri: "https://voltaic.example/batches/1")
        let dupDone = try await driveToEnd(anchorer, store, duplicate.id, node)
        #expect(dupDone.inclusion?.transactionHash == inclusion.transactionHash)
        #expect(try await node.rpc.transactionCount(EVMNode.owner.address, block: "latest") == nonceBefore)
    }

    @Test func aStuckTransactionIsFeeBumpedAndMinedOnce() async throws {
        let node = try EVMNode()
        let contract = try await ContractDeployer.deployAnchor(rpc: node.rpc, key: EVMNode.owner)
        // The node now holds transactions tipping less than 1.5 gwei; ours start at 1 gwei.
        _ = try await node.control("shim_setMinPriorityFee", [.string(Quantity.encode(UInt64(1_500_000_000)))])
        let store = InMemoryAnchorStore()
        let anchorer = Anchorer(rpc: node.rpc, key: EVMNode.owner, contract: contract, store: store, policy: .init(confirmations: 2, stuckAfterBlocks: 2))
        let nonceBefore = try await node.rpc.transactionCount(EVMNode.owner.address, block: "latest")
        let r = root("stuck")
        let job = try await anchorer.enqueue(root: r, count: 1, uri: "u")
        let done = try await driveToEnd(anchorer, store, job.id, node)
        guard case .final(let inclusion) = done.state else {
            Issue.record("not final: \(done.state)")
            return
        }
        #expect(done.attempts.count > 1, "the transaction should have been replaced")
        let tips = done.attempts.map(\.transaction.maxPriorityFeePerGas)
        for (a, b) in zip(tips, tips.dropFirst()) { #expect(b * 1000 >= a * 1125) }  // each bump ≥ 12.5 %
        #expect(Set(done.attempts.map(\.raw)).count == done.attempts.count)
        // Mined once: one nonce used, one log, the included hash is one of the attempts, nothing left pending.
        #expect(try await node.rpc.transactionCount(EVMNode.owner.address, block: "latest") == nonceBefore + 1)
        #expect(try await node.rpc.logs(address: contract, topics: [AnchorABI.eventTopic, r]).count == 1)
        #expect(done.attempts.map(\.hash).contains(inclusion.transactionHash))
        #expect(try await node.control("shim_pending").array?.isEmpty == true)
    }

    @Test func aReorgDropsTheAnchorAndItIsReincluded() async throws {
        let node = try EVMNode(arguments: ["--finality-depth", "20"])
        let contract = try await ContractDeployer.deployAnchor(rpc: node.rpc, key: EVMNode.owner)
        let store = InMemoryAnchorStore()
        let anchorer = Anchorer(rpc: node.rpc, key: EVMNode.owner, contract: contract, store: store, policy: .init(confirmations: 5, stuckAfterBlocks: 3))
        let r = root("reorg")
        let job = try await anchorer.enqueue(root: r, count: 2, uri: "u")
        var first: AnchorJob.Inclusion?
        for _ in 0..<5 {
            await anchorer.tick()
            if case .included(let i) = try #require(await store.job(id: job.id)).state { first = i; break }
        }
        let original = try #require(first)
        // The block holding the anchor is replaced by two new ones; the transaction is lost (not put back in the pool).
        #expect(try await node.rpc.blockNumber() == original.blockNumber)
        _ = try await node.control("shim_reorg", [.int(1), .bool(false)])
        #expect(try await node.rpc.transactionReceipt(original.transactionHash) == nil)
        #expect(try await node.rpc.logs(address: contract, topics: [AnchorABI.eventTopic, r]).isEmpty)
        let done = try await driveToEnd(anchorer, store, job.id, node)
        guard case .final(let inclusion) = done.state else {
            Issue.record("not final: \(done.state)")
            return
        }
        #expect(inclusion.transactionHash == original.transactionHash)  // the same signed bytes, rebroadcast
        #expect(inclusion.blockHash != original.blockHash)
        #expect(try await node.rpc.logs(address: contract, topics: [AnchorABI.eventTopic, r]).count == 1)
    }

    @Test func anRPCOutageIsSurvived() async throws {
        let node = try EVMNode()
        let contract = try await ContractDeployer.deployAnchor(rpc: node.rpc, key: EVMNode.owner)
        let store = InMemoryAnchorStore()
        // AsyncHTTPClient keeps retrying a refused connection until the request's deadline, so an outage
        // shorter than the timeout is just a slow answer. This one outlasts it.
        let rpc = EthereumRPC(url: node.url, timeout: .seconds(1), retries: 1, retryDelay: .milliseconds(50))
        let anchorer = Anchorer(rpc: rpc, key: EVMNode.owner, contract: contract, store: store, policy: .init(confirmations: 2))
        let job = try await anchorer.enqueue(root: root("outage"), count: 3, uri: "u")
        _ = try await node.control("shim_outage", [.string("8")])  // longer than the two failing calls below take
        try await Task.sleep(for: .milliseconds(200))
        // While the node is gone, calls fail, ticks fail quietly and the job waits.
        await #expect(throws: RPCError.self) { try await rpc.blockNumber() }
        await anchorer.tick()
        #expect(try #require(await store.job(id: job.id)).state == .queued)
        var final = false
        for _ in 0..<80 where !final {
            await anchorer.tick()
            final = try #require(await store.job(id: job.id)).isFinished
            if !final {
                try? await node.mine()
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(final)
        if case .final = try #require(await store.job(id: job.id)).state {} else { Issue.record("not final") }
    }

    @Test func theProofBundleVerifiesOfflineAndOnChainAndTamperingFails() async throws {
        let node = try EVMNode()
        let contract = try await ContractDeployer.deployAnchor(rpc: node.rpc, key: EVMNode.owner)
        let receipts = (0..<5).map { Array(#"{"energyWh":\#(1000 + $0),"salt":"\#(UUID())","session":"S\#($0)"}"#.utf8) }
        let tree = MerkleTree(leaves: receipts)
        let store = InMemoryAnchorStore()
        let anchorer = Anchorer(rpc: node.rpc, key: EVMNode.owner, contract: contract, store: store, policy: .init(confirmations: 2))
        let job = try await anchorer.enqueue(root: tree.root, count: 5, uri: "u")
        let done = try await driveToEnd(anchorer, store, job.id, node)
        let inclusion = try #require(done.inclusion)
        let bundle = ProofBundle(receipt: receipts[3], proof: tree.inclusionProof(leafIndex: 3)!, root: tree.root, chainId: try await node.rpc.chainId(), contract: contract, inclusion: inclusion)
        let decoded = try ProofBundle.decode(try bundle.encoded())
        #expect(decoded == bundle)
        #expect(try decoded.verifyOffline() == tree.root)
        #expect(try await decoded.verify(using: node.rpc) >= 2)

        var receiptTampered = decoded
        var bytes = receiptTampered.receiptBytes!
        bytes[10] ^= 0x01
        receiptTampered.receipt = Data(bytes).base64EncodedString()
        #expect(throws: ProofVerificationError.receiptNotInTree) { try receiptTampered.verifyOffline() }

        var pathTampered = decoded
        var p = Hex.decode(pathTampered.merkle.path[1])!
        p[0] ^= 0x01
        pathTampered.merkle.path[1] = Hex.encode(p)
        #expect(throws: ProofVerificationError.receiptNotInTree) { try pathTampered.verifyOffline() }

        var wrongBlock = decoded
        wrongBlock.anchor.blockHash = Hex.encode([UInt8](repeating: 7, count: 32))
        await #expect(throws: ProofVerificationError.notInBlock) { try await wrongBlock.verify(using: node.rpc) }
    }

    /// A store that refuses the first save of a signed attempt (a database blip between signing and saving).
    actor FlakyStore: AnchorStore {
        let inner = InMemoryAnchorStore()
        var failed = false
        func save(_ job: AnchorJob) async throws {
            if !failed, !job.attempts.isEmpty {
                failed = true
                throw RPCError(.unavailable, message: "store down")
            }
            await inner.save(job)
        }
        func unfinishedJobs() async throws -> [AnchorJob] { await inner.unfinishedJobs() }
        func job(id: UUID) async throws -> AnchorJob? { await inner.job(id: id) }
    }

    /// The review's nonce gap: a failure between reserving a nonce and saving the signed transaction must leave
    /// that nonce for the retry, not skip it (a transaction with a skipped nonce is never mined).
    @Test func aFailedSaveLeavesNoNonceGap() async throws {
        let node = try EVMNode()
        let contract = try await ContractDeployer.deployAnchor(rpc: node.rpc, key: EVMNode.owner)
        let store = FlakyStore()
        let anchorer = Anchorer(rpc: node.rpc, key: EVMNode.owner, contract: contract, store: store, policy: .init(confirmations: 1))
        let pending = try await node.rpc.transactionCount(EVMNode.owner.address, block: "pending")
        let job = try await anchorer.enqueue(root: root("gap"), count: 1, uri: "u")
        await anchorer.tick()  // signs, fails to save: nothing broadcast
        #expect(await store.failed)
        #expect(try await store.job(id: job.id)?.attempts.isEmpty == true)
        var done: AnchorJob?
        for _ in 0..<20 {
            await anchorer.tick()
            done = try await store.job(id: job.id)
            if done?.isFinished == true { break }
            try await node.mine()
        }
        #expect(done?.nonce == pending)
        guard case .final = done?.state else {
            Issue.record("not final: \(String(describing: done?.state))")
            return
        }
    }

}
