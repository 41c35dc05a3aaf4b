import ArgumentParser
import Chain
import Foundation

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks. Build with -c release for meaningful figures.",
        subcommands: [MerkleBench.self]
    )

    struct MerkleBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "merkle",
            abstract: "Root and every inclusion proof of an RFC 6962 tree over N receipt-sized leaves."
        )

        @Option(help: "Number of leaves.") var leaves: Int = 1_000_000
        @Option(help: "Bytes per leaf (a receipt is a few hundred).") var leafSize: Int = 256
        @Option(help: "Repetitions; the best is reported.") var runs: Int = 3

        func run() throws {
            guard leaves > 0, leafSize > 8, runs > 0 else { throw ValidationError("leaves, leaf size and runs must be positive") }
            // Distinct leaves: a counter in the first bytes of a fixed pattern.
            var template = [UInt8](repeating: 0x61, count: leafSize)
            var best: (hash: Double, tree: Double, proofs: Double, total: Double)?
            var checksum: UInt8 = 0
            var rootHex = ""
            for _ in 0..<runs {
                let clock = ContinuousClock()
                let t0 = clock.now
                var hashes = [UInt8]()
                hashes.reserveCapacity(leaves * 32)
                for i in 0..<leaves {
                    withUnsafeBytes(of: UInt64(i).littleEndian) { for (k, b) in $0.enumerated() { template[k] = b } }
                    hashes.append(contentsOf: MerkleTree.leafHash(template))
                }
                let t1 = clock.now
                let tree = MerkleTree(leafHashes: hashes)
                rootHex = Hex.encode(tree.root)
                let t2 = clock.now
                var proofs = 0
                var pathBytes = 0
                tree.forEachInclusionPath { _, path in
                    proofs += 1
                    pathBytes += path.count
                    checksum ^= path.last ?? 0
                }
                let t3 = clock.now
                precondition(proofs == leaves)
                func s(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
                let run = (s(t1 - t0), s(t2 - t1), s(t3 - t2), s(t3 - t0))
                if best == nil || run.3 < best!.total { best = (run.0, run.1, run.2, run.3) }
                _ = pathBytes
            }
            let b = best!
            print("leaves=\(leaves) leafSize=\(leafSize)B root=\(rootHex)")
            print(String(format: "best of %d: leaf hashes %.3f s, tree %.3f s, all %d proofs %.3f s, total %.3f s (checksum %02x)", runs, b.hash, b.tree, leaves, b.proofs, b.total, checksum))
        }
    }
}
