public import Foundation

/// What a charging period's volume measures (OCPI 2.2.1 `CdrDimensionType`).
public enum CdrDimensionType: String, Codable, Sendable, CaseIterable {
    /// A, average; Sessions only.
    case current = "CURRENT"
    /// kWh in this period.
    case energy = "ENERGY"
    case energyExport = "ENERGY_EXPORT"
    case energyImport = "ENERGY_IMPORT"
    /// A, summed over phases.
    case maxCurrent = "MAX_CURRENT"
    case minCurrent = "MIN_CURRENT"
    /// kW.
    case maxPower = "MAX_POWER"
    case minPower = "MIN_POWER"
    /// Hours not charging.
    case parkingTime = "PARKING_TIME"
    /// kW, average; Sessions only.
    case power = "POWER"
    /// Hours reserved.
    case reservationTime = "RESERVATION_TIME"
    /// %, 0–100; Sessions only.
    case stateOfCharge = "STATE_OF_CHARGE"
    /// Hours charging.
    case time = "TIME"

    var limits: DecimalLimits {
        switch self {
        case .current, .maxCurrent, .minCurrent: .current
        case .energy, .energyExport, .energyImport: .energy
        case .maxPower, .minPower, .power: .power
        case .parkingTime, .reservationTime, .time: .hours
        case .stateOfCharge: .percent
        }
    }
}

public struct CdrDimension: Hashable, Sendable, Codable {
    public var type: CdrDimensionType
    public var volume: Decimal

    public init(type: CdrDimensionType, volume: Decimal) {
        self.type = type
        self.volume = volume
    }

    enum CodingKeys: String, CodingKey {
        case type, volume
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(.type, oneOf: CdrDimensionType.self)
        volume = try c.decode(.volume, type.limits)
    }
}
