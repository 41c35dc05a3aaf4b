import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PKI
import X509
import Storage

/// Asks OCSP responders (RFC 6960 over HTTP POST) within a deadline: for GetCertificateStatus it relays the DER
/// response to the station (which checks it); as a status source it trusts only a response signed by the issuer.
struct OCSPClient: Sendable {
    let http: HTTPClient
    let timeout: Duration
    /// Certificates that may have issued the certificates asked about (the contract roots and sub-CAs).
    let issuers: [Certificate]

    /// The whole exchange, body included, within `timeout` (a responder that trickles its answer is cut off).
    func fetch(_ id: CertificateID, responder: String) async throws -> OCSPMessages.Answer {
        try await Deadline.run(within: timeout) { [self] in try await exchange(id, responder: responder) }
    }

    private func exchange(_ id: CertificateID, responder: String) async throws -> OCSPMessages.Answer {
        guard let url = URL(string: responder), ["http", "https"].contains(url.scheme?.lowercased() ?? "") else {
            throw PKIError("the responder URL '\(responder.prefix(100))' is not http(s)")
        }
        var request = HTTPClientRequest(url: responder)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/ocsp-request")
        request.headers.add(name: "Accept", value: "application/ocsp-response")
        request.body = .bytes(ByteBuffer(bytes: try OCSPMessages.request(for: id)))
        let response = try await http.execute(request, timeout: TimeAmount(timeout))
        guard response.status == .ok else { throw PKIError("the responder answered HTTP \(response.status.code)") }
        let body = try await response.body.collect(upTo: 64 << 10)
        return try OCSPMessages.status(of: id, in: Array(body.readableBytesView), issuers: issuers, at: Date())
    }
}

/// OCSP as a status source: a responder's `revoked` counts whether or not its signature can be checked (a forged
/// one can only refuse a car); its `good` counts only when signed by the issuer. No answer is `unknown`.
struct OCSPStatusSource: CertificateStatusSource {
    let client: OCSPClient

    func status(of id: CertificateID, responder: String?) async -> CertificateStatus {
        guard let responder, let answer = try? await client.fetch(id, responder: responder) else { return .unknown }
        switch answer.status {
        case .revoked: return .revoked
        case .good: return answer.verified ? .good : .unknown
        case .unknown: return .unknown
        }
    }
}
