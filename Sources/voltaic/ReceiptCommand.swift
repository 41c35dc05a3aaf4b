import ArgumentParser
import Chain
import Foundation

struct ReceiptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "receipt", abstract: "Work with charging receipts.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a proof bundle: the receipt's Merkle path offline, and with --rpc its anchor on chain."
        )

        @Argument(help: "The proof bundle (JSON).") var bundle: String
        @Option(help: "Any JSON-RPC URL of the anchoring chain, to check the anchor transaction and log.") var rpc: String?
        @Option(help: "Confirmations the anchor must have.") var confirmations: UInt64 = 1

        func run() async throws {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: bundle)) } catch { throw ValidationError("cannot read \(bundle)") }
            let proof: ProofBundle
            do { proof = try ProofBundle.decode(data) } catch { throw ValidationError("\(bundle) is not a proof bundle") }
            do {
                let root = try proof.verifyOffline()
                print("receipt is leaf \(proof.merkle.leafIndex) of \(proof.merkle.treeSize) under root \(Hex.encode(root))")
                if let rpc {
                    let n = try await proof.verify(using: EthereumRPC(url: rpc), minimumConfirmations: confirmations)
                    print("anchored on \(proof.anchor.chainId) by \(proof.anchor.contract) in block \(proof.anchor.blockNumber) (\(n) confirmations)")
                } else {
                    print("not checked on chain (give --rpc to check the anchor)")
                }
                print("VALID")
            } catch let error as ProofVerificationError {
                print("INVALID: \(error)")
                throw ExitCode(1)
            }
        }
    }
}
