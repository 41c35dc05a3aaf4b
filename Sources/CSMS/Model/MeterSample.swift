public import Foundation

/// One sampled value, normalised: energy in Wh, power in W, current in A, voltage in V.
/// The reported value and unit are kept alongside, and signed meter data is kept verbatim.
public struct MeterSample: Sendable, Codable, Hashable {
    public var sampledAt: Date
    public var measurand: String
    public var phase: String?
    public var location: String?
    public var context: String?
    /// The value in `unit`, exact; nil when the station sent only signed data.
    public var value: Decimal?
    public var unit: String
    public var rawValue: String
    public var rawUnit: String?
    public var signedData: String?
    /// The station sent a number that is not a reading (out of range, or a multiplier no meter has): it is
    /// kept raw, with no value, and what it belongs to is flagged suspect.
    public var outOfRange: Bool

    public init(sampledAt: Date, measurand: String, phase: String? = nil, location: String? = nil, context: String? = nil, value: Decimal?, unit: String, rawValue: String, rawUnit: String? = nil, signedData: String? = nil, outOfRange: Bool = false) {
        self.sampledAt = sampledAt
        self.measurand = measurand
        self.phase = phase
        self.location = location
        self.context = context
        self.value = value
        self.unit = unit
        self.rawValue = rawValue
        self.rawUnit = rawUnit
        self.signedData = signedData
        self.outOfRange = outOfRange
    }

    public static let energyImportRegister = "Energy.Active.Import.Register"

    /// A whole-Wh register reading, when this sample is the main import register on the station.
    public var importRegisterWh: Int64? {
        guard measurand == Self.energyImportRegister, unit == "Wh", phase == nil || phase == "", var v = value,
            v.magnitude <= Decimal(WireLimits.maxRegisterWh)
        else { return nil }

        var rounded = Decimal()
        NSDecimalRound(&rounded, &v, 0, .plain)
        return NSDecimalNumber(decimal: rounded).int64Value
    }
}
