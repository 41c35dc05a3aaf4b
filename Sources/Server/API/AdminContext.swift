import Foundation
import Hummingbird
import OCPP

/// Request context of the admin API: JSON with RFC 3339 dates, the authenticated caller, and what the
/// handler tells the audit log.
struct AdminContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Set by `AccessMiddleware` before any handler runs.
    var principal: Principal?
    /// Shared by every copy of this context: a handler names the OCPP action it sent here.
    let audit = AuditNote()

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// The most a request body may be; larger ones get 413.
    var maxUploadSize: Int { 1 << 20 }

    var requestDecoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let s = try c.decode(String.self)
            guard let date = OCPPDateTime.parse(s) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected an RFC 3339 date-time")
            }
            return date
        }
        return d
    }

    var responseEncoder: JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(OCPPDateTime.format(date))
        }
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
