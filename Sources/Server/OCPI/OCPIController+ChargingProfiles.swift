import Foundation
import Hummingbird
import Logging
import OCPI
import Storage

/// The chargingprofiles module, Voltaic the Receiver: `{chargingprofiles}/{session_id}`. PUT sets the session's
/// profile (OCPP SetChargingProfile, a TxProfile), GET asks for the active one (GetCompositeSchedule), DELETE clears it
/// (ClearChargingProfile). The answer comes at once; the outcome is POSTed to `response_url` once the station answered.
/// A session whose EVSE does not list CHARGING_PROFILE_CAPABLE is NOT_SUPPORTED.
extension OCPIController {
    func addChargingProfileRoutes(to ocpi: RouterGroup<AdminContext>) {
        ocpi.put("2.2.1/chargingprofiles/{session_id}", use: setChargingProfile)
        ocpi.get("2.2.1/chargingprofiles/{session_id}", use: getChargingProfile)
        ocpi.delete("2.2.1/chargingprofiles/{session_id}", use: clearChargingProfile)
    }

    /// The partner's session the URL names, or the answer to give instead.
    func profileSession(_ context: AdminContext, partner: PartnerRepository.Partner) async throws -> Lookup<CommandRepository.SessionPlace, ChargingProfileResponse> {
        let id = try Self.parameter(context, "session_id")
        guard id.utf8.count <= 36, let session = try await commandStore.session(id: id, partnerId: partner.id) else {
            return .failure(ChargingProfileResponse(result: .unknownSession, timeout: 0))
        }
        guard session.active, session.online else { return .failure(ChargingProfileResponse(result: .rejected, timeout: 0)) }
        guard session.takesProfiles else { return .failure(ChargingProfileResponse(result: .notSupported, timeout: 0)) }
        return .success(session)
    }

    func responseURL(_ request: Request) throws -> String {
        guard let url = request.uri.queryParameters.get("response_url"), OCPIString.isURL(url) else {
            throw OCPIError.invalid("response_url: an absolute http(s) URL is required")
        }
        return url
    }

    func keep(_ kind: ChargingProfileRequest, _ call: CommandTranslation.Call, session: CommandRepository.SessionPlace, responseURL: String,
              partner: PartnerRepository.Partner, request: Request, context: AdminContext) async throws -> Response {
        _ = try await commandStore.record(.init(
            partnerId: partner.id, profile: kind, stationId: session.stationId, action: call.action, payload: call.payload, responseURL: responseURL,
            within: commandWindow
        ))
        context.logger.info("OCPI charging profile request", metadata: ["ocpi.partner.id": "\(partner.id)", "ocpi.command": "\(kind.rawValue)"])
        return OCPIReply.envelope(ChargingProfileResponse(result: .accepted, timeout: Int(commandWindow.components.seconds)), request: request, routing: routing(partner))
    }

    @Sendable func setChargingProfile(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let body = try await Self.decode(SetChargingProfile.self, request, context: context)
        switch try await profileSession(context, partner: partner) {
        case .failure(let answer): return OCPIReply.envelope(answer, request: request, routing: routing(partner))
        case .success(let session):
            let call = ProfileTranslation.set(body.chargingProfile, version: session.version, evseId: session.evseId, transactionId: session.transactionId,
                                              transactionUID: session.transactionUID)
            return try await keep(.set, call, session: session, responseURL: body.responseURL, partner: partner, request: request, context: context)
        }
    }

    @Sendable func getChargingProfile(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        guard let text = request.uri.queryParameters.get("duration"), let duration = Int(text), (1...86_400 * 7).contains(duration) else {
            throw OCPIError.invalid("duration: whole seconds, 1 to 604800, is required")
        }
        let url = try responseURL(request)
        switch try await profileSession(context, partner: partner) {
        case .failure(let answer): return OCPIReply.envelope(answer, request: request, routing: routing(partner))
        case .success(let session):
            let call = ProfileTranslation.get(version: session.version, evseId: session.evseId, duration: duration)
            return try await keep(.get, call, session: session, responseURL: url, partner: partner, request: request, context: context)
        }
    }

    @Sendable func clearChargingProfile(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let url = try responseURL(request)
        switch try await profileSession(context, partner: partner) {
        case .failure(let answer): return OCPIReply.envelope(answer, request: request, routing: routing(partner))
        case .success(let session):
            let call = ProfileTranslation.clear(version: session.version, transactionId: session.transactionId)
            return try await keep(.clear, call, session: session, responseURL: url, partner: partner, request: request, context: context)
        }
    }
}

/// A thing found, or the answer to give instead.
enum Lookup<T, Answer> {
    case success(T)
    case failure(Answer)
}
