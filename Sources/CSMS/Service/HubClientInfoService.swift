public import Foundation
public import OCPI
public import OCPP

/// The one write path of what hubs tell Voltaic about the parties behind them (OCPI hubclientinfo, Voltaic the
/// Receiver): only a platform with the HUB role may say it, and only of the party its URL names. Each change writes its
/// outbox event in the same transaction.
public struct HubClientInfoService: Sendable {
    public init() {}

    public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        case notAHub
        case keyMismatch(field: String)

        public var description: String {
            switch self {
            case .notAHub: "only a platform with the HUB role sends client info"
            case .keyMismatch(let field): "\(field): must be the one in the URL"
            }
        }
    }

    /// Creates or replaces the client info of `countryCode`/`partyId` from the hub `partnerId`.
    public func put(_ uow: any UnitOfWork, _ info: ClientInfo, countryCode: String, partyId: String, partnerId: Int64, partnerRoles: [PartyRole]) async throws -> CatalogWrite {
        guard partnerRoles.contains(.hub) else { throw Refusal.notAHub }
        if info.countryCode != countryCode.uppercased() { throw Refusal.keyMismatch(field: "country_code") }
        if info.partyId != partyId.uppercased() { throw Refusal.keyMismatch(field: "party_id") }
        let write = try await uow.upsertClientInfo(info, partnerId: partnerId)
        if write != .unchanged {
            try await uow.appendOutbox(topic: "hubclientinfo.updated", payload: .object([
                "partner_id": .number(JSONNumber(partnerId)), "country_code": .string(info.countryCode), "party_id": .string(info.partyId),
                "role": .string(info.role.rawValue), "status": .string(info.status.rawValue),
            ]))
        }
        return write
    }
}
