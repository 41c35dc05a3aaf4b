import CSMS
import Foundation
import Hummingbird
import Logging
import OCPI
import OCPP
import Storage

/// The commands module, Voltaic the Receiver: `POST {commands}/{command}`. The answer comes at once: ACCEPTED
/// once the command is kept for the node that holds the station (its result is POSTed to `response_url` later), or
/// REJECTED / UNKNOWN_SESSION / NOT_SUPPORTED when it cannot be tried, with the reason.
extension OCPIController {
    func addCommandRoutes(to ocpi: RouterGroup<AdminContext>) {
        ocpi.post("2.2.1/commands/{command}", use: command)
    }

    /// How long an eMSP should wait for the result: the station's call timeout and some.
    var commandWindow: Duration { commandTimeout + .seconds(10) }

    @Sendable func command(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let name = try Self.parameter(context, "command")
        guard let type = CommandType(rawValue: name.uppercased()) else {
            throw OCPIError(.notFound, .clientError, "no command '\(name.prefix(36))'; one of \(CommandType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let answer: CommandResponse
        switch type {
        case .startSession: answer = try await startSession(try await Self.decode(StartSession.self, request, context: context), partner: partner)
        case .stopSession: answer = try await stopSession(try await Self.decode(StopSession.self, request, context: context), partner: partner)
        case .unlockConnector: answer = try await unlock(try await Self.decode(UnlockConnector.self, request, context: context), partner: partner)
        case .reserveNow, .cancelReservation:
            answer = CommandResponse(result: .notSupported, timeout: 0, message: "reservations through OCPI are not offered by this CPO yet")
        }
        context.logger.info("OCPI command", metadata: ["ocpi.partner.id": "\(partner.id)", "ocpi.command": "\(type.rawValue)", "ocpi.command.response": "\(answer.result.rawValue)"])
        return OCPIReply.envelope(answer, request: request, routing: routing(partner))
    }

    func rejected(_ why: String) -> CommandResponse { CommandResponse(result: .rejected, timeout: 0, message: why) }
    func accepted() -> CommandResponse { CommandResponse(result: .accepted, timeout: Int(commandWindow.components.seconds)) }

    /// The EVSE a command names: the one given, or the first online one of the location.
    enum Found {
        case success(CommandRepository.Place)
        /// The answer to give instead.
        case failure(CommandResponse)
    }

    func place(locationId: String, evseUID: String?) async throws -> Found {
        let places = try await commandStore.places(locationId: locationId, evseUID: evseUID)
        guard !places.isEmpty else {
            return .failure(rejected(evseUID == nil ? "no EVSE at location '\(locationId.prefix(36))'" : "no EVSE '\(evseUID!.prefix(36))' at location '\(locationId.prefix(36))'"))
        }
        guard let place = places.first(where: { $0.online && !$0.decommissioned }) else {
            return .failure(rejected("the charger is offline"))
        }
        return .success(place)
    }

    func startSession(_ start: StartSession, partner: PartnerRepository.Partner) async throws -> CommandResponse {
        // The token comes with the command: it is kept (through the tokens service, as a PUT would), so that the
        // station's start is authorized from it.
        let key = RoamingTokenService.Key(countryCode: start.token.countryCode, partyId: start.token.partyId, uid: start.token.uid, type: start.token.type)
        let (service, parties, partnerId, token) = (tokens, Self.parties(partner), partner.id, start.token)
        do {
            _ = try await runner.perform { uow in try await service.put(uow, token, key: key, partnerId: partnerId, parties: parties) }
        } catch let refusal as RoamingTokenService.Refusal {
            throw OCPIError.invalid("token: \(refusal.description)")
        }
        guard token.authorizesLocally else { return rejected("the token is not valid, or its whitelist is NEVER") }
        let place: CommandRepository.Place
        switch try await self.place(locationId: start.locationId, evseUID: start.evseUID) {
        case .success(let p): place = p
        case .failure(let answer): return answer
        }
        if let connector = start.connectorId, !place.connectorIds.map(String.init).contains(connector) {
            return rejected("no connector '\(connector.prefix(36))' at EVSE '\(place.evseUID)'")
        }
        let remoteStartId = try await commandStore.nextRemoteStartId()
        let call: CommandTranslation.Call
        do {
            call = try CommandTranslation.startSession(version: place.version, evseId: place.evseId, uid: token.uid, type: token.type, remoteStartId: remoteStartId)
        } catch .rejected(let why) {
            return rejected(why)
        }
        _ = try await commandStore.record(.init(
            partnerId: partner.id, command: .startSession, stationId: place.stationId, action: call.action, payload: call.payload,
            responseURL: start.responseURL, tokenUID: token.uid, authorizationReference: start.authorizationReference,
            remoteStartId: CommandTranslation.isV16(place.version) ? nil : remoteStartId, within: commandWindow
        ))
        return accepted()
    }

    func stopSession(_ stop: StopSession, partner: PartnerRepository.Partner) async throws -> CommandResponse {
        guard let session = try await commandStore.session(id: stop.sessionId, partnerId: partner.id) else {
            return CommandResponse(result: .unknownSession, timeout: 0, message: "no session '\(stop.sessionId.prefix(36))' of this platform")
        }
        guard session.active else { return rejected("the session has ended already") }
        guard session.online else { return rejected("the charger is offline") }
        let call = CommandTranslation.stopSession(version: session.version, transactionId: session.transactionId, transactionUID: session.transactionUID)
        _ = try await commandStore.record(.init(
            partnerId: partner.id, command: .stopSession, stationId: session.stationId, action: call.action, payload: call.payload,
            responseURL: stop.responseURL, within: commandWindow
        ))
        return accepted()
    }

    func unlock(_ unlock: UnlockConnector, partner: PartnerRepository.Partner) async throws -> CommandResponse {
        let place: CommandRepository.Place
        switch try await self.place(locationId: unlock.locationId, evseUID: unlock.evseUID) {
        case .success(let p): place = p
        case .failure(let answer): return answer
        }
        guard let connector = Int(unlock.connectorId), place.connectorIds.contains(connector) else {
            return rejected("no connector '\(unlock.connectorId.prefix(36))' at EVSE '\(place.evseUID)'")
        }
        let call = CommandTranslation.unlock(version: place.version, evseId: place.evseId, connectorId: connector)
        _ = try await commandStore.record(.init(
            partnerId: partner.id, command: .unlockConnector, stationId: place.stationId, action: call.action, payload: call.payload,
            responseURL: unlock.responseURL, within: commandWindow
        ))
        return accepted()
    }
}
