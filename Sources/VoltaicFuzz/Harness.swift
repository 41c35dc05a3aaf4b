import CSMSMemory
import Foundation
import OCPP

/// What one fuzzer input does: the bytes as an `InboundScript`, played through the server's
/// `InboundDispatcher` on a fresh copy of the in-memory world, and every answer checked. A broken reply is a crash, so libFuzzer keeps the input.
enum Harness {
    static func play(_ bytes: UnsafeBufferPointer<UInt8>) -> [InboundReplay.Step] {
        let script = InboundScript(bytes: bytes)
        return AsyncBridge.run { await InboundReplay.run(script) }
    }

    /// Problem kinds not to stop for (VOLTAIC_FUZZ_TOLERATE, comma-separated, a trailing `*` matching any
    /// suffix), to keep looking for new defects past ones already saved. Traps and hangs always stop.
    static let tolerated: [String] = (ProcessInfo.processInfo.environment["VOLTAIC_FUZZ_TOLERATE"] ?? "")
        .split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }

    static func isTolerated(_ problem: InboundReplay.Problem) -> Bool {
        tolerated.contains { $0.hasSuffix("*") ? problem.kind.hasPrefix($0.dropLast()) : problem.kind == $0 }
    }

    static func check(_ steps: [InboundReplay.Step]) {
        for step in steps {
            let problems = step.problems.filter { !isTolerated($0) }
            guard let first = problems.first else { continue }
            let message = "voltaic-fuzz: " + problems.map(\.description).joined(separator: "; ")
                + "\n  frame: \(step.frame.prefix(2000))\n  reply: \(step.outcome?.reply?.prefix(2000) ?? "none")\n"
            FileHandle.standardError.write(Data(message.utf8))
            fatalError(first.description)
        }
    }

    /// Every CALL in every seed must pass its request schema, or the seeds do not test what they claim.
    static func checkSeeds(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names.sorted() where name.hasSuffix(".ocpp") {
            guard let data = FileManager.default.contents(atPath: directory + "/" + name) else { continue }
            let script = InboundScript(bytes: data)
            for frame in script.frames where InboundScript.Directive(rawValue: frame) == nil {
                guard case .success(.call(_, let action, let payload)) = Frame.decode(frame) else {
                    fatalError("seed \(name): a frame that is not a CALL")
                }
                guard let schema = OCPPSchemas.schema(script.version, action: action, .request) else {
                    fatalError("seed \(name): no request schema for \(action)")
                }
                if let violation = schema.validate(payload) { fatalError("seed \(name): \(violation.description)") }
            }
        }
    }
}
