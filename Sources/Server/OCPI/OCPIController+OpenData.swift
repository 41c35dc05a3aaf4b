import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import OCPI
import Storage

/// The open-data feed for map services and national access points: `GET /ocpi/open/locations`, the published
/// locations (`publish` true) as OCPI Location objects with live EVSE status, paged like the Sender module, with no
/// token. Answers carry a strong `ETag` and `Last-Modified`, honour `If-None-Match` and `If-Modified-Since` (304), and
/// may be cached for a short while. `serve --no-open-data` turns it off.
extension OCPIController {
    func addOpenDataRoutes(to ocpi: RouterGroup<AdminContext>) {
        ocpi.get("open/locations", use: openLocations)
    }

    @Sendable func openLocations(_ request: Request, context: AdminContext) async throws -> Response {
        let page = try pageRequest(request)
        let result = try await catalog.locations(page, publishedOnly: true)
        let json = LocationMapper.json(result.items)
        // The same objects and the same page boundaries give the same tag, whenever asked.
        var hasher = SHA256()
        hasher.update(data: Data(json.utf8))
        hasher.update(data: Data("\(result.total) \(result.more)".utf8))
        let tag = "\"" + hasher.finalize().prefix(16).map { String(format: "%02x", $0) }.joined() + "\""
        let newest = result.items.map(\.lastUpdated).max()
        var headers = pageHeaders(page, result, path: "open/locations", root: "\(baseURL)/ocpi")
        headers[.eTag] = tag
        headers[.cacheControl] = "public, max-age=30"
        if let newest { headers[.lastModified] = Self.httpDate(newest.date) }

        let notModified: Bool
        if let match = request.headers[.ifNoneMatch] {
            notModified = match.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == tag || $0.trimmingCharacters(in: .whitespaces) == "*" }
        } else if let since = request.headers[.ifModifiedSince].flatMap(Self.parseHTTPDate), let newest {
            notModified = newest.seconds <= Int64(since.timeIntervalSince1970)
        } else {
            notModified = false
        }
        if notModified { return Response(status: .notModified, headers: headers) }
        return OCPIReply.envelope(json: json, request: request, headers: headers)
    }

    static func httpDateFormatter() -> DateFormatter {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f
    }

    static func httpDate(_ date: Date) -> String { httpDateFormatter().string(from: date) }
    static func parseHTTPDate(_ text: String) -> Date? { httpDateFormatter().date(from: text) }
}
