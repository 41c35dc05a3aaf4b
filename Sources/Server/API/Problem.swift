import Foundation
import Logging
public import HTTPTypes
public import Hummingbird

/// An RFC 9457 problem: the only error shape the admin API returns (`application/problem+json`).
public struct Problem: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let title: String
    public let detail: String?

    public init(_ status: HTTPResponse.Status, _ title: String, _ detail: String? = nil) {
        self.status = status
        self.title = title
        self.detail = detail
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
        return Response(status: status, headers: [.contentType: "application/problem+json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error into a problem document; nothing internal reaches the client.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            throw problem
        } catch let error as HTTPError {
            throw Problem(error.status, error.status.reasonPhrase, error.body)
        } catch let error as any HTTPResponseError {
            throw Problem(error.status, error.status.reasonPhrase)
        } catch {
            context.logger.error("admin API request failed", metadata: ["error.type": "\(String(reflecting: error))"])
            throw Problem(.internalServerError, "Internal error", "the request could not be completed")
        }
    }
}

/// `Authorization: Bearer <admin token>`, compared in constant time.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            ConstantTime.equal(Array(header.dropFirst(7).utf8), Array(token.utf8))
        else {
            var problem = try Problem(.unauthorized, "Unauthorized", "a valid admin bearer token is required").response(from: request, context: context)
            problem.headers[.wwwAuthenticate] = "Bearer realm=\"voltaic\""
            return problem
        }
        return try await next(request, context)
    }
}

enum ConstantTime {
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}
