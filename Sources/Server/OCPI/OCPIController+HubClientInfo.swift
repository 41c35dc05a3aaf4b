import CSMS
import Foundation
import Hummingbird
import OCPI
import OCPP
import Storage

/// The hubclientinfo module, Voltaic the Receiver: `{hubclientinfo}/{country_code}/{party_id}`. A hub PUTs (and reads
/// back with GET) the connection status of a party behind it, through `HubClientInfoService`; a platform without the
/// HUB role is refused (403).
extension OCPIController {
    func addHubClientInfoRoutes(to ocpi: RouterGroup<AdminContext>) {
        ocpi.get("2.2.1/hubclientinfo/{country_code}/{party_id}", use: getClientInfo)
        ocpi.put("2.2.1/hubclientinfo/{country_code}/{party_id}", use: putClientInfo)
    }

    func clientInfoKey(_ context: AdminContext) throws -> (String, String) {
        let cc = try Self.parameter(context, "country_code"), pid = try Self.parameter(context, "party_id")
        guard cc.utf8.count == 2, pid.utf8.count == 3 else { throw OCPIError.invalid("country_code and party_id in the URL: 2 and 3 letters or digits") }
        return (cc.uppercased(), pid.uppercased())
    }

    @Sendable func getClientInfo(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        guard partner.roles.contains(where: { $0.role == .hub }) else { throw OCPIError(.forbidden, .clientError, HubClientInfoService.Refusal.notAHub.description) }
        let (cc, pid) = try clientInfoKey(context)
        guard let info = try await partners.clientInfo(partnerId: partner.id, countryCode: cc, partyId: pid).first else {
            throw OCPIError(.notFound, .clientError, "no client info of \(cc)/\(pid) from this hub")
        }
        return OCPIReply.envelope(info, request: request, routing: routing(partner))
    }

    @Sendable func putClientInfo(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let (cc, pid) = try clientInfoKey(context)
        let info = try await Self.decode(ClientInfo.self, request, context: context)
        let (partnerId, roles) = (partner.id, partner.roles.map(\.role))
        do {
            _ = try await runner.perform { uow in
                try await HubClientInfoService().put(uow, info, countryCode: cc, partyId: pid, partnerId: partnerId, partnerRoles: roles)
            }
        } catch let refusal as HubClientInfoService.Refusal {
            switch refusal {
            case .notAHub: throw OCPIError(.forbidden, .clientError, refusal.description)
            case .keyMismatch: throw OCPIError.invalid(refusal.description)
            }
        }
        return OCPIReply.envelope(NoPayload?.none, request: request, routing: routing(partner))
    }
}
