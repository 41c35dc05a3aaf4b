import CSMS
import Foundation
import Hummingbird
import OCPI
import OCPP
import Storage

/// The tokens module, Voltaic the Receiver: `{tokens}/{country_code}/{party_id}/{uid}[?type=RFID]`. An eMSP puts
/// (PUT), changes (PATCH) and reads back (GET) the tokens of its own parties; stations are then authorized
/// from these copies (valid, and not NEVER on the whitelist).
extension OCPIController {
    func addTokenRoutes(to ocpi: RouterGroup<AdminContext>) {
        ocpi.get("2.2.1/tokens/{country_code}/{party_id}/{uid}", use: getToken)
        ocpi.put("2.2.1/tokens/{country_code}/{party_id}/{uid}", use: putToken)
        ocpi.patch("2.2.1/tokens/{country_code}/{party_id}/{uid}", use: patchToken)
    }

    /// The token the URL names, and the partner's parties as `CC-PID`.
    func tokenKey(_ request: Request, _ context: AdminContext) throws -> RoamingTokenService.Key {
        let cc = try Self.parameter(context, "country_code"), pid = try Self.parameter(context, "party_id")
        guard cc.utf8.count == 2, pid.utf8.count == 3 else { throw OCPIError.invalid("country_code and party_id in the URL: 2 and 3 letters or digits") }
        let uid = try Self.parameter(context, "uid")
        guard uid.utf8.count <= 36 else { throw OCPIError.invalid("uid in the URL: at most 36 characters") }
        let typeName = request.uri.queryParameters.get("type") ?? TokenType.rfid.rawValue
        guard let type = TokenType(rawValue: typeName) else {
            throw OCPIError.invalid("type: one of \(TokenType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return RoamingTokenService.Key(countryCode: cc, partyId: pid, uid: uid, type: type)
    }

    static func parties(_ partner: PartnerRepository.Partner) -> Set<String> {
        Set(partner.roles.map { "\($0.countryCode.uppercased())-\($0.partyId.uppercased())" })
    }

    @Sendable func getToken(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let key = try tokenKey(request, context)
        guard Self.parties(partner).contains("\(key.countryCode)-\(key.partyId)"),
              let stored = try await runner.perform({ uow in try await uow.ocpiToken(key) }), stored.partnerId == partner.id
        else { throw OCPIError(.notFound, .unknownToken, "no token '\(key.uid.prefix(36))' of type \(key.type.rawValue) here") }
        return OCPIReply.envelope(stored.token, request: request, routing: routing(partner))
    }

    @Sendable func putToken(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let key = try tokenKey(request, context)
        let token = try await Self.decode(Token.self, request, context: context)
        try await put(token, key: key, partner: partner)
        return OCPIReply.envelope(NoPayload?.none, request: request, routing: routing(partner))
    }

    /// A partner's token through the one write path, its refusal as the OCPI error it deserves (both versions' PUT).
    func put(_ token: Token, key: RoamingTokenService.Key, partner: PartnerRepository.Partner) async throws {
        let (service, parties, partnerId) = (tokens, Self.parties(partner), partner.id)
        do {
            _ = try await runner.perform { uow in try await service.put(uow, token, key: key, partnerId: partnerId, parties: parties) }
        } catch let refusal as RoamingTokenService.Refusal {
            throw Self.ocpiError(refusal)
        }
    }

    @Sendable func patchToken(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let key = try tokenKey(request, context)
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        guard let parsed = try? JSONParser.parse(Array(body.readableBytesView)) else {
            throw OCPIError(.badRequest, .invalidParameters, "the body is not valid JSON")
        }
        guard case .object(let fields) = parsed else { throw OCPIError.invalid("the body must be a JSON object of the fields to change") }
        let (service, parties, partnerId) = (tokens, Self.parties(partner), partner.id)
        let patched: Token?
        do {
            patched = try await runner.perform { uow in try await service.patch(uow, key: key, fields: fields, partnerId: partnerId, parties: parties) }
        } catch let refusal as RoamingTokenService.Refusal {
            throw Self.ocpiError(refusal)
        }
        guard patched != nil else { throw OCPIError(.notFound, .unknownToken, "no token '\(key.uid.prefix(36))' of type \(key.type.rawValue) here; PUT it first") }
        return OCPIReply.envelope(NoPayload?.none, request: request, routing: routing(partner))
    }

    static func ocpiError(_ refusal: RoamingTokenService.Refusal) -> OCPIError {
        switch refusal {
        case .notYourParty: OCPIError(.forbidden, .clientError, refusal.description)
        case .keyMismatch, .invalid: OCPIError.invalid(refusal.description)
        }
    }
}
