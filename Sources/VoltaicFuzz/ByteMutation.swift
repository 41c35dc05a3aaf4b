#if VOLTAIC_LIBFUZZER
@_silgen_name("LLVMFuzzerMutate")
private func LLVMFuzzerMutate(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int) -> Int
#endif

/// The byte-level fallback for input the grammar-aware mutator cannot read: libFuzzer's own mutations in
/// the fuzzer, a single byte change in the replay tool (which has no libFuzzer to call).
enum ByteMutation {
    static func mutate(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, seed: UInt32) -> Int {
        #if VOLTAIC_LIBFUZZER
        return LLVMFuzzerMutate(data, size, maxSize)
        #else
        guard size > 0 else {
            guard maxSize > 0 else { return 0 }
            data[0] = UInt8(truncatingIfNeeded: seed)
            return 1
        }
        data[Int(seed) % size] ^= UInt8(truncatingIfNeeded: seed >> 8) | 1
        return size
        #endif
    }
}
