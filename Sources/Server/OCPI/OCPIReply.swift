import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OCPI
import Storage

/// What an OCPI handler answers with when it cannot do what was asked: an HTTP status and an OCPI status code.
struct OCPIError: Error, Sendable {
    var http: HTTPResponse.Status
    var status: OCPIStatus
    var message: String
    var headers: HTTPFields = [:]

    init(_ http: HTTPResponse.Status, _ status: OCPIStatus, _ message: String) {
        self.http = http
        self.status = status
        self.message = message
    }

    static let unauthorized = OCPIError(.unauthorized, .clientError, "missing or unknown token; send Authorization: Token <token>")
    static func invalid(_ what: String) -> OCPIError { OCPIError(.ok, .invalidParameters, what) }
}

/// The envelope and the headers of every OCPI answer: `X-Request-ID` and `X-Correlation-ID` echoed (made when
/// the request had none), the routing headers swapped on functional modules, and `timestamp` in UTC `Z`.
enum OCPIReply {
    /// The OCPI parties of a functional module's request, for its routing headers.
    struct Routing: Sendable {
        var ours: (countryCode: String, partyId: String)
        var theirs: (countryCode: String, partyId: String)?
    }

    static func envelope<T: Encodable & Sendable>(
        _ data: T?, status: OCPIStatus = .success, message: String? = nil, http: HTTPResponse.Status = .ok,
        request: Request, routing: Routing? = nil, headers extra: HTTPFields = [:]
    ) -> Response {
        let body = OCPIResponse(data: data, statusCode: status, statusMessage: message, timestamp: OCPIDateTime(Date()))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let bytes = (try? encoder.encode(body)) ?? Data(#"{"status_code":3000,"status_message":"the answer could not be encoded","timestamp":"\#(OCPIDateTime(Date()).wire)"}"#.utf8)
        return response(ByteBuffer(bytes: bytes), http: http, request: request, routing: routing, headers: extra)
    }

    /// A success whose `data` is JSON text made already (`LocationMapper.json`).
    static func envelope(json data: String, request: Request, routing: Routing? = nil, headers extra: HTTPFields = [:]) -> Response {
        var buffer = ByteBuffer()
        buffer.writeString("{\"data\":")
        buffer.writeString(data)
        buffer.writeString(",\"status_code\":1000,\"timestamp\":\"\(OCPIDateTime(Date()).wire)\"}")
        return response(buffer, http: .ok, request: request, routing: routing, headers: extra)
    }

    private static func response(_ body: ByteBuffer, http: HTTPResponse.Status, request: Request, routing: Routing?, headers extra: HTTPFields) -> Response {
        var headers = extra
        headers[.contentType] = "application/json"
        let requestId = request.headers[.requestID].flatMap { OCPIString.isCiString($0, maxLength: 64) ? $0 : nil } ?? UUID().uuidString.lowercased()
        headers[.requestID] = requestId
        headers[.correlationID] = request.headers[.correlationID].flatMap { OCPIString.isCiString($0, maxLength: 64) ? $0 : nil } ?? requestId
        if let routing {
            // In a response the parties are swapped: from is us, to is the caller.
            let to = request.headers[.ocpiFromCountryCode].flatMap { cc in request.headers[.ocpiFromPartyId].map { (cc, $0) } } ?? routing.theirs
            headers[.ocpiFromCountryCode] = request.headers[.ocpiToCountryCode] ?? routing.ours.countryCode
            headers[.ocpiFromPartyId] = request.headers[.ocpiToPartyId] ?? routing.ours.partyId
            if let to {
                headers[.ocpiToCountryCode] = to.0
                headers[.ocpiToPartyId] = to.1
            }
        }
        return Response(status: http, headers: headers, body: .init(byteBuffer: body))
    }

    static func error(_ e: OCPIError, request: Request, routing: Routing? = nil) -> Response {
        envelope(NoPayload?.none, status: e.status, message: e.message, http: e.http, request: request, routing: routing, headers: e.headers)
    }
}

extension HTTPField.Name {
    static let requestID = Self("X-Request-ID")!
    static let correlationID = Self("X-Correlation-ID")!
    static let totalCount = Self("X-Total-Count")!
    static let limit = Self("X-Limit")!
    static let link = Self("Link")!
    static let ocpiFromCountryCode = Self("OCPI-from-country-code")!
    static let ocpiFromPartyId = Self("OCPI-from-party-id")!
    static let ocpiToCountryCode = Self("OCPI-to-country-code")!
    static let ocpiToPartyId = Self("OCPI-to-party-id")!
}

/// Every error under `/ocpi` becomes an OCPI envelope, never a problem document: a database that cannot answer
/// is 503 with 3000, anything else 500 with 3000 and nothing internal.
struct OCPIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as OCPIError {
            return OCPIReply.error(e, request: request)
        } catch let e as HTTPError where e.status == .contentTooLarge {
            return OCPIReply.error(OCPIError(.contentTooLarge, .clientError, "a request body is at most 1 MiB"), request: request)
        } catch let e as HTTPError where e.status == .notFound {
            return OCPIReply.error(OCPIError(.notFound, .clientError, "no such OCPI resource"), request: request)
        } catch let e as HTTPError where e.status == .methodNotAllowed {
            return OCPIReply.error(OCPIError(.methodNotAllowed, .clientError, "method not allowed here"), request: request)
        } catch {
            let problem = Problem.from(error, logger: context.logger)
            let unavailable = problem.status == .serviceUnavailable
            return OCPIReply.error(
                OCPIError(unavailable ? .serviceUnavailable : .internalServerError, .serverError, unavailable ? "the database is unavailable; try again later" : "the request could not be completed"),
                request: request
            )
        }
    }
}
