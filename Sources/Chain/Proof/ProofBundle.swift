public import Foundation

/// What a driver keeps to prove what they paid for: the receipt's exact bytes, its Merkle path to the
/// batch root, and where that root was anchored.
public struct ProofBundle: Sendable, Hashable, Codable {
    public static let merkleAlgorithm = "RFC9162-SHA256"

    public struct Merkle: Sendable, Hashable, Codable {
        public var alg: String
        public var leafIndex: Int
        public var treeSize: Int
        /// Sibling hashes, bottom up, hex.
        public var path: [String]
        public var root: String
    }

    public struct Anchor: Sendable, Hashable, Codable {
        /// CAIP-2, `eip155:<chain id>`.
        public var chainId: String
        public var contract: String
        public var txHash: String
        public var blockNumber: UInt64
        public var blockHash: String
        public var logIndex: UInt64
    }

    public var version: Int
    /// The receipt's exact bytes, base64: they are never re-serialised.
    public var receipt: String
    public var merkle: Merkle
    public var anchor: Anchor

    public init(receipt: [UInt8], proof: InclusionProof, root: [UInt8], chainId: UInt64, contract: Address, inclusion: AnchorJob.Inclusion) {
        version = 1
        self.receipt = Data(receipt).base64EncodedString()
        merkle = Merkle(alg: Self.merkleAlgorithm, leafIndex: proof.leafIndex, treeSize: proof.treeSize, path: proof.path.map { Hex.encode($0) }, root: Hex.encode(root))
        anchor = Anchor(
            chainId: "eip155:\(chainId)", contract: contract.checksummed, txHash: Hex.encode(inclusion.transactionHash), blockNumber: inclusion.blockNumber,
            blockHash: Hex.encode(inclusion.blockHash), logIndex: inclusion.logIndex
        )
    }

    public var receiptBytes: [UInt8]? { Data(base64Encoded: receipt).map(Array.init) }

    public func encoded() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try e.encode(self)
    }

    public static func decode(_ data: Data) throws -> ProofBundle { try JSONDecoder().decode(ProofBundle.self, from: data) }
}

public enum ProofVerificationError: Error, Sendable, Hashable, CustomStringConvertible {
    case malformed(String)
    case receiptNotInTree
    case unsupportedAlgorithm(String)
    case wrongChain(expected: String, found: String)
    case transactionNotFound
    case transactionReverted
    case notInBlock
    case blockNotCanonical
    case anchorLogMissing
    case notFinal(confirmations: UInt64)

    public var description: String {
        switch self {
        case .malformed(let what): "the bundle is malformed: \(what)"
        case .receiptNotInTree: "the receipt does not lead to the root through the path"
        case .unsupportedAlgorithm(let alg): "unsupported Merkle algorithm \(alg)"
        case .wrongChain(let expected, let found): "the node is on \(found), the anchor on \(expected)"
        case .transactionNotFound: "the anchor transaction is not on chain"
        case .transactionReverted: "the anchor transaction reverted"
        case .notInBlock: "the anchor transaction is not in the stated block"
        case .blockNotCanonical: "the stated block is not on the canonical chain"
        case .anchorLogMissing: "the transaction carries no Anchored log of this root from this contract"
        case .notFinal(let n): "the anchor has only \(n) confirmations"
        }
    }
}

extension ProofBundle {
    /// Offline: the receipt's bytes lead to the stated root through the stated path. Needs no network.
    public func verifyOffline() throws(ProofVerificationError) -> [UInt8] {
        guard version == 1 else { throw .malformed("version \(version)") }
        guard merkle.alg == Self.merkleAlgorithm else { throw .unsupportedAlgorithm(merkle.alg) }
        guard let receipt = receiptBytes else { throw .malformed("receipt is not base64") }
        guard let root = Hex.decode(merkle.root), root.count == 32 else { throw .malformed("root") }
        var path: [[UInt8]] = []
        for p in merkle.path {
            guard let b = Hex.decode(p), b.count == 32 else { throw .malformed("path entry") }
            path.append(b)
        }
        let proof = InclusionProof(leafIndex: merkle.leafIndex, treeSize: merkle.treeSize, path: path)
        guard proof.verifies(leaf: receipt, root: root) else { throw .receiptNotInTree }
        return root
    }

    /// Offline first, then against any node of the chain: the transaction is in the stated, canonical
    /// block, succeeded, and logged `Anchored(root)` from the contract at the stated index.
    /// Returns the number of confirmations.
    @discardableResult
    public func verify(using rpc: EthereumRPC, minimumConfirmations: UInt64 = 1) async throws -> UInt64 {
        let root = try verifyOffline()
        let chain = try await rpc.chainId()
        guard anchor.chainId == "eip155:\(chain)" else { throw ProofVerificationError.wrongChain(expected: anchor.chainId, found: "eip155:\(chain)") }
        guard let txHash = Hex.decode(anchor.txHash), let blockHash = Hex.decode(anchor.blockHash), let contract = Address(anchor.contract.lowercased()) else {
            throw ProofVerificationError.malformed("anchor")
        }
        guard let receipt = try await rpc.transactionReceipt(txHash) else { throw ProofVerificationError.transactionNotFound }
        guard receipt.status else { throw ProofVerificationError.transactionReverted }
        guard receipt.blockHash == blockHash, receipt.blockNumber == anchor.blockNumber else { throw ProofVerificationError.notInBlock }
        guard try await rpc.block(number: anchor.blockNumber)?.hash == blockHash else { throw ProofVerificationError.blockNotCanonical }
        guard let log = receipt.logs.first(where: { $0.logIndex == anchor.logIndex }), log.address == contract,
            AnchorABI.decodeAnchored(topics: log.topics, data: log.data)?.root == root
        else { throw ProofVerificationError.anchorLogMissing }
        let head = try await rpc.blockNumber()
        let confirmations = head >= anchor.blockNumber ? head - anchor.blockNumber + 1 : 0
        guard confirmations >= minimumConfirmations else { throw ProofVerificationError.notFinal(confirmations: confirmations) }
        return confirmations
    }
}
