import Foundation
import PKI
import SwiftASN1
import Testing

@Suite struct OCSPMessagesTests {
    static let id = CertificateID(hashAlgorithm: "SHA256", issuerNameHash: "aa", issuerKeyHash: "bb", serialNumber: "01")

    /// A successful response whose parts are all there in shape but empty inside, to walk every branch of the parser.
    static func skeleton() throws -> [UInt8] {
        var inner = DER.Serializer()
        try inner.appendConstructedNode(identifier: .sequence) { s in  // BasicOCSPResponse
            try s.appendConstructedNode(identifier: .sequence) { s in  // ResponseData
                try s.appendConstructedNode(identifier: .sequence) { _ in }  // responderID (wrong shape, on purpose)
                try s.serialize(ASN1OctetString(contentBytes: [1, 2, 3]))  // producedAt (wrong type)
                try s.appendConstructedNode(identifier: .sequence) { s in  // responses
                    try s.appendConstructedNode(identifier: .sequence) { s in  // SingleResponse
                        try s.appendConstructedNode(identifier: .sequence) { _ in }  // certID, empty
                    }
                }
            }
            try s.appendConstructedNode(identifier: .sequence) { _ in }  // signatureAlgorithm, empty
            try s.serialize(ASN1BitString(bytes: [0]))
        }
        var s = DER.Serializer()
        try s.appendConstructedNode(identifier: .sequence) { s in
            s.appendPrimitiveNode(identifier: .enumerated) { $0.append(0) }
            try s.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)) { s in
                try s.appendConstructedNode(identifier: .sequence) { s in
                    try s.serialize([1, 3, 6, 1, 5, 5, 7, 48, 1, 1] as ASN1ObjectIdentifier)
                    try s.serialize(ASN1OctetString(contentBytes: inner.serializedBytes[...]))
                }
            }
        }
        return s.serializedBytes
    }

    /// Whatever a responder (which a station may choose) sends, the parser answers with an error, never a trap.
    @Test func malformedResponsesAreRefusedNotTrappedOn() throws {
        // An empty ResponseBytes, as the review found: a trap before the counts were checked.
        #expect(throws: PKIError.self) { try OCSPMessages.status(of: Self.id, in: [0x30, 0x07, 0x0a, 0x01, 0x00, 0xa0, 0x02, 0x30, 0x00], issuers: [], at: Date()) }
        #expect(throws: PKIError.self) { try OCSPMessages.status(of: Self.id, in: [], issuers: [], at: Date()) }
        #expect(throws: PKIError.self) { try OCSPMessages.status(of: Self.id, in: [0x30, 0x03, 0x0a, 0x01, 0x01], issuers: [], at: Date()) }
        let whole = try Self.skeleton()
        #expect(throws: PKIError.self) { try OCSPMessages.status(of: Self.id, in: whole, issuers: [], at: Date()) }
        // Every truncation and every single-byte change of it.
        for n in 0..<whole.count {
            #expect(throws: PKIError.self) { try OCSPMessages.status(of: Self.id, in: Array(whole.prefix(n)), issuers: [], at: Date()) }
        }
        for i in whole.indices {
            for value: UInt8 in [0x00, 0x01, 0x30, 0x80, 0xa0, 0xff] {
                var changed = whole
                changed[i] = value
                _ = try? OCSPMessages.status(of: Self.id, in: changed, issuers: [], at: Date())
            }
        }
    }

    @Test func aRequestNamesTheCertificateAsOCSPDoes() throws {
        let der = try OCSPMessages.request(for: CertificateID(hashAlgorithm: "SHA256", issuerNameHash: "0a0b", issuerKeyHash: "0c0d", serialNumber: "8001"))
        // OCSPRequest / TBSRequest / requestList / Request / CertID: SHA-256 OID, the two hashes, the serial as a positive INTEGER.
        let hex = der.map { String(format: "%02x", $0) }.joined()
        #expect(hex.contains("0609608648016503040201"))
        #expect(hex.contains("04020a0b04020c0d"))
        #expect(hex.hasSuffix("0203008001"))
        #expect(throws: PKIError.self) { try OCSPMessages.request(for: CertificateID(hashAlgorithm: "MD5", issuerNameHash: "aa", issuerKeyHash: "bb", serialNumber: "1")) }
    }
}
