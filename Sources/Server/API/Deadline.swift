import Foundation
import Hummingbird
import Storage

/// Every HTTP request is answered within `limit`: past it the caller gets a 503 problem, so an
/// unreachable or frozen database never leaves a request hanging. It wraps the whole router, so the
/// handler, its middleware and the audit write all count against the same deadline.
struct DeadlineResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context: RequestContext {
    typealias Context = Inner.Context
    let inner: Inner
    let limit: Duration
    /// Requests that wait for a station (commands, reservations) get the station's call timeout on top.
    var stationWait: Duration = .zero

    func respond(to request: Request, context: Context) async throws -> Response {
        let waitsForStation = request.method != .get && (request.uri.path.contains("/commands/") || request.uri.path.hasPrefix("/api/v1/reservations"))
        let limit = waitsForStation ? limit + stationWait : limit
        do {
            return try await Deadline.run(within: limit) { try await inner.respond(to: request, context: context) }
        } catch is Deadline.Exceeded {
            var problem = Problem(.serviceUnavailable, "Service unavailable", "the request did not complete within \(limit.seconds) s; the database may be unreachable")
            problem.headers[.retryAfter] = "5"
            return try problem.response(from: request, context: context)
        }
    }
}

/// Builds a `DeadlineResponder` around a router.
struct DeadlineRouter<Inner: HTTPResponderBuilder>: HTTPResponderBuilder where Inner.Responder.Context: RequestContext {
    let inner: Inner
    let limit: Duration
    var stationWait: Duration = .zero

    func buildResponder() -> DeadlineResponder<Inner.Responder> { DeadlineResponder(inner: inner.buildResponder(), limit: limit, stationWait: stationWait) }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
