public import Foundation

/// One price of a tariff element: what it bills, the price per unit excluding VAT, the VAT percentage (absent:
/// no VAT applies, which is not the same as 0 %), and the step in which the dimension is billed.
public struct PriceComponent: Hashable, Sendable, Codable {
    public var type: TariffDimensionType
    public var price: Decimal
    public var vat: Decimal?
    /// Wh for ENERGY, seconds for TIME and PARKING_TIME, ignored for FLAT. 0 (seen in the spec's own free tariff)
    /// means the dimension is billed exactly, without steps.
    public var stepSize: Int

    public init(type: TariffDimensionType, price: Decimal, vat: Decimal? = nil, stepSize: Int = 1) {
        self.type = type
        self.price = price
        self.vat = vat
        self.stepSize = stepSize
    }

    /// One year in seconds, or 1 GWh in Wh: a step no session reaches.
    public static let maximumStepSize = 100_000_000

    enum CodingKeys: String, CodingKey {
        case type, price, vat, stepSize = "step_size"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(.type, oneOf: TariffDimensionType.self)
        price = try c.decode(.price, .price)
        vat = try c.decodeIfPresent(.vat, .vat)
        stepSize = try c.decode(.stepSize, in: 0...Self.maximumStepSize)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encode(price, forKey: .price)
        try c.encodeIfPresent(vat, forKey: .vat)
        try c.encode(stepSize, forKey: .stepSize)
    }
}
