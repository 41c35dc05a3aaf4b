public import Foundation

/// An amount of money, excluding and (optionally) including VAT, in the tariff's currency.
public struct Price: Hashable, Sendable, Codable {
    public var exclVat: Decimal
    public var inclVat: Decimal?

    public init(exclVat: Decimal, inclVat: Decimal? = nil) {
        self.exclVat = exclVat
        self.inclVat = inclVat
    }

    enum CodingKeys: String, CodingKey {
        case exclVat = "excl_vat", inclVat = "incl_vat"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        exclVat = try c.decode(.exclVat, .price)
        inclVat = try c.decodeIfPresent(.inclVat, .price)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(exclVat, forKey: .exclVat)
        try c.encodeIfPresent(inclVat, forKey: .inclVat)
    }
}
