import Foundation

// The functions libFuzzer calls. They are plain C symbols in every build; only the Scripts/fuzz build links
// libFuzzer, which finds them.

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    if let seeds = ProcessInfo.processInfo.environment["VOLTAIC_FUZZ_SEEDS"] { Harness.checkSeeds(in: seeds) }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    Harness.check(Harness.play(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_cdecl("LLVMFuzzerCustomMutator")
public func fuzzerCustomMutator(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    var mutator = OCPPMutator(seed: UInt64(seed))
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let output = mutator.mutate(input, maxSize: maxSize) else {
        return ByteMutation.mutate(data, size, maxSize, seed: seed)
    }
    output.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: output.count) }
    return output.count
}

@_cdecl("LLVMFuzzerCustomCrossOver")
public func fuzzerCustomCrossOver(
    _ data1: UnsafePointer<UInt8>, _ size1: Int, _ data2: UnsafePointer<UInt8>, _ size2: Int,
    _ out: UnsafeMutablePointer<UInt8>, _ maxOutSize: Int, _ seed: UInt32
) -> Int {
    var mutator = OCPPMutator(seed: UInt64(seed))
    let output = mutator.crossOver(Array(UnsafeBufferPointer(start: data1, count: size1)), Array(UnsafeBufferPointer(start: data2, count: size2)))
    guard output.count <= maxOutSize, !output.isEmpty else { return 0 }
    output.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: output.count) }
    return output.count
}
