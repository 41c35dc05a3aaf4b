/// A list GET's paging and filters (`offset`, `limit`, `date_from` inclusive, `date_to` exclusive), and the
/// keyset cursor Voltaic adds to its own `Link`s so that a deep page costs what the first one does.
public struct PageRequest: Hashable, Sendable {
    public var offset: Int
    public var limit: Int
    public var dateFrom: OCPIDateTime?
    public var dateTo: OCPIDateTime?
    /// The position after the previous page's last object: its creation time and id (the page order).
    public var after: Cursor?

    public struct Cursor: Hashable, Sendable {
        public var createdAt: OCPIDateTime
        public var id: String

        public init(createdAt: OCPIDateTime, id: String) {
            self.createdAt = createdAt
            self.id = id
        }

        /// `seconds.nanoseconds:id`, as it travels in the `after` parameter.
        public var token: String { "\(createdAt.seconds).\(createdAt.nanoseconds):\(id)" }

        public init?(token: String) {
            guard let colon = token.firstIndex(of: ":") else { return nil }
            let time = token[..<colon].split(separator: ".")
            let id = String(token[token.index(after: colon)...])
            guard time.count == 2, let s = Int64(time[0]), let n = Int32(time[1]), (0..<1_000_000_000).contains(n), s >= 0,
                  OCPIString.isCiString(id, maxLength: 64)
            else { return nil }
            self.init(createdAt: OCPIDateTime(seconds: s, nanoseconds: n), id: id)
        }
    }

    /// Reads the query; a bad value names its parameter. A limit above `maxLimit` is lowered to it.
    public init(query: [String: String], maxLimit: Int) throws(OCPIFieldError) {
        func integer(_ name: String, _ range: ClosedRange<Int>) throws(OCPIFieldError) -> Int? {
            guard let raw = query[name] else { return nil }
            guard let v = Int(raw), range.contains(v) else { throw OCPIFieldError(path: name, reason: "must be an integer from \(range.lowerBound) to \(range.upperBound)") }
            return v
        }
        func date(_ name: String) throws(OCPIFieldError) -> OCPIDateTime? {
            guard let raw = query[name], !raw.isEmpty else { return nil }
            guard let d = OCPIDateTime(string: raw) else { throw OCPIFieldError(path: name, reason: "must be an RFC 3339 date and time") }
            return d
        }
        offset = try integer("offset", 0...100_000_000) ?? 0
        limit = min(try integer("limit", 0...1_000_000) ?? maxLimit, maxLimit)
        dateFrom = try date("date_from")
        dateTo = try date("date_to")
        if let raw = query["after"] {
            guard let c = Cursor(token: raw) else { throw OCPIFieldError(path: "after", reason: "is not a cursor this server made") }
            after = c
        }
    }

    public init(offset: Int = 0, limit: Int, dateFrom: OCPIDateTime? = nil, dateTo: OCPIDateTime? = nil, after: Cursor? = nil) {
        self.offset = offset
        self.limit = limit
        self.dateFrom = dateFrom
        self.dateTo = dateTo
        self.after = after
    }

    /// The query of the next page: the same filters, the next offset, and the cursor after `last`.
    public func nextQuery(returned: Int, last: Cursor?) -> String {
        var items = ["offset=\(offset + returned)", "limit=\(limit)"]
        if let dateFrom { items.append("date_from=\(dateFrom)") }
        if let dateTo { items.append("date_to=\(dateTo)") }
        if let last { items.append("after=\(Self.escape(last.token))") }
        return items.joined(separator: "&")
    }

    /// Percent-encodes everything but unreserved characters.
    static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E {
                out.append(Character(Unicode.Scalar(b)))
            } else {
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
