import CSMS
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import OCPI
import Storage

/// OCPI 2.2.1, CPO role, under `/ocpi`: versions, credentials (partners register with a token A), and the
/// Sender modules locations and tariffs, paginated.
struct OCPIController: Sendable {
    let partners: PartnerRepository
    let catalog: CatalogRepository
    let configuration: OCPIConfiguration
    /// `http://host:port`, without a trailing slash.
    let baseURL: String
    let client: PartnerClient
    /// The domain's transaction runner: every change a partner makes goes through a service inside it.
    let runner: any TransactionRunner
    let tokens = RoamingTokenService()
    let sessions: SessionRepository
    let commandStore: CommandRepository
    /// How long a station may take to answer a command's CALL.
    let commandTimeout: Duration
    /// RESERVE_NOW and CANCEL_RESERVATION are bookings: the same path as the admin API's.
    let settlements: SettlementRepository
    let reservations: AdminRepository
    let bookings = BookingService()

    var versionsURL: String { "\(baseURL)/ocpi/versions" }
    func moduleURL(_ version: OCPIVersion, _ path: String) -> String { "\(baseURL)/ocpi/\(version.rawValue)\(path.isEmpty ? "" : "/" + path)" }

    func addRoutes(to router: Router<AdminContext>) {
        let ocpi = router.group("/ocpi").add(middleware: OCPIErrorMiddleware())
        ocpi.get("versions", use: versions)
        ocpi.get("2.2.1", use: details)
        for version in OCPIVersion.allCases {
            let v = version.rawValue
            ocpi.get("\(v)/credentials") { try await self.getCredentials($0, context: $1, version: version) }
            ocpi.post("\(v)/credentials") { try await self.postCredentials($0, context: $1, version: version) }
            ocpi.put("\(v)/credentials") { try await self.putCredentials($0, context: $1, version: version) }
            ocpi.delete("\(v)/credentials", use: deleteCredentials)
        }
        add211Routes(to: ocpi)
        add211SessionRoutes(to: ocpi)
        ocpi.get("2.2.1/locations", use: listLocations)
        ocpi.get("2.2.1/locations/{location}", use: getLocation)
        ocpi.get("2.2.1/locations/{location}/{evse}", use: getEVSE)
        ocpi.get("2.2.1/locations/{location}/{evse}/{connector}", use: getConnector)
        ocpi.get("2.2.1/tariffs", use: listTariffs)
        addTokenRoutes(to: ocpi)
        addSessionRoutes(to: ocpi)
        addCommandRoutes(to: ocpi)
        addHubClientInfoRoutes(to: ocpi)
        addChargingProfileRoutes(to: ocpi)
        if configuration.openData { addOpenDataRoutes(to: ocpi) }
    }

    // MARK: Authentication

    /// The partner a request's token belongs to. No token, or an unknown one: 401.
    func caller(_ request: Request) async throws -> (PartnerRepository.Partner, PartnerRepository.TokenKind, String) {
        let candidates = AuthorizationToken.candidates(request.headers[.authorization])
        guard !candidates.isEmpty, let found = try await partners.authenticate(candidates) else {
            var e = OCPIError.unauthorized
            e.headers[.wwwAuthenticate] = "Token"
            throw e
        }
        return found
    }

    /// The registered partner calling a functional module: token A is not enough (401), a suspended partner 403.
    func modulePartner(_ request: Request) async throws -> PartnerRepository.Partner {
        let (partner, kind, _) = try await caller(request)
        guard kind == .server else { throw OCPIError(.unauthorized, .clientError, "token A only opens versions and credentials; register first") }
        guard partner.state == .registered else { throw OCPIError(.forbidden, .clientError, "this platform is suspended by the operator") }
        return partner
    }

    func routing(_ partner: PartnerRepository.Partner) -> OCPIReply.Routing {
        OCPIReply.Routing(ours: (configuration.countryCode, configuration.partyId), theirs: partner.roles.first.map { ($0.countryCode, $0.partyId) })
    }

    // MARK: Versions

    @Sendable func versions(_ request: Request, context: AdminContext) async throws -> Response {
        _ = try await caller(request)
        return OCPIReply.envelope(
            [VersionEntry(version: OCPIVersion.v211.rawValue, url: moduleURL(.v211, "")), VersionEntry(version: OCPIVersion.v221.rawValue, url: moduleURL(.v221, ""))],
            request: request
        )
    }

    @Sendable func details(_ request: Request, context: AdminContext) async throws -> Response {
        _ = try await caller(request)
        let endpoints = [
            Endpoint(identifier: ModuleID.credentials.rawValue, role: .sender, url: moduleURL(.v221, "credentials")),
            Endpoint(identifier: ModuleID.locations.rawValue, role: .sender, url: moduleURL(.v221, "locations")),
            Endpoint(identifier: ModuleID.tariffs.rawValue, role: .sender, url: moduleURL(.v221, "tariffs")),
            Endpoint(identifier: ModuleID.tokens.rawValue, role: .receiver, url: moduleURL(.v221, "tokens")),
            Endpoint(identifier: ModuleID.sessions.rawValue, role: .sender, url: moduleURL(.v221, "sessions")),
            Endpoint(identifier: ModuleID.cdrs.rawValue, role: .sender, url: moduleURL(.v221, "cdrs")),
            Endpoint(identifier: ModuleID.commands.rawValue, role: .receiver, url: moduleURL(.v221, "commands")),
            Endpoint(identifier: ModuleID.hubClientInfo.rawValue, role: .receiver, url: moduleURL(.v221, "hubclientinfo")),
            Endpoint(identifier: ModuleID.chargingProfiles.rawValue, role: .receiver, url: moduleURL(.v221, "chargingprofiles")),
        ]
        return OCPIReply.envelope(VersionDetails(version: OCPIVersion.v221.rawValue, endpoints: endpoints), request: request)
    }

    // MARK: Credentials

    /// Voltaic's credentials for a partner that calls it with `token`.
    func ourCredentials(token: String) -> Credentials {
        Credentials(
            token: token, url: versionsURL,
            roles: [CredentialsRole(role: .cpo, businessDetails: BusinessDetails(name: configuration.businessName), partyId: configuration.partyId, countryCode: configuration.countryCode)]
        )
    }

    func ours(token: String) -> Credentials.Encoded221 { ourCredentials(token: token).encoded221() }

    /// Voltaic's credentials in `version`'s shape (2.1.1: one party, no roles).
    func credentialsReply(token: String, version: OCPIVersion, request: Request) -> Response {
        version == .v211
            ? OCPIReply.envelope(ourCredentials(token: token).encoded211(), request: request)
            : OCPIReply.envelope(ourCredentials(token: token).encoded221(), request: request)
    }

    func getCredentials(_ request: Request, context: AdminContext, version: OCPIVersion) async throws -> Response {
        let (_, _, token) = try await caller(request)
        return credentialsReply(token: token, version: version, request: request)
    }

    func postCredentials(_ request: Request, context: AdminContext, version: OCPIVersion) async throws -> Response {
        let (partner, kind, token) = try await caller(request)
        guard kind == .registration else { throw OCPIError(.methodNotAllowed, .clientError, "already registered; PUT updates the credentials, DELETE unregisters") }
        return try await handshake(request, context: context, partner: partner, presented: token, from: [.pending], version: version)
    }

    func putCredentials(_ request: Request, context: AdminContext, version: OCPIVersion) async throws -> Response {
        let (partner, kind, token) = try await caller(request)
        guard kind == .server else { throw OCPIError(.methodNotAllowed, .clientError, "not registered yet; POST registers") }
        return try await handshake(request, context: context, partner: partner, presented: token, from: [.registered, .suspended], version: version)
    }

    @Sendable func deleteCredentials(_ request: Request, context: AdminContext) async throws -> Response {
        let (partner, kind, _) = try await caller(request)
        guard kind == .server, try await partners.unregister(id: partner.id) else {
            throw OCPIError(.methodNotAllowed, .clientError, "not registered")
        }
        context.logger.notice("OCPI partner unregistered", metadata: ["ocpi.partner.id": "\(partner.id)"])
        return OCPIReply.envelope(NoPayload?.none, request: request)
    }

    /// Why a partner's API cannot be used: the step that failed.
    enum Discovery: Error, CustomStringConvertible {
        case versions(PartnerClient.Failure)
        case noCommonVersion([String])
        case details(PartnerClient.Failure)
        case noCredentials

        var description: String {
            switch self {
            case .versions(let f): "versions: \(f)"
            case .noCommonVersion(let offered): "no common version (offered: \(offered.joined(separator: ", ")))"
            case .details(let f): "version details: \(f)"
            case .noCredentials: "no credentials endpoint"
            }
        }
    }

    /// A partner's 2.2.1 details, read with `token` from its versions URL (each call bounded by the partner timeout).
    func discover(versionsURL: String, token: String, version: OCPIVersion = .v221) async throws(Discovery) -> VersionDetails {
        let versions: [VersionEntry]
        // A partner registering on 2.1.1 sends and takes raw tokens.
        do { versions = try await client.get([VersionEntry].self, url: versionsURL, token: token, rawFirst: version == .v211) } catch { throw .versions(error) }
        guard let chosen = versions.first(where: { $0.version == version.rawValue }) else { throw .noCommonVersion(versions.map(\.version)) }
        let details: VersionDetails
        do { details = try await client.get(VersionDetails.self, url: chosen.url, token: token, rawFirst: version == .v211) } catch { throw .details(error) }
        guard details.url(of: .credentials, role: nil) != nil else { throw .noCredentials }
        return details
    }

    /// Reads the partner's credentials (its token B), fetches its versions and details with B before
    /// answering, and returns a new token for it (C). Its old token stays valid until this completes.
    func handshake(
        _ request: Request, context: AdminContext, partner: PartnerRepository.Partner, presented: String, from states: [PartnerRepository.State],
        version: OCPIVersion
    ) async throws -> Response {
        let theirs = try await Self.decode(Credentials.self, request, context: context)
        let details: VersionDetails
        do {
            details = try await discover(versionsURL: theirs.url, token: theirs.token, version: version)
        } catch {
            context.logger.notice("OCPI partner's API unusable", metadata: ["ocpi.partner.id": "\(partner.id)", "error": "\(error)"])
            switch error {
            case .versions(let f): throw OCPIError(.ok, .unableToUseClientAPI, "your versions endpoint \(f.summary)")
            case .details(let f): throw OCPIError(.ok, .unableToUseClientAPI, "your version details endpoint \(f.summary)")
            case .noCommonVersion(let offered):
                throw OCPIError(.ok, .unsupportedVersion, "no version in common: you register on \(version.rawValue); you offer \(offered.joined(separator: ", "))")
            case .noCredentials: throw OCPIError(.ok, .noMatchingEndpoints, "your version details list no credentials endpoint")
            }
        }
        let token = Credentials.newToken()
        guard let registered = try await partners.register(
            id: partner.id, presented: presented, from: states, clientToken: theirs.token, serverToken: token, version: version, versionsURL: theirs.url,
            roles: theirs.roles, endpoints: details.endpoints
        ) else {
            throw OCPIError(.methodNotAllowed, .clientError, "the registration changed meanwhile; GET the credentials")
        }
        context.logger.notice("OCPI partner registered", metadata: ["ocpi.partner.id": "\(registered.id)", "ocpi.version": "\(version.rawValue)"])
        return credentialsReply(token: token, version: version, request: request)
    }

    // MARK: Locations

    @Sendable func listLocations(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let page = try pageRequest(request)
        let result = try await catalog.locations(page)
        return OCPIReply.envelope(
            json: LocationMapper.json(result.items), request: request, routing: routing(partner),
            headers: pageHeaders(page, result, path: "locations")
        )
    }

    @Sendable func getLocation(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let location = try await requireLocation(context)
        return OCPIReply.envelope(json: LocationMapper.json(location), request: request, routing: routing(partner))
    }

    @Sendable func getEVSE(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let evse = try await requireEVSE(context)
        return OCPIReply.envelope(json: LocationMapper.json(evse), request: request, routing: routing(partner))
    }

    @Sendable func getConnector(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let evse = try await requireEVSE(context)
        let id = try Self.parameter(context, "connector")
        guard let connector = evse.connectors.first(where: { String($0.id) == id }) else {
            throw OCPIError(.notFound, .unknownLocation, "no connector '\(id.prefix(36))' at EVSE '\(evse.uid)'")
        }
        return OCPIReply.envelope(json: LocationMapper.json(connector), request: request, routing: routing(partner))
    }

    func requireLocation(_ context: AdminContext) async throws -> CatalogRepository.LocationView {
        let id = try Self.parameter(context, "location")
        guard let location = try await catalog.location(id: id) else { throw OCPIError(.notFound, .unknownLocation, "no location '\(id.prefix(36))'") }
        return location
    }

    func requireEVSE(_ context: AdminContext) async throws -> CatalogRepository.EVSEView {
        let location = try await requireLocation(context)
        let uid = try Self.parameter(context, "evse")
        guard let evse = location.evses.first(where: { $0.uid.lowercased() == uid.lowercased() }) else {
            throw OCPIError(.notFound, .unknownLocation, "no EVSE '\(uid.prefix(36))' at location '\(location.id)'")
        }
        return evse
    }

    // MARK: Tariffs

    @Sendable func listTariffs(_ request: Request, context: AdminContext) async throws -> Response {
        let partner = try await modulePartner(request)
        let page = try pageRequest(request)
        let result = try await catalog.tariffs(page)
        return OCPIReply.envelope(
            result.items, request: request, routing: routing(partner),
            headers: pageHeaders(page, result, path: "tariffs")
        )
    }

    // MARK: Paging

    func pageRequest(_ request: Request) throws -> PageRequest {
        var query: [String: String] = [:]
        // Hummingbird has percent-decoded the values already.
        for (k, v) in request.uri.queryParameters { query[String(k)] = String(v) }
        do {
            var page = try PageRequest(query: query, maxLimit: configuration.pageLimit)
            page.limit = max(page.limit, 1)
            return page
        } catch {
            throw OCPIError.invalid(error.description)
        }
    }

    /// `X-Total-Count`, `X-Limit`, and a `Link` to the next page unless this is the last: the same filters,
    /// the next offset, and the keyset cursor after this page's last object.
    func pageHeaders<T>(_ page: PageRequest, _ result: CatalogRepository.Page<T>, path: String, root: String? = nil) -> HTTPFields {
        var headers: HTTPFields = [.totalCount: String(result.total), .limit: String(configuration.pageLimit)]
        if result.more {
            let url = root.map { "\($0)/\(path)" } ?? moduleURL(.v221, path)
            headers[.link] = "<\(url)?\(page.nextQuery(returned: result.items.count, last: result.last))>; rel=\"next\""
        }
        return headers
    }

    // MARK: Helpers

    static func parameter(_ context: AdminContext, _ name: String) throws -> String {
        guard let raw = context.parameters.get(name), let value = raw.removingPercentEncoding, OCPIString.isCiString(value, maxLength: 64) else {
            throw OCPIError(.notFound, .unknownLocation, "'\(name)' is not an OCPI id")
        }
        return value
    }

    /// Not JSON is HTTP 400; JSON that OCPI's rules refuse is 2001, naming the field.
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, context: AdminContext) async throws -> T {
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        do {
            return try OCPIBody.decode(T.self, Array(body.readableBytesView))
        } catch .notJSON {
            throw OCPIError(.badRequest, .invalidParameters, "the body is not valid JSON")
        } catch {
            throw OCPIError.invalid(error.description)
        }
    }
}
