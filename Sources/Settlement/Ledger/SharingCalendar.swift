public import Foundation
public import OCPI

/// When a private location is open to the public: its OCPI opening times, read on its own clock. No opening times,
/// or twentyfourseven, is public at all times. Exceptional closings win over openings and regular hours;
/// exceptional openings add to the regular hours. A regular period ending at 23:59 runs to midnight.
public struct SharingCalendar: Sendable {
    public var hours: Hours?
    public var timeZone: TimeZone

    public init(hours: Hours?, timeZone: TimeZone) {
        self.hours = hours
        self.timeZone = timeZone
    }

    public var alwaysOpen: Bool { hours == nil || hours?.twentyfourseven == true && hours?.exceptionalClosings.isEmpty == true }

    public func isOpen(at t: Date) -> Bool {
        guard let hours else { return true }
        let s = OCPIDateTime(t)
        if hours.exceptionalClosings.contains(where: { $0.periodBegin <= s && s < $0.periodEnd }) { return false }
        if hours.twentyfourseven { return true }
        if hours.exceptionalOpenings.contains(where: { $0.periodBegin <= s && s < $0.periodEnd }) { return true }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.weekday, .hour, .minute, .second], from: t)
        // Foundation: 1 = Sunday; OCPI: 1 = Monday.
        let weekday = ((c.weekday ?? 1) + 5) % 7 + 1
        let second = (c.hour ?? 0) * 3600 + (c.minute ?? 0) * 60 + (c.second ?? 0)
        return hours.regularHours.contains { r in
            r.weekday == weekday && Self.seconds(r.periodBegin) <= second && second < (r.periodEnd == "23:59" ? 86_400 : Self.seconds(r.periodEnd))
        }
    }

    /// Whether all of [from, to) is open: checked at its start and at every instant inside it where openness can
    /// change (each period's bounds on each local day it spans, and each exception's bounds).
    public func covers(from: Date, to: Date) -> Bool {
        guard from < to else { return false }
        if alwaysOpen { return true }
        guard let hours else { return true }
        var points: [Date] = [from]
        for e in hours.exceptionalOpenings + hours.exceptionalClosings {
            for p in [e.periodBegin.date, e.periodEnd.date] where p > from && p < to { points.append(p) }
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        var day = calendar.startOfDay(for: from)
        var guardDays = 0
        while day < to, guardDays < 400 {
            for r in hours.regularHours {
                for clock in [r.periodBegin, r.periodEnd] {
                    let offset = clock == "23:59" && clock == r.periodEnd ? 86_400 : Self.seconds(clock)
                    if let p = calendar.date(byAdding: .second, value: offset, to: day), p > from, p < to { points.append(p) }
                }
            }
            // Midnight itself: the weekday changes.
            guard let next = calendar.date(byAdding: .day, value: 1, to: day) else { break }
            if next > from, next < to { points.append(next) }
            day = next
            guardDays += 1
        }
        return points.allSatisfy(isOpen(at:))
    }

    static func seconds(_ clock: String) -> Int {
        let b = Array(clock.utf8)
        guard b.count == 5 else { return 0 }
        return (Int(b[0] - 0x30) * 10 + Int(b[1] - 0x30)) * 3600 + (Int(b[3] - 0x30) * 10 + Int(b[4] - 0x30)) * 60
    }
}
