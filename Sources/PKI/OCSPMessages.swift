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
    /// certificate that one signed; otherwise `verified` is false. An answer that is not fresh (thisUpdate in the
    /// future, or nextUpdate past, or with no nextUpdate older than `maxAge`) is refused: a replayed old "good" is not
    /// a status. Any shape that is not RFC 6960's is refused, never trapped on.
    public static func status(of id: CertificateID, in der: [UInt8], issuers: [Certificate], at now: Date, maxAge: TimeInterval = 7 * 86400) throws(PKIError) -> Answer {
        do {
            let top = try children(try DER.parse(der), atLeast: 1)
            guard case .primitive(let statusBytes) = top[0].content, statusBytes.count == 1, statusBytes.first == 0 else {
                throw PKIError("the OCSP responder answered with an error status")
            }
            guard top.count > 1 else { throw PKIError("the OCSP response has no responseBytes") }
            let responseBytes = try children(try children(top[1], atLeast: 1)[0], atLeast: 2)
            guard try ASN1ObjectIdentifier(derEncoded: responseBytes[0]) == basicResponse else { throw PKIError("the OCSP response is not a basic response") }
            let basicDER = try ASN1OctetString(derEncoded: responseBytes[1]).bytes
            let basic = try children(try DER.parse(Array(basicDER)), atLeast: 3)
            let tbs = basic[0]
            let signatureAlgorithm = try children(basic[1], atLeast: 1)
            let signature = try ASN1BitString(derEncoded: basic[2]).bytes
            var embedded: [Certificate] = []
            if basic.count > 3, let list = try children(basic[3]).first {
                for node in try children(list) { embedded.append(try Certificate(derEncoded: node)) }
            }
            // ResponseData: [0] version?, responderID, producedAt, responses, [1] extensions?
            var fields = try children(tbs)
            if let first = fields.first, first.identifier.tagClass == .contextSpecific, first.identifier.tagNumber == 0 { fields.removeFirst() }
            guard fields.count >= 3 else { throw PKIError("the OCSP response data is short") }
            var found: (status: CertificateStatus, thisUpdate: Date, nextUpdate: Date?)?
            for single in try children(fields[2]) {
                let parts = try children(single)
                guard parts.count >= 3, try matches(parts[0], id) else { continue }
                let status: CertificateStatus
                switch (parts[1].identifier.tagClass, parts[1].identifier.tagNumber) {
                case (.contextSpecific, 0): status = .good
                case (.contextSpecific, 1): status = .revoked
                default: status = .unknown
                }
                let thisUpdate = try date(GeneralizedTime(derEncoded: parts[2]))
                var nextUpdate: Date?
                if parts.count > 3, parts[3].identifier.tagClass == .contextSpecific, parts[3].identifier.tagNumber == 0,
                    let inner = try children(parts[3]).first
                {
                    nextUpdate = try date(GeneralizedTime(derEncoded: inner))
                }
                found = (status, thisUpdate, nextUpdate)
            }
            guard let found else { throw PKIError("the OCSP response does not speak of \(id)") }
            let skew: TimeInterval = 300
            guard found.thisUpdate <= now.addingTimeInterval(skew) else { throw PKIError("the OCSP response is dated in the future") }
            guard (found.nextUpdate ?? found.thisUpdate.addingTimeInterval(maxAge)) >= now.addingTimeInterval(-skew) else {
                throw PKIError("the OCSP response is stale")
            }
            let algorithm = Self.signatureAlgorithm(try ASN1ObjectIdentifier(derEncoded: signatureAlgorithm[0]))
            let signed = Array(tbs.encodedBytes)
            let issuer = issuers.first { keyHash($0, id.hashAlgorithm) == id.issuerKeyHash }
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
            return Answer(status: found.status, verified: verified, der: der)
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError("the OCSP response does not parse: \(error)")
        }
    }

    /// The issuer key hash of `certificate` with OCPP's hash algorithm name, hex.
    static func keyHash(_ certificate: Certificate, _ algorithm: String) -> String? {
        let key = Array(certificate.publicKey.subjectPublicKeyInfoBytes)
        switch algorithm {
        case "SHA256": return hex(SHA256.hash(data: key))
        case "SHA384": return hex(SHA384.hash(data: key))
        case "SHA512": return hex(SHA512.hash(data: key))
        default: return nil
        }
    }

    static func date(_ t: GeneralizedTime) throws -> Date {
        var c = DateComponents()
        c.calendar = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")
        (c.year, c.month, c.day, c.hour, c.minute, c.second) = (t.year, t.month, t.day, t.hours, t.minutes, t.seconds)
        guard let d = c.date else { throw PKIError("a GeneralizedTime is not a date") }
        return d
    }

    static func matches(_ certID: ASN1Node, _ id: CertificateID) throws -> Bool {
        let parts = try children(certID)
        guard parts.count == 4 else { return false }
        guard try children(parts[0], atLeast: 1).first.map({ try ASN1ObjectIdentifier(derEncoded: $0) }) == hashOIDs[id.hashAlgorithm] else { return false }
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

    static func children(_ node: ASN1Node, atLeast count: Int = 0) throws -> [ASN1Node] {
        guard case .constructed(let nodes) = node.content else { throw PKIError("expected a constructed ASN.1 node") }
        let out = Array(nodes)
        guard out.count >= count else { throw PKIError("an ASN.1 sequence has \(out.count) elements, fewer than \(count)") }
        return out
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
