import Chain
import Storage
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real EVM for one test: Tests/Chain/evm_rpc_server.py (py-evm through eth-tester) on a free
/// loopback port, stopped when the test ends.
final class EVMNode: @unchecked Sendable {
    let url: String
    let rpc: EthereumRPC
    private let pid: pid_t

    static var repository: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    /// The Python that has eth-tester: `VOLTAIC_PYTHON`, or the `.venv` that Scripts/test makes.
    static var python: String? {
        let candidates = [ProcessInfo.processInfo.environment["VOLTAIC_PYTHON"], repository.appendingPathComponent(".venv/bin/python").path].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) && hasEthTester($0) }
    }

    private static func hasEthTester(_ python: String) -> Bool {
        (try? ChildProcess.run(python, ["-c", "import eth_tester, eth_account"]).status) == 0
    }

    /// Whether the chain tests can run here; Scripts/test sets VOLTAIC_REQUIRE_EVM so that CI fails instead of skipping.
    static var available: Bool {
        if python != nil { return true }
        return ProcessInfo.processInfo.environment["VOLTAIC_REQUIRE_EVM"] != nil
    }

    init(arguments: [String] = []) throws {
        guard let python = Self.python else {
            throw EVMNodeError("no Python with eth-tester: run Scripts/test once (it makes .venv), or set VOLTAIC_PYTHON")
        }
        let log = NSTemporaryDirectory() + "voltaic-evm-\(UUID().uuidString).log"
        let script = Self.repository.appendingPathComponent("Tests/Chain/evm_rpc_server.py").path
        pid = try ChildProcess.spawn(python, [script, "--port", "0"] + arguments, output: log)
        let deadline = Date().addingTimeInterval(60)
        var found: String?
        while Date() < deadline, found == nil {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }) { found = String(line.dropFirst("listening on ".count)) }
            else { usleep(50_000) }
        }
        guard let found else {
            kill(pid, SIGKILL)
            throw EVMNodeError("the EVM server did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        url = found
        rpc = EthereumRPC(url: found, timeout: .seconds(10), retries: 1, retryDelay: .milliseconds(100))
    }

    deinit {
        kill(pid, SIGKILL)  // a throw-away chain: nothing to shut down cleanly
        _ = try? ChildProcess.wait(pid)
    }

    func mine(_ blocks: Int = 1) async throws { _ = try await rpc.request("evm_mine", [.string(Quantity.encode(UInt64(blocks)))]) }
    func control(_ method: String, _ params: [RPCValue] = []) async throws -> RPCValue { try await rpc.request(method, params) }

    static let owner = try! PrivateKey(hex: "0x" + String(repeating: "00", count: 31) + "01")
    static let stranger = try! PrivateKey(hex: "0x" + String(repeating: "00", count: 31) + "02")
}

struct EVMNodeError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
