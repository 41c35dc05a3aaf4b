import Foundation
import Hummingbird
import OCPI
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
    /// An OCPI credentials POST or PUT calls the partner's versions and details before it answers: two calls.
    var partnerWait: Duration = .zero
    /// A signed firmware update fetches its image before it is sent.
    var firmwareWait: Duration = .zero

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        // The certificate routes that talk to a station (GET …/certificates/installed among them), raising a security
        // profile, and a firmware update (which first fetches the image it checks).
        let stationRoute = path.hasPrefix("/api/v1/stations/") && (path.contains("/certificates/") || path.hasSuffix("/security-profile") || path.hasSuffix("/firmware"))
        let waitsForStation = stationRoute || (request.method != .get && (path.contains("/commands/") || path.hasPrefix("/api/v1/reservations")))
        let waitsForPartner = (request.method == .post || request.method == .put) && path.hasPrefix("/ocpi/") && path.hasSuffix("/credentials")
        // Registering toward a partner calls it three times: its versions, its details, its credentials.
        let registers = request.method == .post && path.hasPrefix("/api/v1/ocpi/partners/") && path.hasSuffix("/register")
        let fetchesImage = (stationRoute && path.hasSuffix("/firmware")) || path.hasSuffix("/commands/SignedUpdateFirmware") || path.hasSuffix("/commands/UpdateFirmware")
        let limit =
            waitsForStation
            ? limit + stationWait + (fetchesImage ? firmwareWait : .zero) : (registers ? limit + partnerWait * 3 : (waitsForPartner ? limit + partnerWait * 2 : limit))
        do {
            return try await Deadline.run(within: limit) { try await inner.respond(to: request, context: context) }
        } catch is Deadline.Exceeded {
            if path.hasPrefix("/ocpi/") {
                var e = OCPIError(.serviceUnavailable, .serverError, "the request did not complete within \(limit.seconds) s; try again later")
                e.headers[.retryAfter] = "5"
                return OCPIReply.error(e, request: request)
            }
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
    var partnerWait: Duration = .zero
    var firmwareWait: Duration = .zero

    func buildResponder() -> DeadlineResponder<Inner.Responder> {
        DeadlineResponder(inner: inner.buildResponder(), limit: limit, stationWait: stationWait, partnerWait: partnerWait, firmwareWait: firmwareWait)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
