import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCPI
import Storage

/// Sends one push to a partner and reads its answer, bounded in time as a whole (both token forms, the head
/// and the body): a partner that is down or trickles its answer costs at most `timeout`.
struct PushSender: Sendable {
    let http: HTTPClient
    let timeout: Duration
    /// Voltaic's party, for the OCPI-from headers.
    let countryCode: String
    let partyId: String

    struct Request: Sendable {
        var method: HTTPMethod
        var url: String
        /// JSON text; nil for a DELETE.
        var body: String?
        var token: String
        /// The same on every attempt of one push.
        var requestId: String
        var to: (countryCode: String, partyId: String)?
        /// The raw token first (a 2.1.1 partner's), then Base64 on a 401.
        var rawFirst = false
    }

    func send(_ request: Request) async -> PushAnswer {
        do {
            return try await Deadline.run(within: timeout) {
                // Base64 (2.2.1) first; a partner that only takes the raw token answers 401 to it. A 2.1.1 one the other way.
                let forms: [OCPIVersion] = request.rawFirst ? [.v211, .v221] : [.v221, .v211]
                let first = await self.send(request, authorization: AuthorizationToken.header(request.token, version: forms[0]))
                guard first.http == 401 else { return first.answer }
                return await self.send(request, authorization: AuthorizationToken.header(request.token, version: forms[1])).answer
            }
        } catch {
            return .unreachable("no answer within \(timeout.seconds) s")
        }
    }

    private func send(_ r: Request, authorization: String) async -> (http: Int, answer: PushAnswer) {
        var request = HTTPClientRequest(url: r.url)
        request.method = r.method
        request.headers.add(name: "Authorization", value: authorization)
        request.headers.add(name: "X-Request-ID", value: r.requestId)
        request.headers.add(name: "X-Correlation-ID", value: r.requestId)
        request.headers.add(name: "OCPI-from-country-code", value: countryCode)
        request.headers.add(name: "OCPI-from-party-id", value: partyId)
        if let to = r.to {
            request.headers.add(name: "OCPI-to-country-code", value: to.countryCode)
            request.headers.add(name: "OCPI-to-party-id", value: to.partyId)
        }
        if let body = r.body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
            let code = Int(response.status.code)
            let body = try await response.body.collect(upTo: 1 << 20)
            let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(body.readableBytesView))
            var answer = PushAnswer.from(http: code, ocpiStatus: envelope?.statusCode, message: envelope?.statusMessage)
            answer.location = response.headers.first(name: "Location").map { String($0.prefix(512)) }
            return (code, answer)
        } catch {
            // What failed on the network, for the dead-letter list; never the token.
            return (0, .unreachable("could not be reached (\(String(describing: error).prefix(120)))"))
        }
    }

    private struct Envelope: Decodable {
        var statusCode: Int?
        var statusMessage: String?
        enum CodingKeys: String, CodingKey { case statusCode = "status_code", statusMessage = "status_message" }
    }
}
