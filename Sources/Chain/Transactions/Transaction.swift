/// An unsigned transaction of either kind the anchoring needs.
public enum Transaction: Sendable, Hashable {
    /// EIP-155 replay-protected legacy transaction.
    case legacy(LegacyFields)
    /// EIP-1559 dynamic-fee transaction (EIP-2718 type 2), with an empty access list.
    case dynamicFee(DynamicFeeFields)

    public struct LegacyFields: Sendable, Hashable {
        public var chainId: UInt64
        public var nonce: UInt64
        public var gasPrice: UInt128
        public var gasLimit: UInt64
        public var to: Address?
        public var value: UInt128
        public var data: [UInt8]

        public init(chainId: UInt64, nonce: UInt64, gasPrice: UInt128, gasLimit: UInt64, to: Address?, value: UInt128 = 0, data: [UInt8] = []) {
            self.chainId = chainId
            self.nonce = nonce
            self.gasPrice = gasPrice
            self.gasLimit = gasLimit
            self.to = to
            self.value = value
            self.data = data
        }
    }

    public struct DynamicFeeFields: Sendable, Hashable {
        public var chainId: UInt64
        public var nonce: UInt64
        public var maxPriorityFeePerGas: UInt128
        public var maxFeePerGas: UInt128
        public var gasLimit: UInt64
        public var to: Address?
        public var value: UInt128
        public var data: [UInt8]

        public init(chainId: UInt64, nonce: UInt64, maxPriorityFeePerGas: UInt128, maxFeePerGas: UInt128, gasLimit: UInt64, to: Address?, value: UInt128 = 0, data: [UInt8] = []) {
            self.chainId = chainId
            self.nonce = nonce
            self.maxPriorityFeePerGas = maxPriorityFeePerGas
            self.maxFeePerGas = maxFeePerGas
            self.gasLimit = gasLimit
            self.to = to
            self.value = value
            self.data = data
        }
    }

    public var nonce: UInt64 {
        switch self {
        case .legacy(let f): f.nonce
        case .dynamicFee(let f): f.nonce
        }
    }

    /// The hash that is signed.
    public var signingHash: [UInt8] {
        switch self {
        case .legacy(let f):
            Keccak256.hash(RLP.list(Self.legacyFields(f) + [.uint(f.chainId), .bytes([]), .bytes([])]).encoded)
        case .dynamicFee(let f):
            Keccak256.hash([0x02] + RLP.list(Self.dynamicFields(f)).encoded)
        }
    }

    public func signed(with key: PrivateKey) throws(KeyError) -> SignedTransaction {
        let sig = try key.sign(digest: signingHash)
        let r = RLP.bytes(Array(sig.r.drop(while: { $0 == 0 })))
        let s = RLP.bytes(Array(sig.s.drop(while: { $0 == 0 })))
        let raw: [UInt8]
        switch self {
        case .legacy(let f):
            let v = UInt64(sig.recoveryId) + f.chainId * 2 + 35
            raw = RLP.list(Self.legacyFields(f) + [.uint(v), r, s]).encoded
        case .dynamicFee(let f):
            raw = [0x02] + RLP.list(Self.dynamicFields(f) + [.uint(UInt64(sig.recoveryId)), r, s]).encoded
        }
        return SignedTransaction(transaction: self, raw: raw, signature: sig)
    }

    static func legacyFields(_ f: LegacyFields) -> [RLP] {
        [.uint(f.nonce), .uint(f.gasPrice), .uint(f.gasLimit), .bytes(f.to?.bytes ?? []), .uint(f.value), .bytes(f.data)]
    }

    static func dynamicFields(_ f: DynamicFeeFields) -> [RLP] {
        [
            .uint(f.chainId), .uint(f.nonce), .uint(f.maxPriorityFeePerGas), .uint(f.maxFeePerGas), .uint(f.gasLimit),
            .bytes(f.to?.bytes ?? []), .uint(f.value), .bytes(f.data), .list([]),
        ]
    }

    /// The same payload and nonce with fees raised by `percent` (rounded up), for a replacement.
    public func bumped(percent: UInt128) -> Transaction {
        func bump(_ v: UInt128) -> UInt128 { v + (v * percent + 99) / 100 }
        switch self {
        case .legacy(var f):
            f.gasPrice = bump(f.gasPrice)
            return .legacy(f)
        case .dynamicFee(var f):
            f.maxPriorityFeePerGas = bump(f.maxPriorityFeePerGas)
            f.maxFeePerGas = bump(f.maxFeePerGas)
            return .dynamicFee(f)
        }
    }
}

/// A signed transaction: the exact bytes to broadcast and their hash.
public struct SignedTransaction: Sendable, Hashable {
    public let transaction: Transaction
    public let raw: [UInt8]
    public let signature: RecoverableSignature

    public var hash: [UInt8] { Keccak256.hash(raw) }
    public var hashHex: String { Hex.encode(hash) }
    public var rawHex: String { Hex.encode(raw) }

    /// The address that signed it.
    public var sender: Address? {
        PrivateKey.recover(digest: transaction.signingHash, signature: signature).map { Address(publicKey: $0) }
    }
}
