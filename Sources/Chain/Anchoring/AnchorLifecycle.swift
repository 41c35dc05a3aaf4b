/// The anchoring lifecycle as a pure function: what the chain looks like now, in; what to do, out.
/// No I/O, no clock: `Anchorer` gathers the observation and carries out the decision.
public enum AnchorLifecycle {
    public struct Policy: Sendable, Hashable {
        /// Confirmations that make an inclusion final where the node has no `finalized` tag.
        public var confirmations: UInt64
        /// Blocks without inclusion after which the same payload is re-signed with higher fees.
        public var stuckAfterBlocks: UInt64
        /// Fee increase of a replacement, in per mille (125 = 12.5 %, above geth's 10 %).
        public var bumpPerMille: UInt128

        public init(confirmations: UInt64 = 3, stuckAfterBlocks: UInt64 = 3, bumpPerMille: UInt128 = 125) {
            self.confirmations = confirmations
            self.stuckAfterBlocks = stuckAfterBlocks
            self.bumpPerMille = bumpPerMille
        }
    }

    public struct Observation: Sendable, Hashable {
        public var head: UInt64
        /// The node's `finalized` block number, when it has the tag.
        public var finalized: UInt64?
        /// A receipt found for one of the job's attempts.
        public var receipt: TransactionReceipt?
        /// The canonical block hash at the receipt's height (or at the recorded inclusion's height).
        public var canonicalHash: [UInt8]?
        /// The Anchored log's index in the receipt, when it carries one for this root.
        public var logIndex: UInt64?

        public init(head: UInt64, finalized: UInt64?, receipt: TransactionReceipt?, canonicalHash: [UInt8]?, logIndex: UInt64?) {
            self.head = head
            self.finalized = finalized
            self.receipt = receipt
            self.canonicalHash = canonicalHash
            self.logIndex = logIndex
        }
    }

    public enum Decision: Sendable, Hashable {
        case wait
        /// Re-sign the same payload and nonce with fees raised by the policy's bump.
        case bump
        case included(AnchorJob.Inclusion)
        case final(AnchorJob.Inclusion)
        /// The inclusion is gone from the canonical chain: back to sent, rebroadcast.
        case reorged
        case failed(String)
    }

    public static func decide(_ job: AnchorJob, _ o: Observation, policy: Policy) -> Decision {
        switch job.state {
        case .queued, .final, .failed:
            return .wait
        case .sent:
            guard let last = job.attempts.last else { return .wait }
            if let r = o.receipt, r.blockHash == o.canonicalHash {
                guard r.status else { return .failed("the anchor transaction reverted") }
                let inclusion = AnchorJob.Inclusion(transactionHash: r.transactionHash, blockNumber: r.blockNumber, blockHash: r.blockHash, logIndex: o.logIndex ?? 0)
                return isFinal(inclusion.blockNumber, o, policy) ? .final(inclusion) : .included(inclusion)
            }
            if o.receipt == nil, o.head >= last.sentAtBlock + policy.stuckAfterBlocks { return .bump }
            return .wait
        case .included(let inclusion):
            guard let r = o.receipt, r.blockHash == inclusion.blockHash, o.canonicalHash == inclusion.blockHash else { return .reorged }
            return isFinal(inclusion.blockNumber, o, policy) ? .final(inclusion) : .wait
        }
    }

    static func isFinal(_ block: UInt64, _ o: Observation, _ policy: Policy) -> Bool {
        if let finalized = o.finalized, block <= finalized { return true }
        return o.head + 1 >= block + policy.confirmations
    }
}
