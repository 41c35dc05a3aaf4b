public import Foundation
public import X509
import Crypto
public import SwiftASN1

/// A PEM bundle's certificates, in file order; a bundle with no certificate, or a block that is not one, fails.
public func certificates(pemBundle text: String) throws(PKIError) -> [Certificate] {
    let documents: [PEMDocument]
    do {
        documents = try PEMDocument.parseMultiple(pemString: text)
    } catch {
        throw PKIError("the PEM text does not parse: \(error)")
    }
    guard !documents.isEmpty else { throw PKIError("the PEM text holds no certificate") }
    var out: [Certificate] = []
    for document in documents {
        guard document.discriminator == "CERTIFICATE" else { throw PKIError("a PEM block is a \(document.discriminator), not a CERTIFICATE") }
        do {
            out.append(try Certificate(derEncoded: document.derBytes))
        } catch {
            throw PKIError("a CERTIFICATE block does not decode: \(error)")
        }
    }
    return out
}

/// Reads a PEM bundle file of certificates.
public func certificates(pemFile path: String) throws(PKIError) -> [Certificate] {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw PKIError("cannot read \(path)")
    }
    do {
        return try certificates(pemBundle: text)
    } catch {
        throw PKIError("\(path): \(error.message)")
    }
}

/// Something about a certificate, a key or a request that is not right, said so that an operator can act on it.
public struct PKIError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Certificate {
    /// The DER bytes.
    public var derBytes: [UInt8] {
        var serializer = DER.Serializer()
        try! serializer.serialize(self)  // A parsed or built certificate always serializes.
        return serializer.serializedBytes
    }

    /// The SHA-256 of the DER bytes, lower-case hex: how Voltaic names a certificate in its lists.
    public var fingerprint: String { SHA256.hash(data: derBytes).map { String(format: "%02x", $0) }.joined() }

    /// The serial number, lower-case hex without leading zeros (as OCPP's CertificateHashData carries it).
    public var serialHex: String { Self.hex(serialNumber.bytes) }

    public var pem: String { (try? PEMDocument(type: "CERTIFICATE", derBytes: derBytes).pemString) ?? "" }

    /// The first common name of the subject.
    public var commonName: String? { subject.firstValue(of: .RDNAttributeType.commonName) }
    /// The first organisation of the subject.
    public var organization: String? { subject.firstValue(of: .RDNAttributeType.organizationName) }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = bytes.map { String(format: "%02x", $0) }.joined()
        let trimmed = digits.drop { $0 == "0" }
        return trimmed.isEmpty ? "0" : String(trimmed)
    }
}

extension DistinguishedName {
    /// The first value of an attribute, as text.
    public func firstValue(of type: ASN1ObjectIdentifier) -> String? {
        for rdn in self {
            for attribute in rdn where attribute.type == type {
                return String(attribute.value) ?? String(describing: attribute.value)
            }
        }
        return nil
    }
}

extension StringProtocol {
    /// Only 0-9, a-f, A-F (Character.isHexDigit also takes the fullwidth forms, which no certificate id has).
    public var isASCIIHex: Bool { !isEmpty && utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x46).contains($0) || (0x61...0x66).contains($0) } }
}
