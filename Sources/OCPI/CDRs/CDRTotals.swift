public import Foundation

/// The totals of a CDR, as OCPI 2.2.1 names them. A cost is nil when no price component of its dimension ever
/// applied; `total_cost` is always there.
public struct CDRTotals: Hashable, Sendable, Codable {
    public var totalCost: Price
    public var totalFixedCost: Price?
    public var totalEnergyCost: Price?
    public var totalTimeCost: Price?
    public var totalParkingCost: Price?
    public var totalReservationCost: Price?
    /// kWh.
    public var totalEnergy: Decimal
    /// Hours, charging and not.
    public var totalTime: Decimal
    /// Hours not charging.
    public var totalParkingTime: Decimal

    public init(
        totalCost: Price, totalFixedCost: Price? = nil, totalEnergyCost: Price? = nil, totalTimeCost: Price? = nil,
        totalParkingCost: Price? = nil, totalReservationCost: Price? = nil, totalEnergy: Decimal, totalTime: Decimal,
        totalParkingTime: Decimal
    ) {
        self.totalCost = totalCost
        self.totalFixedCost = totalFixedCost
        self.totalEnergyCost = totalEnergyCost
        self.totalTimeCost = totalTimeCost
        self.totalParkingCost = totalParkingCost
        self.totalReservationCost = totalReservationCost
        self.totalEnergy = totalEnergy
        self.totalTime = totalTime
        self.totalParkingTime = totalParkingTime
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case totalCost = "total_cost", totalFixedCost = "total_fixed_cost", totalEnergyCost = "total_energy_cost"
        case totalTimeCost = "total_time_cost", totalParkingCost = "total_parking_cost"
        case totalReservationCost = "total_reservation_cost", totalEnergy = "total_energy", totalTime = "total_time"
        case totalParkingTime = "total_parking_time"
    }

    /// Every field, the absent costs as null, so that a reader sees which dimensions were never billed.
    public func encode(to encoder: any Encoder) throws { try encode(to: encoder, absentAsNull: true) }

    /// The fields into `encoder`'s keyed container; absent costs as null, or left out (as a CDR carries them).
    public func encode(to encoder: any Encoder, absentAsNull: Bool) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(totalCost, forKey: .totalCost)
        for (key, cost) in [(CodingKeys.totalFixedCost, totalFixedCost), (.totalEnergyCost, totalEnergyCost), (.totalTimeCost, totalTimeCost),
                            (.totalParkingCost, totalParkingCost), (.totalReservationCost, totalReservationCost)] {
            if absentAsNull { try c.encode(cost, forKey: key) } else { try c.encodeIfPresent(cost, forKey: key) }
        }
        try c.encode(totalEnergy, forKey: .totalEnergy)
        try c.encode(totalTime, forKey: .totalTime)
        try c.encode(totalParkingTime, forKey: .totalParkingTime)
    }
}

extension CDRTotals {
    /// The totals as one JSON object, fields in OCPI's order (JSONEncoder's order is not stable), one per line.
    public var orderedJSON: String {
        func price(_ p: Price?) -> String {
            guard let p else { return "null" }
            return #"{"excl_vat": \#(p.exclVat), "incl_vat": \#(p.inclVat.map { "\($0)" } ?? "null")}"#
        }
        let fields: [(CodingKeys, String)] = [
            (.totalCost, price(totalCost)), (.totalFixedCost, price(totalFixedCost)), (.totalEnergyCost, price(totalEnergyCost)),
            (.totalTimeCost, price(totalTimeCost)), (.totalParkingCost, price(totalParkingCost)),
            (.totalReservationCost, price(totalReservationCost)), (.totalEnergy, "\(totalEnergy)"), (.totalTime, "\(totalTime)"),
            (.totalParkingTime, "\(totalParkingTime)"),
        ]
        return "{\n" + fields.map { #"  "\#($0.0.rawValue)": \#($0.1)"# }.joined(separator: ",\n") + "\n}"
    }
}
