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
        case .reserveNow: answer = try await reserveNow(try await Self.decode(ReserveNow.self, request, context: context), partner: partner)
        case .cancelReservation: answer = try await cancelReservation(try await Self.decode(CancelReservation.self, request, context: context), partner: partner)
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

    /// RESERVE_NOW is a booking of the EVSE for the token from now to the expiry (PostgreSQL refuses one that overlaps
    /// another), then ReserveNow to the station, whose answer is the command's result. The same reservation id again
    /// replaces the reservation, at the station too (it is sent with the same CSMS reservation id).
    func reserveNow(_ r: ReserveNow, partner: PartnerRepository.Partner) async throws -> CommandResponse {
        let key = RoamingTokenService.Key(countryCode: r.token.countryCode, partyId: r.token.partyId, uid: r.token.uid, type: r.token.type)
        let (service, parties, partnerId, token) = (tokens, Self.parties(partner), partner.id, r.token)
        do {
            _ = try await runner.perform { uow in try await service.put(uow, token, key: key, partnerId: partnerId, parties: parties) }
        } catch let refusal as RoamingTokenService.Refusal {
            throw OCPIError.invalid("token: \(refusal.description)")
        }
        guard token.authorizesLocally else { return rejected("the token is not valid, or its whitelist is NEVER") }
        let now = Date()
        guard r.expiryDate.date > now else { return rejected("expiry_date is in the past") }
        guard r.expiryDate.date < now.addingTimeInterval(7 * 86_400) else { return rejected("expiry_date is more than 7 days away") }
        let place: CommandRepository.Place
        switch try await self.place(locationId: r.locationId, evseUID: r.evseUID) {
        case .success(let p): place = p
        case .failure(let answer): return answer
        }
        // A replacement: the old booking ends (no fee: the eMSP is billed by the CDR), its reservation id is reused.
        var reservationId: Int?
        if let old = try await settlements.ocpiBooking(partnerId: partner.id, reservationId: r.reservationId) {
            _ = try await settlements.endBooking(id: old.id, as: .cancelled)
            reservationId = old.reservationId
        }
        let booking = NewBooking(
            stationId: place.stationId, evseId: place.evseId, driverId: "", idToken: token.uid, expectedType: "token", expectedValue: token.uid,
            start: now, end: r.expiryDate.date, partnerId: partner.id, ocpiReservationId: r.reservationId
        )
        let bookings = bookings
        let bookingId: Int64
        do {
            bookingId = try await runner.perform { uow in try await bookings.bookRoaming(uow, booking, now: now) }
        } catch let refusal as BookingService.Refusal {
            switch refusal {
            case .overlap: return rejected("the EVSE is reserved for part of that time")
            case .outsideSharingWindows: return rejected("the location is not public until the expiry")
            default: return rejected(refusal.description)
            }
        }
        let reservation: Int
        if let reservationId {
            reservation = reservationId
        } else {
            reservation = try await reservations.createReservation(stationId: place.stationId, evseId: place.evseId, idToken: token.uid, expiresAt: r.expiryDate.date).id
        }
        try await settlements.markReserved(bookingId: bookingId, reservationId: reservation)
        let translated = Result { () throws(CommandTranslation.Refusal) -> CommandTranslation.Call in
            try CommandTranslation.reserveNow(version: place.version, evseId: place.evseId, uid: token.uid, idTokenType: CommandTranslation.idTokenType(token.type),
                                              expiry: r.expiryDate, reservationId: reservation)
        }
        let call: CommandTranslation.Call
        switch translated {
        case .success(let c): call = c
        case .failure(.rejected(let why)):
            _ = try await settlements.endBooking(id: bookingId, as: .cancelled)
            return rejected(why)
        }
        _ = try await commandStore.record(.init(
            partnerId: partner.id, command: .reserveNow, stationId: place.stationId, action: call.action, payload: call.payload,
            responseURL: r.responseURL, tokenUID: token.uid, authorizationReference: r.authorizationReference, within: commandWindow
        ))
        return accepted()
    }

    func cancelReservation(_ c: CancelReservation, partner: PartnerRepository.Partner) async throws -> CommandResponse {
        guard let booking = try await settlements.ocpiBooking(partnerId: partner.id, reservationId: c.reservationId) else {
            return rejected("no open reservation '\(c.reservationId.prefix(36))' of this platform")
        }
        _ = try await settlements.endBooking(id: booking.id, as: .cancelled)
        guard let reservation = booking.reservationId else { return accepted() }
        let call = CommandTranslation.cancelReservation(reservationId: reservation)
        _ = try await commandStore.record(.init(
            partnerId: partner.id, command: .cancelReservation, stationId: booking.stationId, action: call.action, payload: call.payload,
            responseURL: c.responseURL, within: commandWindow
        ))
        return accepted()
    }

}
