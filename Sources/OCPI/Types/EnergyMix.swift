public import Foundation

/// Where the energy comes from, and its environmental impact.
public struct EnergyMix: Hashable, Sendable, Codable {
    public struct Source: Hashable, Sendable, Codable {
        /// NUCLEAR, GENERAL_FOSSIL, COAL, GAS, GENERAL_GREEN, SOLAR, WIND or WATER.
        public var source: String
        public var percentage: Decimal

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            source = try c.decode(.source, maxLength: 16)
            percentage = try c.decode(.percentage, .percent)
        }
    }

    public struct Impact: Hashable, Sendable, Codable {
        /// NUCLEAR_WASTE or CARBON_DIOXIDE.
        public var category: String
        /// g/kWh.
        public var amount: Decimal

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            category = try c.decode(.category, maxLength: 16)
            amount = try c.decode(.amount, DecimalLimits(0...1_000_000, places: 6))
        }
    }

    public var isGreenEnergy: Bool
    public var energySources: [Source]?
    public var environImpact: [Impact]?
    public var supplierName: String?
    public var energyProductName: String?

    enum CodingKeys: String, CodingKey {
        case isGreenEnergy = "is_green_energy", energySources = "energy_sources", environImpact = "environ_impact"
        case supplierName = "supplier_name", energyProductName = "energy_product_name"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        isGreenEnergy = try c.decode(Bool.self, forKey: .isGreenEnergy)
        energySources = try c.decodeIfPresent([Source].self, forKey: .energySources)
        environImpact = try c.decodeIfPresent([Impact].self, forKey: .environImpact)
        supplierName = try c.decodeIfPresent(.supplierName, maxLength: 64)
        energyProductName = try c.decodeIfPresent(.energyProductName, maxLength: 64)
    }
}
