import Foundation
import Hummingbird
import OCPP

/// Request context of the admin API: JSON with RFC 3339 dates.
struct AdminContext: RequestContext {
    var coreContext: CoreRequestContextStorage

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

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
