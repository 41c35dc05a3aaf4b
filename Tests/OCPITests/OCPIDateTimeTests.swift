import Foundation
import OCPI
import Testing

@Suite struct OCPIDateTimeTests {
    @Test(arguments: [
        ("2015-06-29T20:39:09Z", 1_435_610_349, 0),
        ("2015-06-29T20:39:09", 1_435_610_349, 0),
        ("2015-06-29T22:39:09+02:00", 1_435_610_349, 0),
        ("2015-06-29T20:39:09.25Z", 1_435_610_349, 250_000_000),
        ("1970-01-01T00:00:00Z", 0, 0),
        ("2024-02-29T23:59:59.999999999Z", 1_709_251_199, 999_999_999),
        ("9999-12-31T23:59:59Z", 253_402_300_799, 0),
    ])
    func parses(_ text: String, _ seconds: Int64, _ nanos: Int32) throws {
        let value = try #require(OCPIDateTime(string: text))
        #expect(value.seconds == seconds)
        #expect(value.nanoseconds == nanos)
    }

    @Test(arguments: [
        "", "2015-06-29", "2015-06-29 20:39:09Z", "2015-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2015-06-29T24:00:00Z",
        "2015-06-29T20:60:00Z", "1969-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "2015-06-29T20:39:09.Z",
        "2015-06-29T20:39:09.1234567890Z", "2015-06-29T20:39:09+0200", "2015-06-29T20:39:09ZZ", "２015-06-29T20:39:09Z",
    ])
    func refuses(_ text: String) {
        #expect(OCPIDateTime(string: text) == nil)
    }

    @Test func writesUTCWithZ() throws {
        #expect(OCPIDateTime(string: "2015-06-29T22:39:09+02:00")!.description == "2015-06-29T20:39:09Z")
        #expect(OCPIDateTime(string: "2015-06-29T20:39:09.250Z")!.description == "2015-06-29T20:39:09.25Z")
        #expect(OCPIDateTime(seconds: 253_402_300_799).description == "9999-12-31T23:59:59Z")
    }

    @Test func civilCalendarRoundTrips() {
        for days in stride(from: 0, through: 2_932_896, by: 997) {
            let (y, m, d) = Civil.date(days: days)
            #expect(Civil.days(year: y, month: m, day: d) == days)
        }
        #expect(Civil.weekday(days: 0) == 4)  // 1970-01-01, a Thursday
        #expect(Civil.weekday(days: Civil.days(year: 2026, month: 12, day: 3)) == 4)
        #expect(Civil.weekday(days: Civil.days(year: 2018, month: 4, day: 29)) == 7)
    }
}
