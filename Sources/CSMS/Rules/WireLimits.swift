public import Foundation
import OCPP

/// The ranges a number from the wire must fall in before any arithmetic or storage. Ids land in
/// PostgreSQL `integer` columns; register readings are bounded by what a meter can show.
public enum WireLimits {
    /// EVSE, connector, reservation, remote-start ids and 2.0.1 seqNo: non-negative `integer`.
    public static let id: ClosedRange<Int> = 0...Int(Int32.max)
    /// Any PostgreSQL `integer`: 1.6 transaction ids (sent back as OCPP integers) and 2.0.1 remoteStartId.
    public static let integer: ClosedRange<Int> = Int(Int32.min)...Int(Int32.max)
    /// A power-of-ten multiplier (2.0.1 `unitOfMeasure.multiplier`) beyond this is not a meter.
    public static let multiplier: ClosedRange<Int> = -18...18
    /// The largest magnitude a normalised sample may have (10^18: an exawatt-hour, far beyond any meter),
    /// so that every stored value fits the register arithmetic in `Int64`.
    public static let maxSampleMagnitude = Decimal(sign: .plus, exponent: 18, significand: 1)
    /// Register readings in Wh: a petawatt-hour bounds any real meter and keeps differences in `Int64`.
    public static let maxRegisterWh: Int64 = 1_000_000_000_000_000

    /// Throws PropertyConstraintViolation naming `field` when `value` is outside `range`.
    public static func check(_ value: Int, in range: ClosedRange<Int> = id, field: String) throws {
        guard range.contains(value) else {
            throw InboundRejection(.propertyConstraintViolation, "\(field) \(value) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
    }

    /// `check` for an optional field.
    public static func check(_ value: Int?, in range: ClosedRange<Int> = id, field: String) throws {
        if let value { try check(value, in: range, field: field) }
    }
}
