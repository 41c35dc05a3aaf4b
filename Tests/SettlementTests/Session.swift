import Foundation
import OCPI
import Settlement

/// A session described the way a person reads the spec's examples: a local start and what happened, segment by
/// segment. Each segment becomes one charging period.
struct Session {
    enum Segment {
        case charge(minutes: Decimal, kWh: Decimal = 0, extra: [CdrDimension] = [])
        case park(minutes: Decimal)
        case reserve(minutes: Decimal)
        /// A charging period with an explicit TIME volume (hours), for volumes that are not whole minutes.
        case chargeHours(Decimal, seconds: Int64)
    }

    var start: String
    var zone: TimeZone = TimeZone(identifier: "UTC")!
    var segments: [Segment]

    init(_ start: String, zone: String = "UTC", _ segments: [Segment]) {
        self.start = start
        self.zone = TimeZone(identifier: zone)!
        self.segments = segments
    }

    var usage: CDRUsage {
        // `start` is local wall-clock time in `zone`.
        let naive = OCPIDateTime(string: start)!
        let offset = Int64(zone.secondsFromGMT(for: naive.date))
        var at = OCPIDateTime(seconds: naive.seconds - offset)
        let begin = at
        var periods: [ChargingPeriod] = []
        for segment in segments {
            let seconds: Decimal
            var dimensions: [CdrDimension]
            switch segment {
            case let .charge(minutes, kWh, extra):
                seconds = minutes * 60
                dimensions = [CdrDimension(type: .energy, volume: kWh), CdrDimension(type: .time, volume: hours(minutes))] + extra
            case let .park(minutes):
                seconds = minutes * 60
                dimensions = [CdrDimension(type: .parkingTime, volume: hours(minutes))]
            case let .reserve(minutes):
                seconds = minutes * 60
                dimensions = [CdrDimension(type: .reservationTime, volume: hours(minutes))]
            case let .chargeHours(hours, whole):
                seconds = Decimal(whole)
                dimensions = [CdrDimension(type: .time, volume: hours)]
            }
            periods.append(ChargingPeriod(startDateTime: at, dimensions: dimensions))
            at = OCPIDateTime(seconds: at.seconds + NSDecimalNumber(decimal: seconds).int64Value)
        }
        return CDRUsage(startDateTime: begin, endDateTime: at, chargingPeriods: periods)
    }
}

/// Minutes as a CDR writes them: hours to 4 decimals.
func hours(_ minutes: Decimal) -> Decimal { (minutes / 60).rounded(4, .plain) }

func tariff(_ json: String) throws -> Tariff {
    try JSONDecoder().decode(Tariff.self, from: Data(json.utf8))
}

/// `"excl/incl"`, as the tests write expected amounts.
func price(_ text: String) -> Price {
    let parts = text.split(separator: "/").map { Decimal(string: String($0))! }
    return Price(exclVat: parts[0], inclVat: parts[1])
}

extension Decimal {
    init(_ text: String) { self = Decimal(string: text)! }
}
