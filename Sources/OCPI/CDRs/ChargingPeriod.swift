public import Foundation

/// A stretch of a session with constant pricing conditions; it ends where the next one starts, the last one
/// where the session ends.
public struct ChargingPeriod: Hashable, Sendable, Codable {
    public var startDateTime: OCPIDateTime
    public var dimensions: [CdrDimension]
    public var tariffId: String?

    public init(startDateTime: OCPIDateTime, dimensions: [CdrDimension], tariffId: String? = nil) {
        self.startDateTime = startDateTime
        self.dimensions = dimensions
        self.tariffId = tariffId
    }

    enum CodingKeys: String, CodingKey {
        case startDateTime = "start_date_time", dimensions, tariffId = "tariff_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        startDateTime = try c.decode(OCPIDateTime.self, forKey: .startDateTime)
        dimensions = try c.decode([CdrDimension].self, forKey: .dimensions)
        tariffId = try c.decodeIfPresent(.tariffId, maxLength: 36)
        guard !dimensions.isEmpty else { throw OCPIFieldError(c.codingPath + [CodingKeys.dimensions], "must hold at least one dimension") }
        var seen = Set<CdrDimensionType>()
        for (index, dimension) in dimensions.enumerated() where !seen.insert(dimension.type).inserted {
            throw OCPIFieldError(c.codingPath + [CodingKeys.dimensions, OCPIIndexKey(index), CdrDimension.CodingKeys.type], "repeats \(dimension.type.rawValue) in one period")
        }
    }

    /// The volume of one dimension in this period, if it has one.
    public func volume(_ type: CdrDimensionType) -> Decimal? {
        dimensions.first { $0.type == type }?.volume
    }
}
