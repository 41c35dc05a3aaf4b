import Foundation
import Hummingbird
import OCPP

/// Checks what a request carries before a handler sees it:
/// - path parameters are percent-decoded (`X_0%3DH` is `X_0=H`); one that does not decode to UTF-8 is 400;
/// - no path parameter, query parameter or JSON string (key or value) may hold U+0000, which PostgreSQL
///   cannot store: 400 for parameters, 422 for body fields, naming the field;
/// - a body is at most `AdminContext.maxUploadSize` (413).
struct InputGuardMiddleware: RouterMiddleware {
    typealias Context = AdminContext

    func handle(_ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response) async throws -> Response {
        var context = context
        var decoded = Parameters()
        for (name, raw) in context.parameters {
            guard let value = String(raw).removingPercentEncoding else {
                throw Problem(.badRequest, "Invalid path parameter", "'\(name)' is not valid percent-encoded UTF-8")
            }
            guard !value.contains("\u{0}") else { throw Problem(.badRequest, "Invalid path parameter", "'\(name)' contains a NUL (U+0000) character") }
            decoded[name] = Substring(value)
        }
        context.coreContext.parameters = decoded
        for (name, value) in request.uri.queryParameters where name.contains("\u{0}") || value.contains("\u{0}") {
            throw Problem(.badRequest, "Invalid query parameter", "'\(Problem.bounded(name.replacingOccurrences(of: "\u{0}", with: "\\u0000")))' contains a NUL (U+0000) character")
        }
        var request = request
        if [.post, .put, .patch, .delete].contains(request.method) {
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: context.maxUploadSize)
            } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
                throw Problem(.contentTooLarge, "Body too large", "a request body is at most \(context.maxUploadSize) bytes")
            }
            if body.readableBytes > 0, let json = try? JSONParser.parse(Array(body.readableBytesView)), let field = Self.fieldWithNUL(json, path: "") {
                throw Problem(.unprocessableContent, "Invalid field", "'\(Problem.bounded(field))' contains a NUL (U+0000) character")
            }
        }
        return try await next(request, context)
    }

    /// The path (`idToken.idToken`, `items[2]`) of the first string or key holding U+0000.
    static func fieldWithNUL(_ value: JSONValue, path: String) -> String? {
        switch value {
        case .string(let s): return s.contains("\u{0}") ? (path.isEmpty ? "body" : path) : nil
        case .array(let items):
            for (i, item) in items.enumerated() { if let f = fieldWithNUL(item, path: "\(path)[\(i)]") { return f } }
            return nil
        case .object(let members):
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                let field = path.isEmpty ? key : "\(path).\(key)"
                if key.contains("\u{0}") { return field.replacingOccurrences(of: "\u{0}", with: "\\u0000") }
                if let f = fieldWithNUL(member, path: field) { return f }
            }
            return nil
        default: return nil
        }
    }
}
