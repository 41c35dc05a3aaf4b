import CSMSMemory
import Foundation
import OCPP

/// What one fuzzer input does: the bytes as an `InboundScript`, played through the shared pipeline on a
/// fresh in-memory world, and every reply checked. A broken reply is a crash, so libFuzzer keeps the input.
enum Harness {
    static func play(_ bytes: UnsafeBufferPointer<UInt8>) -> [InboundReplay.Step] {
        let script = InboundScript(bytes: bytes)
        return AsyncBridge.run {
            do {
                return try await InboundReplay.run(script)
            } catch {
                fatalError("the replay world could not be built: \(error)")
            }
        }
    }

    static func check(_ steps: [InboundReplay.Step]) {
        for step in steps where !step.problems.isEmpty {
            let message = "voltaic-fuzz: " + step.problems.joined(separator: "; ") + "\n  frame: \(step.frame.prefix(2000))\n  reply: \(step.outcome.reply?.prefix(2000) ?? "none")\n"
            FileHandle.standardError.write(Data(message.utf8))
            fatalError(step.problems[0])
        }
    }

    /// Every CALL in every seed must pass its request schema, or the seeds do not test what they claim.
    static func checkSeeds(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names.sorted() where name.hasSuffix(".ocpp") {
            guard let data = FileManager.default.contents(atPath: directory + "/" + name) else { continue }
            let script = InboundScript(bytes: data)
            for frame in script.frames {
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
