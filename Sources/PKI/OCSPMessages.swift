public import Foundation
public import X509
import Crypto
import SwiftASN1

/// RFC 6960 by hand, for what swift-certificates keeps internal: a request for one CertID (what OCPP's hash data
/// carries, with no certificate at hand), and the status a response gives it, with the response's signature checked
/// against the issuer or a responder certificate the issuer signed.
public enum OCSPMessages {
    static let hashOIDs: [String: ASN1ObjectIdentifier] = [
        "SHA256": [2, 16, 840, 1, 101, 3, 4, 2, 1], "SHA384": [2, 16, 840, 1, 101, 3, 4, 2, 2], "SHA512": [2, 16, 840, 1, 101, 3, 4, 2, 3],
    ]
    static let basicResponse: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 48, 1, 1]

    /// The DER OCSPRequest for one certificate.
    public static func request(for id: CertificateID) throws(PKIError) -> [UInt8] {
        guard let oid = hashOIDs[id.hashAlgorithm] else { throw PKIError("hash algorithm \(id.hashAlgorithm) is not SHA-256/384/512") }
        guard let name = bytes(hex: id.issuerNameHash), let key = bytes(hex: id.issuerKeyHash),
            var serial = bytes(hex: id.serialNumber.count % 2 == 1 ? "0" + id.serialNumber : id.serialNumber)
        else { throw PKIError("the certificate id is not hex") }
        if serial.first.map({ $0 & 0x80 != 0 }) ?? true { serial.insert(0, at: 0) }
        do {
            var s = DER.Serializer()
            try s.appendConstructedNode(identifier: .sequence) { s in  // OCSPRequest
                try s.appendConstructedNode(identifier: .sequence) { s in  // TBSRequest
                    try s.appendConstructedNode(identifier: .sequence) { s in  // requestList
                        try s.appendConstructedNode(identifier: .sequence) { s in  // Request
                            try s.appendConstructedNode(identifier: .sequence) { s in  // CertID
                                try s.appendConstructedNode(identifier: .sequence) { s in
                                    try s.serialize(oid)
                                    try s.serialize(ASN1Null())
                                }
                                try s.serialize(ASN1OctetString(contentBytes: name[...]))
                                try s.serialize(ASN1OctetString(contentBytes: key[...]))
                                try s.serialize(serial[...])
                            }
                        }
                    }
                }
            }
            return s.serializedBytes
        } catch {
            throw PKIError("the OCSP request does not encode: \(error)")
        }
    }

    public struct Answer: Sendable {
        public var status: CertificateStatus
        /// Whether the response's signature was checked against the issuer (or a responder it delegated to).
        public var verified: Bool
        public var der: [UInt8]
    }

    /// The status a DER OCSPResponse gives `id`. `issuers` are certificates that may have issued it (the contract roots
    /// and sub-CAs known here): the response must be signed by the one whose key hash is the id's, or by a responder
    /// certificate that one signed; otherwise `verified` is false.
    public static func status(of id: CertificateID, in der: [UInt8], issuers: [Certificate], at now: Date) throws(PKIError) -> Answer {
        do {
            let root = try DER.parse(der)
            let top = try children(root)
            guard let statusNode = top.first, case .primitive(let statusBytes) = statusNode.content, statusBytes.last == 0 else {
                throw PKIError("the OCSP responder answered with an error status")
            }
            guard top.count > 1, let bytesNode = try children(top[1]).first else { throw PKIError("the OCSP response has no responseBytes") }
            let responseBytes = try children(bytesNode)
            guard try ASN1ObjectIdentifier(derEncoded: responseBytes[0]) == basicResponse else { throw PKIError("the OCSP response is not a basic response") }
            let basicDER = try ASN1OctetString(derEncoded: responseBytes[1]).bytes
            let basic = try children(try DER.parse(Array(basicDER)))
            let tbs = basic[0]
            let signatureAlgorithm = try children(basic[1])
            let signature = try ASN1BitString(derEncoded: basic[2]).bytes
            var embedded: [Certificate] = []
            if basic.count > 3, let list = try children(basic[3]).first {
                for node in try children(list) { embedded.append(try Certificate(derEncoded: node)) }
            }
            // ResponseData: [0] version?, responderID, producedAt, responses, [1] extensions?
            var fields = try children(tbs)
            if fields.first?.identifier.tagClass == .contextSpecific && fields.first?.identifier.tagNumber == 0 { fields.removeFirst() }
            guard fields.count >= 3 else { throw PKIError("the OCSP response data is short") }
            var found: CertificateStatus?
            for single in try children(fields[2]) {
                let parts = try children(single)
                guard parts.count >= 2, try matches(parts[0], id) else { continue }
                switch parts[1].identifier.tagNumber {
                case 0: found = .good
                case 1: found = .revoked
                default: found = .unknown
                }
            }
            guard let found else { throw PKIError("the OCSP response does not speak of \(id)") }
            let algorithm = try Self.signatureAlgorithm(try ASN1ObjectIdentifier(derEncoded: signatureAlgorithm[0]))
            let signed = Array(tbs.encodedBytes)
            let issuer = issuers.first { sha256Hex($0.publicKey.subjectPublicKeyInfoBytes) == id.issuerKeyHash }
            var verified = false
            if let issuer, let algorithm {
                if issuer.publicKey.isValidSignature(signature, for: signed, signatureAlgorithm: algorithm) {
                    verified = true
                } else if let responder = embedded.first(where: { $0.issuer == issuer.subject && $0.notValidAfter > now && $0.notValidBefore <= now }),
                    issuer.publicKey.isValidSignature(responder.signature, for: responder),
                    (try? responder.extensions.extendedKeyUsage?.contains(.ocspSigning)) == true,
                    responder.publicKey.isValidSignature(signature, for: signed, signatureAlgorithm: algorithm)
                {
                    verified = true
                }
            }
            return Answer(status: found, verified: verified, der: der)
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError("the OCSP response does not parse: \(error)")
        }
    }

    static func matches(_ certID: ASN1Node, _ id: CertificateID) throws -> Bool {
        let parts = try children(certID)
        guard parts.count == 4 else { return false }
        let name = try ASN1OctetString(derEncoded: parts[1]).bytes
        let key = try ASN1OctetString(derEncoded: parts[2]).bytes
        let serial = try ArraySlice<UInt8>(derEncoded: parts[3])
        return hex(name) == id.issuerNameHash && hex(key) == id.issuerKeyHash && CertificateID(hashAlgorithm: "", issuerNameHash: "", issuerKeyHash: "", serialNumber: hex(serial)).serialNumber == id.serialNumber
    }

    static func signatureAlgorithm(_ oid: ASN1ObjectIdentifier) -> Certificate.SignatureAlgorithm? {
        switch oid {
        case [1, 2, 840, 10045, 4, 3, 2]: .ecdsaWithSHA256
        case [1, 2, 840, 10045, 4, 3, 3]: .ecdsaWithSHA384
        case [1, 2, 840, 10045, 4, 3, 4]: .ecdsaWithSHA512
        case [1, 2, 840, 113549, 1, 1, 11]: .sha256WithRSAEncryption
        case [1, 2, 840, 113549, 1, 1, 12]: .sha384WithRSAEncryption
        case [1, 2, 840, 113549, 1, 1, 13]: .sha512WithRSAEncryption
        case [1, 3, 101, 112]: .ed25519
        default: nil
        }
    }

    static func children(_ node: ASN1Node) throws -> [ASN1Node] {
        guard case .constructed(let nodes) = node.content else { throw PKIError("expected a constructed ASN.1 node") }
        return Array(nodes)
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func bytes(hex: String) -> [UInt8]? {
        guard hex.count % 2 == 0, !hex.isEmpty else { return nil }
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            out.append(byte)
            index = next
        }
        return out
    }
}
