import CSMS
import Foundation
import Logging
import NIOCore
import PostgresNIO
public import HTTPTypes
public import Hummingbird

/// An RFC 9457 problem: the only error shape the admin API returns (`application/problem+json`).
public struct Problem: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let title: String
    public let detail: String?
    /// Sent with the problem, such as `WWW-Authenticate` with a 401 or `Allow` with a 405.
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ title: String, _ detail: String? = nil) {
        self.status = status
        self.title = title
        self.detail = detail.map { Self.bounded($0, 512) }
    }

    /// Input echoed in a detail is cut to `limit` characters, so that a problem never grows with what the client sent.
    static func bounded(_ text: some StringProtocol, _ limit: Int = 64) -> String {
        text.count <= limit ? String(text) : String(text.prefix(limit)) + "…"
    }

    private struct Body: Encodable {
        var type = "about:blank"
        var title: String
        var status: Int
        var detail: String?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(Body(title: title, status: status.code, detail: detail))
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The one place an error becomes a status: problems stay, Hummingbird's errors keep their status,
    /// a database that cannot be reached is 503, anything else is a 500 that tells nothing internal.
    static func from(_ error: any Error, logger: Logger) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let error as HTTPError:
            return Problem(error.status, error.status.reasonPhrase, error.body)
        case let error as any HTTPResponseError:
            return Problem(error.status, error.status.reasonPhrase)
        case StoreFailure.unavailable:
            return Problem(.serviceUnavailable, "Database unavailable", "the database cannot take the change now; try again later")
        case StoreFailure.rejected(let why):
            return Problem(.unprocessableContent, "Refused by the database", bounded(why, 200))
        case _ where isDatabaseUnavailable(error):
            logger.warning("admin API request failed: database unavailable", metadata: ["error.type": "\(String(reflecting: type(of: error)))"])
            return Problem(.serviceUnavailable, "Database unavailable", "the database cannot be reached; try again later")
        default:
            logger.error("admin API request failed", metadata: ["error.type": "\(String(reflecting: error))"])
            return Problem(.internalServerError, "Internal error", "the request could not be completed")
        }
    }

    /// postgres-nio's connection, pool and shutdown errors, and NIO's own connect errors.
    static func isDatabaseUnavailable(_ error: any Error) -> Bool {
        if let psql = error as? PSQLError {
            switch psql.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed, .queryCancelled, .sslUnsupported,
                .failedToAddSSLHandler:
                return true
            case .server:
                // 08: connection exception, 53: insufficient resources, 57: operator intervention (shutdown, cannot connect now).
                let state = psql.serverInfo?[.sqlState] ?? ""
                return ["08", "53", "57"].contains(String(state.prefix(2)))
            default:
                return false
            }
        }
        if error is ChannelError || error is IOError { return true }
        return String(reflecting: type(of: error)).contains("ConnectionPoolError")
    }
}

/// Turns every error into a problem document; nothing internal reaches the client.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            throw Problem.from(error, logger: context.logger)
        }
    }
}
