import CSMS
import Foundation
import Hummingbird
import Logging
import OCPI
import OCPP
import Settlement
import Storage

/// OCPI 2.1.1's tokens (Voltaic the Receiver), sessions and cdrs (Voltaic the Sender): the same data and the same one
/// write path as 2.2.1, read and written through 2.1.1's shapes (`OCPI211`).
extension OCPIController {
    func add211SessionRoutes(to ocpi: RouterGroup<AdminContext>) {
        ocpi.get("2.1.1/tokens/{country_code}/{party_id}/{uid}", use: getToken211)
        ocpi.put("2.1.1/tokens/{country_code}/{party_id}/{uid}", use: putToken211)
        ocpi.patch("2.1.1/tokens/{country_code}/{party_id}/{uid}", use: patchToken211)
        ocpi.get("2.1.1/sessions", use: listSessions211)
        ocpi.get("2.1.1/cdrs", use: listCDRs211)
        ocpi.post("2.1.1/commands/{command}", use: command211)
    }

    // MARK: Commands

    /// 2.1.1's four commands (no CANCEL_RESERVATION), read as their 2.2.1 selves and carried out by the same code: the
    /// token of the partner's one party, the reservation id an integer. The answer is 2.1.1's CommandResponse, its
    /// `result` alone; the result POSTed later is the same object (`OCPI211.commandResult`).
    @Sendable func command211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let name = try Self.parameter(context, "command")
        guard let type = CommandType(rawValue: name.uppercased()), type != .cancelReservation else {
            throw OCPIError(.notFound, .clientError, "no command '\(name.prefix(36))'; one of START_SESSION, STOP_SESSION, RESERVE_NOW, UNLOCK_CONNECTOR")
        }
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        guard let parsed = try? JSONParser.parse(Array(body.readableBytesView)) else { throw OCPIError(.badRequest, .invalidParameters, "the body is not valid JSON") }
        guard let party = partner.roles.first else { throw OCPIError(.forbidden, .clientError, "this platform has no party to own the token") }
        let reshaped: JSONValue
        do {
            reshaped = try OCPI211.command221(parsed, type: type, countryCode: party.countryCode.uppercased(), partyId: party.partyId.uppercased())
        } catch {
            throw OCPIError.invalid(error.description)
        }
        func read<T: Decodable>(_: T.Type) throws -> T {
            do {
                return try JSONDecoder().decode(T.self, from: Data(reshaped.serialized.utf8))
            } catch {
                let e = OCPIFieldError.from(error)
                throw OCPIError.invalid((e.path == "token.contract_id" ? OCPIFieldError(path: "token.auth_id", reason: e.reason) : e).description)
            }
        }
        let answer: CommandResponse
        switch type {
        case .startSession: answer = try await startSession(try read(StartSession.self), partner: partner)
        case .stopSession: answer = try await stopSession(try read(StopSession.self), partner: partner)
        case .unlockConnector: answer = try await unlock(try read(UnlockConnector.self), partner: partner)
        case .reserveNow: answer = try await reserveNow(try read(ReserveNow.self), partner: partner)
        case .cancelReservation: throw OCPIError(.notFound, .clientError, "CANCEL_RESERVATION is not an OCPI 2.1.1 command")
        }
        context.logger.info("OCPI command", metadata: ["ocpi.partner.id": "\(partner.id)", "ocpi.command": "\(type.rawValue)", "ocpi.version": "2.1.1", "ocpi.command.response": "\(answer.result.rawValue)"])
        return OCPIReply.envelope(json: JSONValue.object(["result": .string(answer.result.rawValue)]).serialized, request: request, routing: routing(partner))
    }

    // MARK: Tokens

    /// 2.1.1 keys a token by party and uid: there is no `type` in its URL. A `type` query parameter is taken when a
    /// partner sends one; otherwise the token is the one of that uid, of whatever type (RFID first).
    func tokenKeys211(_ request: Request, _ context: AdminContext, bodyType: TokenType? = nil) throws -> [RoamingTokenService.Key] {
        let cc = try Self.parameter(context, "country_code"), pid = try Self.parameter(context, "party_id")
        guard cc.utf8.count == 2, pid.utf8.count == 3 else { throw OCPIError.invalid("country_code and party_id in the URL: 2 and 3 letters or digits") }
        let uid = try Self.parameter(context, "uid")
        guard uid.utf8.count <= 36 else { throw OCPIError.invalid("uid in the URL: at most 36 characters") }
        if let name = request.uri.queryParameters.get("type") {
            guard let type = TokenType(rawValue: name), OCPI211.tokenTypes.contains(type) else { throw OCPIError.invalid("type: RFID or OTHER (OCPI 2.1.1)") }
            return [RoamingTokenService.Key(countryCode: cc, partyId: pid, uid: uid, type: type)]
        }
        let types = bodyType.map { [$0] } ?? OCPI211.tokenTypes
        return types.map { RoamingTokenService.Key(countryCode: cc, partyId: pid, uid: uid, type: $0) }
    }

    /// The first of `keys` stored for this partner.
    func storedToken211(_ keys: [RoamingTokenService.Key], partner: PartnerRepository.Partner) async throws -> (RoamingTokenService.Key, StoredToken)? {
        guard let party = keys.first.map({ "\($0.countryCode)-\($0.partyId)" }), Self.parties(partner).contains(party) else { return nil }
        for key in keys {
            if let stored = try await runner.perform({ uow in try await uow.ocpiToken(key) }), stored.partnerId == partner.id { return (key, stored) }
        }
        return nil
    }

    @Sendable func getToken211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let keys = try tokenKeys211(request, context)
        guard let (_, stored) = try await storedToken211(keys, partner: partner) else {
            // 2.1.1 has no 2004 (unknown token): a generic client error.
            throw OCPIError(.notFound, .clientError, "no token '\(keys[0].uid.prefix(36))' here")
        }
        let json = String(decoding: try JSONEncoder().encode(stored.token), as: UTF8.self)
        return OCPIReply.envelope(json: OCPI211.token(try JSONParser.parse(json)).serialized, request: request, routing: routing(partner))
    }

    @Sendable func putToken211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        guard let parsed = try? JSONParser.parse(Array(body.readableBytesView)) else { throw OCPIError(.badRequest, .invalidParameters, "the body is not valid JSON") }
        guard case .object = parsed else { throw OCPIError.invalid("the body must be a JSON object") }
        let cc = try Self.parameter(context, "country_code").uppercased(), pid = try Self.parameter(context, "party_id").uppercased()
        let token: Token
        do {
            token = try JSONDecoder().decode(Token.self, from: Data(OCPI211.token221(parsed, countryCode: cc, partyId: pid).serialized.utf8))
        } catch {
            throw OCPIError.invalid(OCPI211.fieldError(OCPIFieldError.from(error)).description)
        }
        guard OCPI211.tokenTypes.contains(token.type) else { throw OCPIError.invalid("type: RFID or OTHER (OCPI 2.1.1)") }
        guard let key = try tokenKeys211(request, context, bodyType: token.type).first else { throw OCPIError.invalid("the token's key") }
        try await put(token, key: key, partner: partner)
        return OCPIReply.envelope(NoPayload?.none, request: request, routing: routing(partner))
    }

    @Sendable func patchToken211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        guard let parsed = try? JSONParser.parse(Array(body.readableBytesView)) else { throw OCPIError(.badRequest, .invalidParameters, "the body is not valid JSON") }
        guard case .object(var fields) = parsed else { throw OCPIError.invalid("the body must be a JSON object of the fields to change") }
        for key in ["country_code", "party_id", "contract_id", "group_id", "default_profile_type", "energy_contract"] where fields[key] != nil {
            throw OCPIError.invalid("\(key): not a field of an OCPI 2.1.1 Token")
        }
        if let authId = fields.removeValue(forKey: "auth_id") { fields["contract_id"] = authId }
        let keys = try tokenKeys211(request, context)
        guard let (key, _) = try await storedToken211(keys, partner: partner) else {
            throw OCPIError(.notFound, .clientError, "no token '\(keys[0].uid.prefix(36))' here; PUT it first")
        }
        let (service, parties, partnerId, changes) = (tokens, Self.parties(partner), partner.id, fields)
        do {
            _ = try await runner.perform { uow in try await service.patch(uow, key: key, fields: changes, partnerId: partnerId, parties: parties) }
        } catch let refusal as RoamingTokenService.Refusal {
            if case .invalid(let field, let reason) = refusal { throw OCPIError.invalid(OCPI211.fieldError(OCPIFieldError(path: field, reason: reason)).description) }
            throw Self.ocpiError(refusal)
        }
        return OCPIReply.envelope(NoPayload?.none, request: request, routing: routing(partner))
    }

    // MARK: Sessions and CDRs

    /// The locations `ids` name, each in its 2.1.1 shape; an id with no location left is absent.
    func locations211(_ ids: Set<String>) async throws -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for id in ids.sorted() {
            guard let view = try await catalog.location(id: id) else { continue }
            out[id] = OCPI211.location(try JSONParser.parse(LocationMapper.json(view)))
        }
        return out
    }

    @Sendable func listSessions211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let page = try pageRequest(request)
        let result = try await sessions.sessions(page, parties: Self.parties(partner).sorted())
        let now = OCPIDateTime(Date())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let rendered = try result.items.map { try JSONParser.parse(Array(try encoder.encode(try $0.session(now: now)))) }
        let sites = try await locations211(Set(rendered.compactMap { $0["location_id"]?.stringValue }))
        // A session whose location 2.1.1 cannot describe is left out (its Location is required).
        let items = rendered.compactMap { s in OCPI211.session(s, site: s["location_id"]?.stringValue.flatMap { sites[$0] }) }
        return OCPIReply.envelope(
            json: JSONValue.array(items).serialized, request: request, routing: routing(partner),
            headers: pageHeaders(page, result, path: "sessions", root: moduleURL(.v211, ""))
        )
    }

    @Sendable func listCDRs211(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let page = try pageRequest(request)
        let result = try await sessions.cdrs(page, parties: Self.parties(partner).sorted())
        let made = try result.items.map { try JSONParser.parse($0) }
        let sites = try await locations211(Set(made.compactMap { $0["cdr_location"]?["id"]?.stringValue }))
        let items = made.compactMap { c in OCPI211.cdr(c, site: c["cdr_location"]?["id"]?.stringValue.flatMap { sites[$0] }) }
        return OCPIReply.envelope(
            json: JSONValue.array(items).serialized, request: request, routing: routing(partner),
            headers: pageHeaders(page, result, path: "cdrs", root: moduleURL(.v211, ""))
        )
    }
}

/// Tokens, Sessions and CDRs between 2.2.1 and 2.1.1 (research notes §15, and 2.1.1's mod_tokens, mod_sessions and
/// mod_cdrs): 2.1.1 names the token's contract `auth_id` and has no party in the objects; a Session and a CDR embed
/// the Location (with only the EVSE and connector used) instead of naming it, their costs are amounts excluding VAT,
/// and their periods carry only the dimensions 2.1.1 knows.
extension OCPI211 {
    static let dimensionTypes: Set<String> = ["ENERGY", "FLAT", "MAX_CURRENT", "MIN_CURRENT", "PARKING_TIME", "TIME"]
    /// 2.1.1's TokenType (AD_HOC_USER and APP_USER came with 2.2), RFID first.
    static let tokenTypes: [TokenType] = [.rfid, .other]

    /// A stored 2.2.1 Token as 2.1.1 shows it.
    static func token(_ v: JSONValue) -> JSONValue {
        guard case .object(var o) = v else { return v }
        o["auth_id"] = o.removeValue(forKey: "contract_id")
        for key in ["country_code", "party_id", "group_id", "default_profile_type", "energy_contract"] { o[key] = nil }
        return .object(o)
    }

    /// A 2.1.1 Token body as the 2.2.1 Token it stands for: the party from the URL, `auth_id` as the contract.
    static func token221(_ v: JSONValue, countryCode: String, partyId: String) -> JSONValue {
        guard case .object(var o) = v else { return v }
        for key in ["contract_id", "group_id", "default_profile_type", "energy_contract"] { o[key] = nil }
        o["contract_id"] = o.removeValue(forKey: "auth_id")
        o["country_code"] = .string(countryCode)
        o["party_id"] = .string(partyId)
        return .object(o)
    }

    /// A field error of the 2.2.1 Token read back in 2.1.1's names.
    static func fieldError(_ e: OCPIFieldError) -> OCPIFieldError {
        e.path == "contract_id" ? OCPIFieldError(path: "auth_id", reason: e.reason) : e
    }

    /// Periods with the dimensions 2.1.1 has; a period left with none is left out (a period has at least one).
    static func chargingPeriods(_ v: JSONValue?) -> JSONValue {
        guard case .array(let periods)? = v else { return .array([]) }
        return .array(periods.compactMap { period in
            guard case .object(var o) = period else { return period }
            o["tariff_id"] = nil
            guard case .array(let dimensions)? = o["dimensions"] else { return .object(o) }
            let kept = dimensions.filter { ($0["type"]?.stringValue).map(dimensionTypes.contains) ?? false }
            guard !kept.isEmpty else { return nil }
            o["dimensions"] = .array(kept)
            return .object(o)
        })
    }

    /// 2.1.1 has AUTH_REQUEST and WHITELIST. A session started by the eMSP's own command was authorized by it, as an
    /// AUTH_REQUEST is.
    static func authMethod(_ v: JSONValue?) -> JSONValue {
        v?.stringValue == "WHITELIST" ? .string("WHITELIST") : .string("AUTH_REQUEST")
    }

    /// A 2.1.1 Location (already reshaped) with only the EVSE `evseUID` and its connector `connectorId`; nil when the
    /// location no longer has them as 2.1.1 can describe them.
    static func site(_ location: JSONValue?, evseUID: String?, connectorId: String?) -> JSONValue? {
        guard case .object(var o)? = location, let evseUID, let connectorId, case .array(let evses)? = o["evses"] else { return nil }
        guard case .object(var evse)? = evses.first(where: { $0["uid"]?.stringValue?.lowercased() == evseUID.lowercased() }),
              case .array(let connectors)? = evse["connectors"],
              let connector = connectors.first(where: { $0["id"]?.stringValue == connectorId })
        else { return nil }
        evse["connectors"] = .array([connector])
        o["evses"] = .array([.object(evse)])
        return .object(o)
    }

    /// The 2.1.1 Location of a CDR whose site is gone (or no longer has the EVSE): what `cdr_location` kept, with the
    /// fields 2.1.1 requires and it lacks said as unknown (status UNKNOWN, type UNKNOWN, voltage and amperage 0). Nil when
    /// its connector's standard or power type is one 2.1.1 lacks: nothing true could be said.
    static func site(of cdrLocation: JSONValue?, lastUpdated: JSONValue?) -> JSONValue? {
        guard case .object(let c)? = cdrLocation,
              (c["connector_standard"]?.stringValue).map(standards.contains) ?? false,
              (c["connector_power_type"]?.stringValue).map(powerTypes.contains) ?? false
        else { return nil }
        let connector: [String: JSONValue] = [
            "id": c["connector_id"] ?? .string("1"), "standard": c["connector_standard"] ?? .null, "format": c["connector_format"] ?? .null,
            "power_type": c["connector_power_type"] ?? .null, "voltage": .number(JSONNumber(0)), "amperage": .number(JSONNumber(0)), "last_updated": lastUpdated ?? .null,
        ]
        var evse: [String: JSONValue] = ["uid": c["evse_uid"] ?? .null, "status": .string("UNKNOWN"), "connectors": .array([.object(connector)]), "last_updated": lastUpdated ?? .null]
        if let id = c["evse_id"] { evse["evse_id"] = id }
        var o: [String: JSONValue] = ["type": .string("UNKNOWN"), "evses": .array([.object(evse)]), "last_updated": lastUpdated ?? .null]
        for key in ["id", "name", "address", "city", "postal_code", "country", "coordinates"] { o[key] = c[key] }
        if o["postal_code"] == nil || o["postal_code"] == .null { o["postal_code"] = .string("") }
        o["coordinates"] = coordinates(o["coordinates"])
        return .object(o)
    }

    /// The amount excluding VAT of a 2.2.1 Price (2.1.1 costs are plain amounts).
    static func amount(_ price: JSONValue?) -> JSONValue? {
        guard let price, price != .null else { return nil }
        return price["excl_vat"]
    }

    /// Nil when the session's Location (required in 2.1.1) cannot be given: its location gone, or its connector of a
    /// kind 2.1.1 lacks.
    static func session(_ v: JSONValue, site location: JSONValue?) -> JSONValue? {
        guard case .object(var o) = v else { return v }
        o["start_datetime"] = o.removeValue(forKey: "start_date_time")
        o["end_datetime"] = o.removeValue(forKey: "end_date_time")
        o["auth_id"] = o["cdr_token"]?["contract_id"]
        o["auth_method"] = authMethod(o["auth_method"])
        guard let place = site(location, evseUID: o["evse_uid"]?.stringValue, connectorId: o["connector_id"]?.stringValue) else { return nil }
        o["location"] = place
        o["total_cost"] = amount(o["total_cost"])
        o["charging_periods"] = chargingPeriods(o["charging_periods"])
        // 2.1.1 has no RESERVATION status: a session waiting on a reservation has not started either.
        if o["status"]?.stringValue == "RESERVATION" { o["status"] = .string("PENDING") }
        for key in ["country_code", "party_id", "cdr_token", "authorization_reference", "location_id", "evse_uid", "connector_id"] { o[key] = nil }
        return .object(o.filter { $0.value != .null })
    }

    /// Nil when neither the site nor what the CDR kept of it can give the Location 2.1.1 requires.
    static func cdr(_ v: JSONValue, site location: JSONValue?) -> JSONValue? {
        guard case .object(var o) = v else { return v }
        let place = o["cdr_location"]
        o["stop_date_time"] = o.removeValue(forKey: "end_date_time")
        o["auth_id"] = o["cdr_token"]?["contract_id"]
        o["auth_method"] = authMethod(o["auth_method"])
        guard let site = site(location, evseUID: place?["evse_uid"]?.stringValue, connectorId: place?["connector_id"]?.stringValue)
            ?? site(of: place, lastUpdated: o["last_updated"])
        else { return nil }
        o["location"] = site
        o["total_cost"] = amount(o["total_cost"])
        o["charging_periods"] = chargingPeriods(o["charging_periods"])
        if case .array(let tariffs)? = o["tariffs"] {
            // The tariff the session was priced by, whatever its validity window says now.
            o["tariffs"] = .array(tariffs.compactMap { tariff($0, now: nil) })
        }
        for key in [
            "country_code", "party_id", "session_id", "cdr_token", "authorization_reference", "cdr_location", "signed_data",
            "total_fixed_cost", "total_energy_cost", "total_time_cost", "total_parking_cost", "total_reservation_cost",
            "invoice_reference_id", "credit", "credit_reference_id", "home_charging_compensation",
        ] { o[key] = nil }
        return .object(o.filter { $0.value != .null })
    }

    /// A 2.1.1 command body as the 2.2.1 one it stands for, or why it cannot be.
    static func command221(_ v: JSONValue, type: CommandType, countryCode: String, partyId: String) throws(OCPIFieldError) -> JSONValue {
        guard case .object(var o) = v else { throw OCPIFieldError(path: "", reason: "the body must be a JSON object") }
        for key in ["authorization_reference", "connector_id"] where o[key] != nil && type != .unlockConnector {
            throw OCPIFieldError(path: key, reason: "is not a field of an OCPI 2.1.1 \(type.rawValue)")
        }
        if type == .startSession || type == .reserveNow {
            guard let token = o["token"], case .object = token else { throw OCPIFieldError(path: "token", reason: "is required, a 2.1.1 Token") }
            o["token"] = token221(token, countryCode: countryCode, partyId: partyId)
        }
        if type == .reserveNow {
            // 2.1.1's reservation id is an int; 2.2.1's a CiString(36) that Voltaic keys the booking by.
            guard case .number(let n)? = o["reservation_id"], let id = Int64(n.text), id >= 0, id <= Int64(Int32.max) else {
                throw OCPIFieldError(path: "reservation_id", reason: "must be a non-negative integer (OCPI 2.1.1 int)")
            }
            o["reservation_id"] = .string(String(id))
        }
        return .object(o)
    }

    /// 2.2.1's CommandResult as 2.1.1's CommandResponse, the object 2.1.1 POSTs to `response_url`: its result is one
    /// of ACCEPTED, REJECTED, NOT_SUPPORTED, TIMEOUT (a station's refusal of any kind is REJECTED).
    static func commandResult(_ result: CommandResult) -> JSONValue {
        let mapped: String = switch result.result {
        case .accepted: "ACCEPTED"
        case .notSupported: "NOT_SUPPORTED"
        case .timeout: "TIMEOUT"
        case .canceledReservation, .evseOccupied, .evseInoperative, .failed, .rejected, .unknownReservation: "REJECTED"
        }
        return .object(["result": .string(mapped)])
    }
}
