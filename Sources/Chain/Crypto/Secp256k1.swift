import CSecp256k1
import Foundation

/// One libsecp256k1 context for the process; it is read-only after creation and safe to share.
final class Secp256k1Context: @unchecked Sendable {
    static let shared = Secp256k1Context()
    let raw: OpaquePointer

    private init() {
        raw = secp256k1_context_create(csecp256k1_context_none())!
        var seed = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in seed.indices { seed[i] = rng.next() }
        _ = secp256k1_context_randomize(raw, seed)
    }
}

/// A recoverable secp256k1 signature: r ‖ s (low-s, RFC 6979) and the recovery id 0 or 1.
public struct RecoverableSignature: Sendable, Hashable {
    public let r: [UInt8]
    public let s: [UInt8]
    public let recoveryId: UInt8
}

/// An Ethereum signing key. It never appears in logs: its descriptions are redacted.
public struct PrivateKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    private let secret: [UInt8]
    public let address: Address
    /// The 64-byte uncompressed public key without the 0x04 prefix.
    public let publicKey: [UInt8]

    public init(bytes: [UInt8]) throws(KeyError) {
        guard bytes.count == 32, secp256k1_ec_seckey_verify(Secp256k1Context.shared.raw, bytes) == 1 else { throw KeyError.invalidKey }
        secret = bytes
        var pub = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_create(Secp256k1Context.shared.raw, &pub, bytes) == 1 else { throw KeyError.invalidKey }
        publicKey = Self.serialize(pub)
        address = Address(publicKey: publicKey)
    }

    public init(hex: String) throws(KeyError) {
        guard let bytes = Hex.decode(hex.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw KeyError.invalidKey }
        try self.init(bytes: bytes)
    }

    /// Loads a hex key from a file (its first line) or from an environment variable.
    public static func load(file: String? = nil, environment variable: String? = nil) throws -> PrivateKey {
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw KeyError.unreadable(file) }
            return try PrivateKey(hex: String(text.split(separator: "\n").first ?? ""))
        }
        if let variable {
            guard let text = ProcessInfo.processInfo.environment[variable] else { throw KeyError.unreadable("$" + variable) }
            return try PrivateKey(hex: text)
        }
        throw KeyError.unreadable("no key source given")
    }

    public func sign(digest: [UInt8]) throws(KeyError) -> RecoverableSignature {
        guard digest.count == 32 else { throw KeyError.badDigest }
        let ctx = Secp256k1Context.shared.raw
        var sig = secp256k1_ecdsa_recoverable_signature()
        guard secp256k1_ecdsa_sign_recoverable(ctx, &sig, digest, secret, nil, nil) == 1 else { throw KeyError.signingFailed }
        var compact = [UInt8](repeating: 0, count: 64)
        var recid: Int32 = 0
        _ = secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, &compact, &recid, &sig)
        return RecoverableSignature(r: Array(compact[0..<32]), s: Array(compact[32..<64]), recoveryId: UInt8(recid))
    }

    /// The public key (64 bytes, no prefix) that made `signature` over `digest`, or nil.
    public static func recover(digest: [UInt8], signature: RecoverableSignature) -> [UInt8]? {
        guard digest.count == 32, signature.r.count == 32, signature.s.count == 32, signature.recoveryId < 4 else { return nil }
        let ctx = Secp256k1Context.shared.raw
        var sig = secp256k1_ecdsa_recoverable_signature()
        guard secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &sig, signature.r + signature.s, Int32(signature.recoveryId)) == 1 else { return nil }
        var pub = secp256k1_pubkey()
        guard secp256k1_ecdsa_recover(ctx, &pub, &sig, digest) == 1 else { return nil }
        return serialize(pub)
    }

    private static func serialize(_ pub: secp256k1_pubkey) -> [UInt8] {
        var pub = pub
        var out = [UInt8](repeating: 0, count: 65)
        var length = 65
        _ = secp256k1_ec_pubkey_serialize(Secp256k1Context.shared.raw, &out, &length, &pub, csecp256k1_ec_uncompressed())
        return Array(out[1..<65])
    }

    public var description: String { "PrivateKey(\(address), <redacted>)" }
    public var debugDescription: String { description }
}

public enum KeyError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidKey
    case unreadable(String)
    case badDigest
    case signingFailed

    public var description: String {
        switch self {
        case .invalidKey: "not a valid secp256k1 private key (32 bytes of hex)"
        case .unreadable(let source): "cannot read the key from \(source)"
        case .badDigest: "a digest is 32 bytes"
        case .signingFailed: "signing failed"
        }
    }
}

extension PrivateKey {
    /// A key from a file of 64 hex digits (an optional 0x, surrounding whitespace), as the chain key files are kept.
    /// Nil when the file cannot be read or is not such a key; its content is never part of an error.
    public init?(hexFile path: String) {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8),
              let bytes = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32, let key = try? PrivateKey(bytes: bytes)
        else { return nil }
        self = key
    }
}
