/// Price components and the restrictions under which they apply.
public struct TariffElement: Hashable, Sendable, Codable {
    public var priceComponents: [PriceComponent]
    public var restrictions: TariffRestrictions?

    public init(priceComponents: [PriceComponent], restrictions: TariffRestrictions? = nil) {
        self.priceComponents = priceComponents
        self.restrictions = restrictions
    }

    enum CodingKeys: String, CodingKey {
        case priceComponents = "price_components", restrictions
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        priceComponents = try c.decode([PriceComponent].self, forKey: .priceComponents)
        restrictions = try c.decodeIfPresent(TariffRestrictions.self, forKey: .restrictions)
        guard !priceComponents.isEmpty else { throw OCPIFieldError(c.codingPath + [CodingKeys.priceComponents], "must hold at least one price component") }
        if restrictions?.reservation != nil {
            for (index, component) in priceComponents.enumerated() where component.type != .flat && component.type != .time {
                throw OCPIFieldError(
                    c.codingPath + [CodingKeys.priceComponents, OCPIIndexKey(index), PriceComponent.CodingKeys.type],
                    "must be FLAT or TIME in an element with a reservation restriction"
                )
            }
        }
    }
}
