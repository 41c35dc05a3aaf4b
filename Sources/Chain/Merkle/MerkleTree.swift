import Crypto

/// An RFC 6962 / RFC 9162 Merkle tree over SHA-256: leaf = H(0x00 ‖ data), node = H(0x01 ‖ left ‖ right),
/// and an unbalanced right edge carried up unchanged (the RFC's split at the largest power of two), so no
/// node is ever duplicated.
///
/// Every level is kept, so the root and each inclusion proof come without rehashing.
public struct MerkleTree: Sendable {
    /// `levels[0]` are the leaf hashes; the last level holds the root. Hashes are stored contiguously.
    private let levels: [[UInt8]]
    public let size: Int

    public static let hashSize = 32

    /// Builds the tree over the receipts (the exact bytes of each leaf).
    public init(leaves: [[UInt8]]) {
        var hashes = [UInt8]()
        hashes.reserveCapacity(leaves.count * 32)
        for leaf in leaves { hashes.append(contentsOf: Self.leafHash(leaf)) }
        self.init(leafHashes: hashes)
    }

    /// Builds the tree over leaf hashes already computed (32 bytes each, concatenated).
    public init(leafHashes: [UInt8]) {
        precondition(leafHashes.count % 32 == 0, "leaf hashes are 32 bytes each")
        size = leafHashes.count / 32
        var levels = [leafHashes]
        var current = leafHashes
        while current.count > 32 {
            let count = current.count / 32
            var next = [UInt8]()
            next.reserveCapacity((count + 1) / 2 * 32)
            current.withUnsafeBytes { buf in
                var i = 0
                while i + 1 < count {
                    var h = SHA256()
                    h.update(data: [0x01])
                    h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buf[(i * 32)..<((i + 2) * 32)]))
                    next.append(contentsOf: h.finalize())
                    i += 2
                }
                if i < count { next.append(contentsOf: buf[(i * 32)..<((i + 1) * 32)]) }
            }
            levels.append(next)
            current = next
        }
        self.levels = levels
    }

    /// The Merkle Tree Hash; the hash of the empty string for an empty tree.
    public var root: [UInt8] {
        size == 0 ? Array(SHA256.hash(data: [UInt8]())) : levels[levels.count - 1]
    }

    public static func leafHash(_ data: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(data: [0x00])
        h.update(data: data)
        return Array(h.finalize())
    }

    static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(data: [0x01])
        h.update(data: left)
        h.update(data: right)
        return Array(h.finalize())
    }

    /// The audit path of leaf `index`, bottom up.
    public func inclusionProof(leafIndex index: Int) -> InclusionProof? {
        guard index >= 0, index < size else { return nil }
        var path: [[UInt8]] = []
        var i = index
        for level in levels.dropLast() {
            let count = level.count / 32
            let sibling = i ^ 1
            if sibling < count { path.append(Array(level[(sibling * 32)..<((sibling + 1) * 32)])) }
            i /= 2
        }
        return InclusionProof(leafIndex: index, treeSize: size, path: path)
    }

    /// Calls `body` with each proof's path, bottom up, without allocating per proof. For bulk issue.
    public func forEachInclusionPath(_ body: (Int, UnsafeRawBufferPointer) -> Void) {
        var scratch = [UInt8](repeating: 0, count: 32 * levels.count)
        for index in 0..<size {
            var i = index
            var n = 0
            for level in levels.dropLast() {
                let sibling = i ^ 1
                if sibling * 32 < level.count {
                    level.withUnsafeBytes { src in
                        scratch.withUnsafeMutableBytes { dst in
                            dst.baseAddress!.advanced(by: n * 32).copyMemory(from: src.baseAddress!.advanced(by: sibling * 32), byteCount: 32)
                        }
                    }
                    n += 1
                }
                i /= 2
            }
            scratch.withUnsafeBytes { body(index, UnsafeRawBufferPointer(rebasing: $0[0..<(n * 32)])) }
        }
    }

    /// The RFC 9162 §2.1.4 consistency proof from the first `oldSize` leaves to the whole tree.
    public func consistencyProof(from oldSize: Int) -> [[UInt8]]? {
        guard oldSize > 0, oldSize <= size else { return nil }
        if oldSize == size { return [] }
        return subproof(oldSize, 0, size, true)
    }

    private func subproof(_ m: Int, _ start: Int, _ n: Int, _ complete: Bool) -> [[UInt8]] {
        if m == n { return complete ? [] : [subtreeHash(start, n)] }
        let k = Self.largestPowerOfTwo(below: n)
        if m <= k {
            return subproof(m, start, k, complete) + [subtreeHash(start + k, n - k)]
        }
        return subproof(m - k, start + k, n - k, false) + [subtreeHash(start, k)]
    }

    /// MTH of leaves[start ..< start+count], from the stored levels where the subtree is aligned.
    func subtreeHash(_ start: Int, _ count: Int) -> [UInt8] {
        if count == 1 { return Array(levels[0][(start * 32)..<((start + 1) * 32)]) }
        // Aligned power-of-two subtrees are stored; otherwise split as the RFC does.
        if count & (count - 1) == 0, start % count == 0 {
            let level = count.trailingZeroBitCount
            let i = start / count
            return Array(levels[level][(i * 32)..<((i + 1) * 32)])
        }
        let k = Self.largestPowerOfTwo(below: count)
        return Self.nodeHash(subtreeHash(start, k), subtreeHash(start + k, count - k))
    }

    static func largestPowerOfTwo(below n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }
}

/// `{leafIndex, treeSize, path}`: what a driver needs, with the receipt, to reach the root.
public struct InclusionProof: Sendable, Hashable, Codable {
    public var leafIndex: Int
    public var treeSize: Int
    public var path: [[UInt8]]

    public init(leafIndex: Int, treeSize: Int, path: [[UInt8]]) {
        self.leafIndex = leafIndex
        self.treeSize = treeSize
        self.path = path
    }

    /// The root this proof leads to from `leafHash` (RFC 9162 §2.1.3.2), or nil when the path does not fit the size.
    public func root(fromLeafHash leafHash: [UInt8]) -> [UInt8]? {
        guard leafIndex >= 0, leafIndex < treeSize, leafHash.count == 32 else { return nil }
        var fn = leafIndex
        var sn = treeSize - 1
        var r = leafHash
        for p in path {
            guard p.count == 32, sn != 0 else { return nil }
            if fn & 1 == 1 || fn == sn {
                r = MerkleTree.nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0, fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = MerkleTree.nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 ? r : nil
    }

    public func verifies(leaf data: [UInt8], root: [UInt8]) -> Bool {
        self.root(fromLeafHash: MerkleTree.leafHash(data)) == root
    }

    enum CodingKeys: String, CodingKey { case leafIndex, treeSize, path }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        leafIndex = try c.decode(Int.self, forKey: .leafIndex)
        treeSize = try c.decode(Int.self, forKey: .treeSize)
        path = try c.decode([String].self, forKey: .path).map { s in
            guard let b = Hex.decode(s), b.count == 32 else {
                throw DecodingError.dataCorruptedError(forKey: .path, in: c, debugDescription: "path entries are 32-byte hex")
            }
            return b
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(leafIndex, forKey: .leafIndex)
        try c.encode(treeSize, forKey: .treeSize)
        try c.encode(path.map { Hex.encode($0) }, forKey: .path)
    }
}

public enum MerkleConsistency {
    /// Verifies an RFC 9162 §2.1.4.2 consistency proof between two roots.
    public static func verify(oldSize: Int, newSize: Int, oldRoot: [UInt8], newRoot: [UInt8], proof: [[UInt8]]) -> Bool {
        guard oldSize > 0, oldSize <= newSize else { return false }
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        var proof = proof
        if oldSize & (oldSize - 1) == 0 { proof.insert(oldRoot, at: 0) }
        guard !proof.isEmpty else { return false }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = proof[0]
        var sr = proof[0]
        for c in proof.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = MerkleTree.nodeHash(c, fr)
                sr = MerkleTree.nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0, fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = MerkleTree.nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == oldRoot && sr == newRoot && sn == 0
    }
}
