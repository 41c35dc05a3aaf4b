public import Foundation
public import OCPI

/// Where an instant falls on the wall clock of a time zone: its local date, second of the day and weekday.
public struct LocalClock: Hashable, Sendable {
    /// Days since 1970-01-01, local.
    public var day: Int
    /// 0 ..< 86,400 (a leap second is not a thing here).
    public var secondOfDay: Int
    /// ISO, Monday = 1.
    public var weekday: Int

    public init(_ instant: OCPIDateTime, in timeZone: TimeZone) {
        let offset = Int64(timeZone.secondsFromGMT(for: instant.date))
        let local = instant.seconds + offset
        let day = local >= 0 ? local / 86_400 : -((-local + 86_399) / 86_400)
        self.day = Int(day)
        self.secondOfDay = Int(local - day * 86_400)
        self.weekday = Civil.weekday(days: Int(day))
    }
}
