public import Foundation

/// An OCPI DateTime: RFC 3339 in UTC, to the nanosecond.
///
/// On the way in it accepts what partners send: `Z`, no designator (which OCPI defines as UTC), or a numeric
/// offset, which is applied. On the way out it always writes `Z` (OCPI: "+00:00" is not UTC). Years outside
/// 1970–9999 are refused, so that every instant fits the arithmetic done on it.
public struct OCPIDateTime: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    public var seconds: Int64
    /// 0 ..< 1,000,000,000.
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// `date` to the microsecond, the precision PostgreSQL keeps, rounded as postgres-nio rounds a bound `Date`.
    public init(_ date: Date) {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.toNearestOrEven))
        let (s, us) = micros.quotientAndFloor(1_000_000)
        self.init(seconds: s, nanoseconds: Int32(us) * 1000)
    }

    public var date: Date { Date(timeIntervalSince1970: Double(seconds) + Double(nanoseconds) / 1e9) }

    /// Exact seconds from `self` to `later`, negative when `later` is earlier.
    public func seconds(until later: OCPIDateTime) -> Decimal {
        Decimal(later.seconds - seconds) + Decimal(Int(later.nanoseconds) - Int(nanoseconds)) / 1_000_000_000
    }

    public static func < (a: OCPIDateTime, b: OCPIDateTime) -> Bool {
        (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds)
    }

    public init?(string text: String) {
        let b = Array(text.utf8)
        func digits(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for i in at..<(at + n) {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard b.count >= 19, b.count <= 40,
              let year = digits(0, 4), b[4] == 0x2D, let month = digits(5, 2), b[7] == 0x2D, let day = digits(8, 2),
              b[10] == 0x54 || b[10] == 0x74, let hour = digits(11, 2), b[13] == 0x3A, let minute = digits(14, 2),
              b[16] == 0x3A, let second = digits(17, 2)
        else { return nil }
        guard (1970...9999).contains(year), (1...12).contains(month), day >= 1, day <= Civil.daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 60
        else { return nil }
        var i = 19
        var nanos = 0
        if i < b.count, b[i] == 0x2E {
            i += 1
            let start = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            let n = i - start
            guard n >= 1, n <= 9, let f = digits(start, n) else { return nil }
            nanos = f
            for _ in n..<9 { nanos *= 10 }
        }
        var offset = 0
        if i < b.count {
            if b[i] == 0x5A || b[i] == 0x7A, i + 1 == b.count {
                i += 1
            } else if b[i] == 0x2B || b[i] == 0x2D, i + 6 == b.count, let oh = digits(i + 1, 2), b[i + 3] == 0x3A,
                      let om = digits(i + 4, 2), oh < 24, om < 60 {
                offset = (oh * 3600 + om * 60) * (b[i] == 0x2B ? 1 : -1)
                i += 6
            } else {
                return nil
            }
        }
        let days = Civil.days(year: year, month: month, day: day)
        self.init(seconds: Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second - offset), nanoseconds: Int32(nanos))
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fff…]Z`, with the fraction only when there is one (trailing zeros dropped).
    public var description: String {
        let days = Int(seconds.quotientAndFloor(86_400).quotient)
        let rest = Int(seconds - Int64(days) * 86_400)
        let (y, m, d) = Civil.date(days: days)
        func pad(_ v: Int, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        var out = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rest / 3600, 2)):\(pad(rest / 60 % 60, 2)):\(pad(rest % 60, 2))"
        if nanoseconds > 0 {
            var fraction = pad(Int(nanoseconds), 9)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            out += "." + fraction
        }
        return out + "Z"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = OCPIDateTime(string: text) else {
            throw OCPIFieldError(decoder.codingPath, "must be an RFC 3339 date-time in UTC between 1970 and 9999")
        }
        self = value
    }

    /// As OCPI objects carry it: at most 3 fractional digits (the sub-millisecond part is cut, not rounded, so
    /// that the written time is never later than the real one). Partners are known to fail on more.
    public var wire: String {
        OCPIDateTime(seconds: seconds, nanoseconds: nanoseconds / 1_000_000 * 1_000_000).description
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wire)
    }
}

extension Int64 {
    fileprivate func quotientAndFloor(_ d: Int64) -> (quotient: Int64, remainder: Int64) {
        let q = self >= 0 ? self / d : -((-self + d - 1) / d)
        return (q, self - q * d)
    }
}

/// Proleptic Gregorian calendar arithmetic on day numbers since 1970-01-01 (Howard Hinnant's civil algorithms).
public enum Civil {
    public static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func date(days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// ISO weekday, 1 = Monday … 7 = Sunday. 1970-01-01 was a Thursday.
    public static func weekday(days: Int) -> Int {
        let w = (days + 3) % 7
        return (w < 0 ? w + 7 : w) + 1
    }
}
