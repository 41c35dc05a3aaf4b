import CSMS
import Foundation
import HTTPTypes
public import Hummingbird
import HummingbirdBcrypt
import NIOWebSocket
import OCPP
import Storage

/// `/api/v1`: stations, tokens, transactions, reservations and commands. Described by openapi/admin.yaml.
struct AdminController: Sendable {
    let repository: AdminRepository
    let registry: StationRegistry
    let commands: CommandDispatcher
    /// Changes of charging state go through the domain service and the group committer, as the stations' do.
    let runner: any TransactionRunner
    let service: ChargingService
    /// Signed firmware updates are checked before they are sent.
    var firmware: FirmwareGate?

    func addRoutes(to group: RouterGroup<AdminContext>) {
        group.post("stations", use: createStation)
        group.get("stations", use: listStations)
        group.get("stations/{id}", use: getStation)
        group.patch("stations/{id}", use: updateStation)
        group.delete("stations/{id}", use: deleteStation)
        group.post("stations/{id}/commands/{action}", use: sendCommand)
        group.post("tokens", use: createToken)
        group.get("tokens", use: listTokens)
        group.get("tokens/{value}", use: getToken)
        group.put("tokens/{value}", use: updateToken)
        group.post("tokens/{value}/block", use: blockToken)
        group.get("transactions", use: listTransactions)
        group.get("transactions/{id}", use: getTransaction)
        group.post("transactions/{id}/end", use: endTransaction)
        group.post("reservations", use: createReservation)
        group.get("reservations", use: listReservations)
        group.delete("reservations/{id}", use: cancelReservation)
    }

    // MARK: Stations

    struct NewStation: Decodable {
        var id: String
        var password: String?
        /// 1 (Basic auth, the default: a password is generated when none is given) or 0 (no authentication,
        /// an explicit operator choice).
        var securityProfile: Int?
        var registrationStatus: RegistrationStatus?
    }

    struct StationView: Codable, ResponseEncodable {
        var station: Station
        var connected: Bool
    }

    struct StationDetailView: Codable, ResponseEncodable {
        var station: Station
        var connected: Bool
        var connectors: [ConnectorStatus]
        /// Only in the answer that created the station with a generated password: it is shown this once.
        var generatedPassword: String?
    }

    struct ListOf<T: Codable & Sendable>: Codable, ResponseEncodable, Sendable {
        var items: [T]
    }

    @Sendable func createStation(_ request: Request, context: AdminContext) async throws -> EditedResponse<StationDetailView> {
        let body = try await request.decode(as: NewStation.self, context: context)
        guard StationIdentity.isValid(body.id) else {
            throw Problem(.unprocessableContent, "Invalid station id", "at most 48 characters of letters, digits and *-_=:+|@.")
        }
        let password: String?
        var generated: String?
        switch (body.securityProfile, body.password) {
        case (0, nil), (3, nil): password = nil
        case (0, _?), (3, _?):
            throw Problem(.unprocessableContent, "Invalid securityProfile", "security profiles 0 and 3 use no password; leave password out")
        case (nil, let given?), (1, let given?), (2, let given?):
            guard StationPassword.isValid(given) else {
                throw Problem(.unprocessableContent, "Invalid password", "OCPP Basic auth passwords are 16 to 40 characters")
            }
            password = given
        case (nil, nil), (1, nil), (2, nil):
            generated = StationPassword.generate()
            password = generated
        case (let other?, _):
            throw Problem(.unprocessableContent, "Invalid securityProfile", "securityProfile is 0 to 3, not \(other)")
        }
        let hash = password.map { Bcrypt.hash($0, cost: 10) }
        guard
            try await repository.createStation(
                id: body.id, passwordHash: hash, registrationStatus: body.registrationStatus ?? .accepted, securityProfile: body.securityProfile ?? 1
            )
        else {
            throw Problem(.conflict, "Station exists", "station '\(body.id)' already exists")
        }
        var detail = try await requireStation(body.id)
        detail.generatedPassword = generated
        let location = "/api/v1/stations/" + (body.id.addingPercentEncoding(withAllowedCharacters: Self.pathSegmentAllowed) ?? body.id)
        return EditedResponse(status: .created, headers: [.location: location], response: detail)
    }

    /// RFC 3986 unreserved characters and the sub-delimiters a path segment may carry as they are.
    static let pathSegmentAllowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@")


    @Sendable func listStations(_ request: Request, context: AdminContext) async throws -> ListOf<StationView> {
        let connected = registry.connectedIds
        return ListOf(items: try await repository.stations().filter { $0.decommissionedAt == nil }.map { StationView(station: $0, connected: connected.contains($0.id)) })
    }

    @Sendable func getStation(_ request: Request, context: AdminContext) async throws -> StationDetailView {
        try await requireStation(try context.parameters.require("id"))
    }

    private func requireStation(_ id: String) async throws -> StationDetailView {
        // A decommissioned station is gone from the operator's view; its transactions stay readable.
        guard let d = try await repository.station(id: id), d.station.decommissionedAt == nil else { throw Problem.noSuchStation(id) }
        return StationDetailView(station: d.station, connected: registry.session(id) != nil, connectors: d.connectors)
    }

    struct StationChange: Decodable {
        var registrationStatus: RegistrationStatus?
        /// A new Basic-auth password; an empty string removes it (security profile 0).
        var password: String?
        /// The lowest profile the station may connect with. Connections raise it; only this lowers it.
        var securityProfile: Int?
    }

    @Sendable func updateStation(_ request: Request, context: AdminContext) async throws -> StationDetailView {
        let id = try context.parameters.require("id")
        let change = try await request.decode(as: StationChange.self, context: context)
        var hash: String??
        if let password = change.password {
            if password.isEmpty {
                hash = .some(nil)
            } else {
                guard StationPassword.isValid(password) else {
                    throw Problem(.unprocessableContent, "Invalid password", "OCPP Basic auth passwords are 16 to 40 characters")
                }
                hash = .some(Bcrypt.hash(password, cost: 10))
            }
        }
        if let profile = change.securityProfile, !(0...3).contains(profile) {
            throw Problem(.unprocessableContent, "Invalid securityProfile", "securityProfile is 0 to 3, not \(profile)")
        }
        guard try await repository.updateStation(id: id, registrationStatus: change.registrationStatus, passwordHash: hash, securityProfile: change.securityProfile) else {
            throw Problem.noSuchStation(id)
        }
        if let status = change.registrationStatus, let session = registry.session(id) { session.setRegistrationStatus(status) }
        return try await requireStation(id)
    }

    @Sendable func deleteStation(_ request: Request, context: AdminContext) async throws -> HTTPResponse.Status {
        let id = try context.parameters.require("id")
        guard try await repository.decommissionStation(id: id) else { throw Problem.noSuchStation(id) }
        if let session = registry.session(id) { await session.close(code: .policyViolation, reason: "station removed") }
        return .noContent
    }

    // MARK: Commands

    struct CommandAnswer: Codable, ResponseEncodable {
        var stationId: String
        var action: String
        var ocppVersion: String
        var response: JSONValue
        var responseSchemaViolation: String?
    }

    @Sendable func sendCommand(_ request: Request, context: AdminContext) async throws -> CommandAnswer {
        let id = try context.parameters.require("id")
        let action = try context.parameters.require("action")
        context.audit.set(action: Problem.bounded(action), target: id)
        guard StationIdentity.isValid(id) else { throw Problem.noSuchStation(id) }
        guard (1...64).contains(action.utf8.count), action.utf8.allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) }) else {
            throw Problem(.badRequest, "Unknown command", "'\(Problem.bounded(action))' is not an OCPP action")
        }
        let buffer = try await request.body.collect(upTo: 1 << 20)
        let payload: JSONValue
        do {
            payload = buffer.readableBytes == 0 ? .object([:]) : try JSONParser.parse(Array(buffer.readableBytesView))
        } catch {
            throw Problem(.badRequest, "Invalid JSON", Problem.bounded(error.description, 200))
        }
        if action == "ReserveNow", let reservationId = Self.reservationId(payload) {
            // Reservation ids are the CSMS's: a raw ReserveNow may not take another station's, nor a used one.
            guard (0...Int(Int32.max)).contains(reservationId) else {
                throw Problem(.unprocessableContent, "Invalid reservation id", "a reservation id is an integer from 0 to 2147483647")
            }
            guard try await repository.reservationIdIsFree(id: reservationId, for: id) else {
                throw Problem(.conflict, "Reservation id in use", "reservation \(reservationId) belongs to another station or was used; POST /api/v1/reservations picks a free id")
            }
        }
        if AccessPolicy.commandNeedsAdmin(action: action, payload: payload), context.principal?.role != .admin {
            throw Problem(.forbidden, "Admin role required", "\(action) changes what the station trusts or how it authenticates; it needs an admin key")
        }
        if action == "SignedUpdateFirmware" || (action == "UpdateFirmware" && payload["firmware"]?["signature"] != nil) {
            guard let firmware else { throw Problem(.unprocessableContent, "No firmware root", "no firmware root is configured (--firmware-root)") }
            try await firmware.check(payload["firmware"])
        }
        let answer = try await commands.send(stationId: id, action: action, payload: payload)
        switch answer.answer {
        case .result(let result):
            try await recordReservation(stationId: id, action: action, payload: payload, result: result)
            return CommandAnswer(stationId: id, action: action, ocppVersion: answer.version.rawValue, response: result, responseSchemaViolation: answer.responseViolation)
        case .error(let code, let description, _):
            throw Problem(.badGateway, "Station answered with an error", "\(code): \(description)")
        }
    }

    /// A ReserveNow or CancelReservation sent as a raw command is kept in the reservations table too,
    /// so that a start carrying the reservation consumes it whichever way it was made.
    private func recordReservation(stationId: String, action: String, payload: JSONValue, result: JSONValue) async throws {
        guard result["status"]?.stringValue == "Accepted" else { return }
        func int(_ key: String) -> Int? { Self.int(payload[key]) }
        switch action {
        case "ReserveNow":
            // 1.6: reservationId, idTag, expiryDate, connectorId. 2.0.1: id, idToken.idToken, expiryDateTime, evseId.
            guard let reservationId = Self.reservationId(payload), (0...Int(Int32.max)).contains(reservationId),
                let token = payload["idTag"]?.stringValue ?? payload["idToken"]?["idToken"]?.stringValue,
                let expiry = (payload["expiryDate"] ?? payload["expiryDateTime"])?.stringValue.flatMap(OCPPDateTime.parse)
            else { return }
            let evse = int("connectorId") ?? int("evseId")
            guard evse.map({ (0...Int(Int32.max)).contains($0) }) ?? true else { return }
            try await repository.recordReservation(id: reservationId, stationId: stationId, evseId: evse == 0 ? nil : evse, idToken: token, expiresAt: expiry)
        case "CancelReservation":
            if let reservationId = int("reservationId") { try await repository.cancelReservation(id: reservationId, stationId: stationId) }
        default:
            return
        }
    }

    /// The reservation id of a raw ReserveNow: 1.6 `reservationId`, 2.0.1 `id`.
    static func reservationId(_ payload: JSONValue) -> Int? { int(payload["reservationId"]) ?? int(payload["id"]) }

    private static func int(_ value: JSONValue?) -> Int? {
        if case .number(let n)? = value { return n.int64Value.map(Int.init) }
        return nil
    }

    // MARK: Tokens

    /// The body of POST /tokens: the value is required.
    struct NewToken: Decodable {
        var value: String
        var type: String?
        var status: AuthorizationStatus?
        var expiresAt: Date?
        var groupId: String?

        var input: TokenInput { TokenInput(type: type, status: status, expiresAt: expiresAt, groupId: groupId) }
    }

    /// The body of PUT /tokens/{value}: the value is the path's.
    struct TokenInput: Decodable {
        var type: String?
        var status: AuthorizationStatus?
        var expiresAt: Date?
        var groupId: String?
    }

    private func token(from input: TokenInput, value: String) throws -> IdToken {
        guard (1...36).contains(value.unicodeScalars.count) else { throw Problem(.unprocessableContent, "Invalid token", "a token value is 1 to 36 characters") }
        if let type = input.type, !(1...36).contains(type.unicodeScalars.count) {
            throw Problem(.unprocessableContent, "Invalid token type", "a token type is 1 to 36 characters")
        }
        if let group = input.groupId, !(1...36).contains(group.unicodeScalars.count) {
            throw Problem(.unprocessableContent, "Invalid group", "a group id is 1 to 36 characters")
        }
        let status = input.status ?? .accepted
        guard [.accepted, .blocked, .expired, .invalid].contains(status) else {
            throw Problem(.unprocessableContent, "Invalid token status", "status is one of Accepted, Blocked, Expired, Invalid")
        }
        return IdToken(value: value, type: input.type ?? "Central", status: status, expiresAt: input.expiresAt, groupId: input.groupId)
    }

    @Sendable func createToken(_ request: Request, context: AdminContext) async throws -> EditedResponse<IdToken> {
        let body = try await request.decode(as: NewToken.self, context: context)
        context.audit.set(action: "POST /api/v1/tokens", target: body.value)
        let saved = try await repository.upsertToken(try token(from: body.input, value: body.value))
        return EditedResponse(status: .created, response: saved)
    }

    @Sendable func updateToken(_ request: Request, context: AdminContext) async throws -> IdToken {
        let input = try await request.decode(as: TokenInput.self, context: context)
        return try await repository.upsertToken(try token(from: input, value: try context.parameters.require("value")))
    }

    @Sendable func getToken(_ request: Request, context: AdminContext) async throws -> IdToken {
        let value = try context.parameters.require("value")
        guard let t = try await repository.token(value: value) else { throw Problem(.notFound, "No such token", "token '\(Problem.bounded(value))' does not exist") }
        return t
    }

    @Sendable func listTokens(_ request: Request, context: AdminContext) async throws -> ListOf<IdToken> {
        ListOf(items: try await repository.tokens())
    }

    @Sendable func blockToken(_ request: Request, context: AdminContext) async throws -> IdToken {
        guard let t = try await repository.setTokenStatus(value: try context.parameters.require("value"), status: .blocked) else {
            throw Problem(.notFound, "No such token", "token does not exist")
        }
        return t
    }

    // MARK: Transactions

    struct TransactionDetail: Codable, ResponseEncodable {
        var transaction: ChargingTransaction
        var meterValues: [MeterSample]
    }

    @Sendable func listTransactions(_ request: Request, context: AdminContext) async throws -> ListOf<ChargingTransaction> {
        let q = request.uri.queryParameters
        var filter = AdminRepository.TransactionFilter()
        filter.stationId = q.get("stationId")
        filter.idToken = q.get("idToken")
        if let s = q.get("state") {
            guard let state = TransactionState(rawValue: s) else { throw Problem(.badRequest, "Invalid state", "state is Active or Ended") }
            filter.state = state
        }
        if let s = q.get("since") {
            guard let since = OCPPDateTime.parse(s) else { throw Problem(.badRequest, "Invalid since", "since is an RFC 3339 date-time") }
            filter.since = since
        }
        if let s = q.get("limit") {
            guard let limit = Int(s), (1...1000).contains(limit) else { throw Problem(.badRequest, "Invalid limit", "limit is 1 to 1000") }
            filter.limit = limit
        }
        return ListOf(items: try await repository.transactions(filter))
    }

    @Sendable func getTransaction(_ request: Request, context: AdminContext) async throws -> TransactionDetail {
        guard let id = Int64(try context.parameters.require("id")) else { throw Problem(.badRequest, "Invalid transaction id", "a transaction id is a 64-bit integer") }
        guard let tx = try await repository.transaction(id: id) else { throw Problem(.notFound, "No such transaction", "transaction \(id) does not exist") }
        return TransactionDetail(transaction: tx, meterValues: try await repository.meterValues(transactionId: id))
    }

    struct EndRequest: Decodable {
        var reason: String
    }

    struct EndAnswer: Codable, ResponseEncodable {
        var transaction: ChargingTransaction
        /// False when the transaction had ended already (a replay, or the station's Stop came first).
        var ended: Bool
    }

    /// Ends a transaction whose Stop was lost: it stops counting against its token (ConcurrentTx), its energy
    /// is what its last reading says, and it is flagged with who ended it and why. Idempotent.
    @Sendable func endTransaction(_ request: Request, context: AdminContext) async throws -> EndAnswer {
        guard let id = Int64(try context.parameters.require("id")) else { throw Problem(.badRequest, "Invalid transaction id", "a transaction id is a 64-bit integer") }
        context.audit.set(action: "EndTransaction", target: String(id))
        let body = try await request.decode(as: EndRequest.self, context: context)
        let reason = body.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(reason.unicodeScalars.count) else { throw Problem(.unprocessableContent, "Invalid reason", "reason is 1 to 200 characters") }
        let (service, actor, now) = (service, "API key " + (context.principal?.name ?? "unknown"), Date())
        let outcome = try await runner.perform { uow in try await service.endByOperator(uow, id: id, actor: actor, reason: reason, now: now) }
        guard let (tx, ended) = outcome else { throw Problem(.notFound, "No such transaction", "transaction \(id) does not exist") }
        return EndAnswer(transaction: tx, ended: ended)
    }

    // MARK: Reservations

    struct NewReservation: Decodable {
        var stationId: String
        var evseId: Int?
        var idToken: String
        var expiresAt: Date?
        var durationMinutes: Int?
    }

    struct ReservationAnswer: Codable, ResponseEncodable {
        var reservation: Reservation
        var stationStatus: String
    }

    @Sendable func createReservation(_ request: Request, context: AdminContext) async throws -> EditedResponse<ReservationAnswer> {
        let body = try await request.decode(as: NewReservation.self, context: context)
        context.audit.set(action: "ReserveNow", target: body.stationId)
        guard (1...36).contains(body.idToken.unicodeScalars.count) else { throw Problem(.unprocessableContent, "Invalid token", "idToken is 1 to 36 characters") }
        if let evse = body.evseId, !(0...Int(Int32.max)).contains(evse) { throw Problem(.unprocessableContent, "Invalid EVSE", "evseId is 0 or more") }
        if let minutes = body.durationMinutes, !(1...10_080).contains(minutes) {
            throw Problem(.unprocessableContent, "Invalid duration", "durationMinutes is 1 to 10080 (a week)")
        }
        let expiresAt = body.expiresAt ?? Date().addingTimeInterval(Double(body.durationMinutes ?? 30) * 60)
        // Whether the station is connected is told first: it is what a caller can act on.
        guard let session = registry.session(body.stationId) else { throw Problem(.conflict, "Station offline", "station '\(Problem.bounded(body.stationId))' is not connected") }
        guard expiresAt > Date() else { throw Problem(.unprocessableContent, "Invalid expiry", "a reservation must expire in the future") }
        var reservation = try await repository.createReservation(stationId: body.stationId, evseId: body.evseId, idToken: body.idToken, expiresAt: expiresAt)
        let payload: JSONValue
        if session.version == .v16 {
            payload = .object([
                "connectorId": .number(JSONNumber(body.evseId ?? 0)), "expiryDate": .string(OCPPDateTime.format(expiresAt)),
                "idTag": .string(body.idToken), "reservationId": .number(JSONNumber(reservation.id)),
            ])
        } else {
            var o: [String: JSONValue] = [
                "id": .number(JSONNumber(reservation.id)), "expiryDateTime": .string(OCPPDateTime.format(expiresAt)),
                "idToken": .object(["idToken": .string(body.idToken), "type": .string("Central")]),
            ]
            if let evse = body.evseId { o["evseId"] = .number(JSONNumber(evse)) }
            payload = .object(o)
        }
        let status: String
        do {
            let answer = try await commands.send(stationId: body.stationId, action: "ReserveNow", payload: payload)
            guard case .result(let result) = answer.answer else { throw Problem(.badGateway, "Station answered with an error") }
            status = result["status"]?.stringValue ?? "Rejected"
        } catch {
            try await repository.setReservationStatus(id: reservation.id, status: .rejected)
            throw error
        }
        reservation.status = status == "Accepted" ? .accepted : .rejected
        try await repository.setReservationStatus(id: reservation.id, status: reservation.status)
        return EditedResponse(status: .created, response: ReservationAnswer(reservation: reservation, stationStatus: status))
    }

    @Sendable func listReservations(_ request: Request, context: AdminContext) async throws -> ListOf<Reservation> {
        ListOf(items: try await repository.reservations(stationId: request.uri.queryParameters.get("stationId")))
    }

    @Sendable func cancelReservation(_ request: Request, context: AdminContext) async throws -> ReservationAnswer {
        guard let id = Int32(try context.parameters.require("id")).map(Int.init), id >= 1 else {
            throw Problem(.badRequest, "Invalid reservation id", "a reservation id is an integer from 1 to 2147483647")
        }
        guard var reservation = try await repository.reservation(id: id) else { throw Problem(.notFound, "No such reservation", "reservation \(id) does not exist") }
        context.audit.set(action: "CancelReservation", target: reservation.stationId)
        let answer = try await commands.send(stationId: reservation.stationId, action: "CancelReservation", payload: .object(["reservationId": .number(JSONNumber(id))]))
        guard case .result(let result) = answer.answer else { throw Problem(.badGateway, "Station answered with an error") }
        let status = result["status"]?.stringValue ?? "Rejected"
        if status == "Accepted" {
            reservation.status = .cancelled
            try await repository.setReservationStatus(id: id, status: .cancelled)
        }
        return ReservationAnswer(reservation: reservation, stationStatus: status)
    }
}

extension IdToken: ResponseEncodable {}
extension ChargingTransaction: ResponseEncodable {}
extension Reservation: ResponseEncodable {}

extension Problem {
    static func noSuchStation(_ id: String) -> Problem {
        Problem(.notFound, "No such station", "station '\(bounded(id))' does not exist")
    }
}
