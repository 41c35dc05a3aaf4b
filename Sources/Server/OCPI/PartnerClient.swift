import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCPI
import Storage

/// Calls a partner's OCPI API, each call bounded in time: a partner that is down is answered 3001 within
/// `timeout`, never waited on. It reads the envelope leniently where partners are known to stray: a token
/// header raw or Base64 (whichever the partner takes), and a `data` that is a list of one instead of an object.
struct PartnerClient: Sendable {
    let http: HTTPClient
    let timeout: Duration

    enum Failure: Error, CustomStringConvertible {
        case unreachable(String)
        case refused(Int)
        case notOCPI(String)
        case status(Int, String?)

        /// What the partner is told: the kind of failure, not the details of the network (which would make a
        /// registration attempt a probe of what Voltaic's host can reach).
        var summary: String {
            switch self {
            case .unreachable: "could not be reached in time"
            case .refused(let code): "answered HTTP \(code)"
            case .notOCPI(let why): "did not answer an OCPI envelope (\(why.prefix(120)))"
            case .status(let code, _): "answered OCPI status \(code)"
            }
        }

        var description: String {
            switch self {
            case .unreachable(let why): "could not be reached (\(why))"
            case .refused(let code): "answered HTTP \(code)"
            case .notOCPI(let why): "did not answer an OCPI envelope (\(why))"
            case .status(let code, let message): "answered OCPI status \(code)\(message.map { ": \($0)" } ?? "")"
            }
        }
    }

    struct Envelope<T: Decodable>: Decodable {
        var data: T?
        var statusCode: Int
        var statusMessage: String?

        enum CodingKeys: String, CodingKey { case data, statusCode = "status_code", statusMessage = "status_message" }
    }

    /// An object, or a list holding exactly one.
    struct OneOf<T: Decodable>: Decodable {
        var value: T

        init(from decoder: any Decoder) throws {
            do {
                value = try T(from: decoder)
            } catch {
                guard var list = try? decoder.unkeyedContainer(), list.count == 1, let only = try? list.decode(T.self) else { throw error }
                value = only
            }
        }
    }

    /// GETs `url` and decodes the envelope's `data`. Tries the token Base64-encoded (2.2.1) and, on 401, raw.
    /// Both tries, the answer's head and its body, fit in `timeout`: AsyncHTTPClient's own deadline ends with
    /// the head, and a partner trickling its body would hold the caller otherwise.
    func get<T: Decodable & Sendable>(_ type: T.Type, url: String, token: String, rawFirst: Bool = false) async throws(Failure) -> T {
        try await call(T.self, method: .GET, url: url, token: token, body: nil, rawFirst: rawFirst)
    }

    /// POSTs `body` (JSON) to `url` and decodes the envelope's `data`, bounded as `get` is.
    func post<T: Decodable & Sendable>(_ type: T.Type, url: String, token: String, body: (some Encodable)?, rawFirst: Bool = false) async throws(Failure) -> T {
        var data: Data?
        if let body {
            do { data = try JSONEncoder().encode(body) } catch { throw .notOCPI("the request could not be encoded") }
        }
        return try await call(T.self, method: .POST, url: url, token: token, body: data, rawFirst: rawFirst)
    }

    private func call<T: Decodable & Sendable>(_ type: T.Type, method: HTTPMethod, url: String, token: String, body: Data?, rawFirst: Bool = false) async throws(Failure) -> T {
        do {
            return try await Deadline.run(within: timeout) { try await self.tries(T.self, method: method, url: url, token: token, body: body, rawFirst: rawFirst) }
        } catch let f as Failure {
            throw f
        } catch {
            throw .unreachable("no answer within \(timeout.seconds) s")
        }
    }

    /// 2.2.1's Base64 token first, then the raw one on a 401; the raw one first toward a 2.1.1 partner.
    private func tries<T: Decodable>(_ type: T.Type, method: HTTPMethod, url: String, token: String, body: Data?, rawFirst: Bool) async throws(Failure) -> T {
        var last = Failure.refused(401)
        let forms = [AuthorizationToken.header(token, version: .v221), AuthorizationToken.header(token, version: .v211)]
        for header in rawFirst ? forms.reversed() : forms {
            do {
                return try await send(T.self, method: method, url: url, authorization: header, body: body)
            } catch .refused(401) {
                last = .refused(401)
                continue
            }
        }
        throw last
    }

    private func send<T: Decodable>(_ type: T.Type, method: HTTPMethod, url: String, authorization: String, body payload: Data?) async throws(Failure) -> T {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: authorization)
        request.headers.add(name: "X-Request-ID", value: UUID().uuidString.lowercased())
        request.headers.add(name: "X-Correlation-ID", value: UUID().uuidString.lowercased())
        if let payload {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: payload))
        }
        let body: ByteBuffer
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
            guard (200..<300).contains(Int(response.status.code)) else { throw Failure.refused(Int(response.status.code)) }
            body = try await response.body.collect(upTo: 4 << 20)
        } catch let f as Failure {
            throw f
        } catch {
            throw .unreachable(String(describing: error).prefix(120).description)
        }
        let envelope: Envelope<OneOf<T>>
        do {
            envelope = try JSONDecoder().decode(Envelope<OneOf<T>>.self, from: Data(body.readableBytesView))
        } catch {
            throw .notOCPI(OCPIFieldError.from(error).description)
        }
        guard (1000..<2000).contains(envelope.statusCode) else { throw .status(envelope.statusCode, envelope.statusMessage) }
        guard let data = envelope.data else { throw .notOCPI("data: is required") }
        return data.value
    }
}
