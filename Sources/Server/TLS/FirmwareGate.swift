import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import HTTPTypes
import OCPP
import PKI
import X509
import Storage

/// Checks a signed firmware update before it is sent: the image is fetched from its location (within a deadline and
/// a size cap) and its signature verified with the signing certificate, which must chain to a firmware root
/// (`--firmware-root`). A station is never told to install an image that does not verify.
struct FirmwareGate: Sendable {
    let roots: [Certificate]
    let http: HTTPClient
    let timeout: Duration
    let maxBytes: Int

    /// `firmware` is OCPP's FirmwareType (both versions name its fields alike). 422 names the field at fault; 502
    /// says the image could not be fetched.
    func check(_ firmware: JSONValue?) async throws(Problem) {
        guard let firmware, let location = firmware["location"]?.stringValue else {
            throw Problem(.unprocessableContent, "Invalid firmware", "firmware.location is required")
        }
        guard let signature = firmware["signature"]?.stringValue, let certificate = firmware["signingCertificate"]?.stringValue else {
            throw Problem(.unprocessableContent, "Unsigned firmware", "firmware.signature and firmware.signingCertificate are required for a signed update")
        }
        guard !roots.isEmpty else {
            throw Problem(.unprocessableContent, "No firmware root", "no firmware root is configured (--firmware-root): a signed update cannot be checked")
        }
        let image = try await fetch(location)
        do {
            try await FirmwareCheck.verify(image: image, signature: signature, signingCertificate: certificate, roots: roots, at: Date())
        } catch {
            throw Problem(.unprocessableContent, "Firmware signature refused", "firmware.\(error.message)")
        }
    }

    private func fetch(_ location: String) async throws(Problem) -> [UInt8] {
        guard let url = URL(string: location), ["http", "https"].contains(url.scheme?.lowercased() ?? "") else {
            throw Problem(.unprocessableContent, "Invalid firmware", "firmware.location: Voltaic checks images it can fetch over http(s); '\(location.prefix(100))' is not one")
        }
        do {
            let request = HTTPClientRequest(url: location)
            let deadline = TimeAmount(timeout)
            // The whole download within the deadline, not only its head.
            return try await Deadline.run(within: timeout) { [http, maxBytes] in
                let response = try await http.execute(request, timeout: deadline)
                guard response.status == .ok else { throw Problem(.badGateway, "Firmware not fetched", "firmware.location answered HTTP \(response.status.code)") }
                let body = try await response.body.collect(upTo: maxBytes)
                return Array(body.readableBytesView)
            }
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem(.badGateway, "Firmware not fetched", "firmware.location could not be fetched: \(String("\(error)".prefix(200)))")
        }
    }
}
