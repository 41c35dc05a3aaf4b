public import Crypto
public import Foundation

/// Signs receipts with Ed25519 (RFC 8032). Chosen over secp256k1 because a receipt's signature and the chain's
/// anchoring key do different jobs and should not share a key: Ed25519 signatures are deterministic (no nonce to get
/// wrong), verifiable by every mainstream library and by JOSE/COSE tooling, and need no system library.
public struct ReceiptSigner: Sendable {
    public static let algorithm = "Ed25519"
    /// The private key's 32 bytes (the key type itself is not Sendable).
    public let rawRepresentation: Data
    public let publicKey: [UInt8]

    public init(rawRepresentation: some ContiguousBytes) throws {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: rawRepresentation)
        self.rawRepresentation = key.rawRepresentation
        publicKey = Array(key.publicKey.rawRepresentation)
    }

    public init() {
        let key = Curve25519.Signing.PrivateKey()
        rawRepresentation = key.rawRepresentation
        publicKey = Array(key.publicKey.rawRepresentation)
    }
    /// The first 16 hex digits of the public key's SHA-256: receipts name the key that signed them.
    public var keyId: String { Self.keyId(publicKey) }

    public static func keyId(_ publicKey: [UInt8]) -> String {
        SHA256.hash(data: publicKey).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    public func sign(_ bytes: [UInt8]) throws -> [UInt8] {
        Array(try Curve25519.Signing.PrivateKey(rawRepresentation: rawRepresentation).signature(for: bytes))
    }

    public static func verify(_ signature: [UInt8], of bytes: [UInt8], publicKey: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        return key.isValidSignature(signature, for: bytes)
    }
}
