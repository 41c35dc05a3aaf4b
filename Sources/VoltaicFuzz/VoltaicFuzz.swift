import CSMS
import CSMSMemory
import Foundation

#if VOLTAIC_LIBFUZZER
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32
#endif

/// Built by Scripts/fuzz (-sanitize=fuzzer -DVOLTAIC_LIBFUZZER), this is the libFuzzer driver and takes
/// libFuzzer's flags. Built plainly, it replays inputs without libFuzzer:
///
///     voltaic-fuzz FILE|DIR...      play each script, print every reply and problem; exit 1 on a problem
///     voltaic-fuzz --mutate N FILE  print N grammar-aware mutations of FILE
///     voltaic-fuzz --measure [FILE|DIR...]  time the async bridge, a one-Heartbeat input, and every input
///                                           given (played, checked, nothing printed but the times)
@main
struct VoltaicFuzz {
    static func main() {
        #if VOLTAIC_LIBFUZZER
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, { data, size in fuzzerTestOneInput(data, size) }))
        #else
        let args = Array(CommandLine.arguments.dropFirst())
        switch args.first {
        case "--measure": measure(Array(args.dropFirst()))
        case "--mutate" where args.count == 3: mutate(count: Int(args[1]) ?? 10, file: args[2])
        case nil, "--help", "-h":
            print("usage: voltaic-fuzz FILE|DIR... | --mutate N FILE | --measure [FILE|DIR...]")
        default: exit(replay(args) ? 0 : 1)
        }
        #endif
    }

    static func files(_ paths: [String]) -> [String] {
        paths.flatMap { path -> [String] in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return names.filter { !$0.hasPrefix(".") }.sorted().map { path + "/" + $0 }
        }
    }

    static func replay(_ paths: [String]) -> Bool {
        var clean = true
        for file in files(paths) {
            guard let data = FileManager.default.contents(atPath: file) else {
                print("\(file): cannot read")
                clean = false
                continue
            }
            print("== \(file)")
            let steps = Array(data).withUnsafeBufferPointer { Harness.play($0) }
            for step in steps {
                print("> \(step.frame.prefix(300))")
                if let outcome = step.outcome {
                    print("< \(outcome.reply?.prefix(300) ?? "(no reply)")")
                    if let failure = outcome.answer?.failure { print("  (\(failure.prefix(300)))") }
                }
                for problem in step.problems { print("! \(problem)") }
                clean = clean && step.problems.isEmpty
            }
        }
        return clean
    }

    static func mutate(count: Int, file: String) {
        guard let data = FileManager.default.contents(atPath: file) else { return print("\(file): cannot read") }
        for seed in 0..<count {
            var mutator = OCPPMutator(seed: UInt64(seed))
            if let out = mutator.mutate(Array(data), maxSize: 1 << 16) {
                print(String(decoding: out, as: UTF8.self))
            } else {
                print("(byte-level)")
            }
        }
    }

    static func measure(_ paths: [String]) {
        let rounds = 2000
        let start = ContinuousClock.now
        for _ in 0..<rounds { _ = AsyncBridge.run { 0 } }
        let bridge = (ContinuousClock.now - start) / rounds
        let input = Array("2.0.1\n[2,\"1\",\"Heartbeat\",{}]\n".utf8)
        let start2 = ContinuousClock.now
        for _ in 0..<rounds { _ = input.withUnsafeBufferPointer { Harness.play($0) } }
        let whole = (ContinuousClock.now - start2) / rounds
        print("async bridge alone: \(bridge) per call; a one-Heartbeat input, bridge included: \(whole)")
        let inputs = files(paths).compactMap { FileManager.default.contents(atPath: $0).map(Array.init) }
        guard !inputs.isEmpty else { return }
        var slowest: (Duration, Int) = (.zero, 0)
        let start3 = ContinuousClock.now
        for (i, input) in inputs.enumerated() {
            let one = ContinuousClock.now
            Harness.check(input.withUnsafeBufferPointer { Harness.play($0) })
            let took = ContinuousClock.now - one
            if took > slowest.0 { slowest = (took, i) }
        }
        let all = ContinuousClock.now - start3
        print("\(inputs.count) inputs (\(inputs.reduce(0) { $0 + $1.count }) bytes): \(all / inputs.count) each, \(Int(Double(inputs.count) / (Double(all.components.attoseconds) / 1e18 + Double(all.components.seconds)))) a second; slowest \(slowest.0) (\(inputs[slowest.1].count) bytes)")
    }
}
