import HTTPTypes
import Hummingbird
import Synchronization

/// The routes the router has, by path template, for answering a method a known path lacks.
final class RouteTable: Sendable {
    private let templates = Mutex<[(segments: [Substring], methods: Set<String>)]>([])

    /// Called once the router has all its routes.
    func load(_ routes: [(path: String, method: HTTPRequest.Method)]) {
        var byPath: [String: Set<String>] = [:]
        for r in routes { byPath[r.path, default: []].insert(r.method.rawValue) }
        templates.withLock { t in t = byPath.map { (segments: $0.key.split(separator: "/"), methods: $0.value) } }
    }

    /// The methods routed for a path, nil when no template matches it.
    func methods(for path: String) -> Set<String>? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        let found = templates.withLock { t in
            t.filter { entry in
                entry.segments.count == parts.count
                    && zip(entry.segments, parts).allSatisfy { template, part in (template.hasPrefix("{") && template.hasSuffix("}")) || template == part }
            }.reduce(into: Set<String>()) { $0.formUnion($1.methods) }
        }
        return found.isEmpty ? nil : found
    }
}

/// A method a known path does not have gets 405 with `Allow`, not the router's 404.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && context.endpointPath == "NotFound" {
            guard let methods = routes.methods(for: request.uri.path), !methods.contains(request.method.rawValue) else { throw error }
            let allow = methods.sorted().joined(separator: ", ")
            var problem = Problem(.methodNotAllowed, "Method not allowed", "\(Problem.bounded(request.method.rawValue)) is not allowed here; use \(allow)")
            problem.headers[.allow] = allow
            throw problem
        }
    }
}
