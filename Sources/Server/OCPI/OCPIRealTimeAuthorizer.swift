import CSMS
import Foundation
import Logging
import OCPI
import Storage
import Synchronization

/// Real-time authorization toward eMSPs (OCPI 2.2.1 tokens module, Voltaic the Sender of `authorize`): before a
/// station is told whether a token may charge, the token's eMSP is asked when its copy says so (whitelist NEVER, or
/// ALLOWED_OFFLINE), and every eMSP that takes the call is asked about a token Voltaic has no copy of (the first to
/// allow it wins, and its copy is kept). Each call is bounded by `timeout`; the station's answer waits that long at most.
///
/// What is asked and answered is decided here; what the answer means is the token rules' (the copy's whitelist and the
/// answer, read in the transaction that decides): UNREACHABLE refuses a NEVER token and lets an ALLOWED_OFFLINE one
/// charge. An answer stands for 15 minutes at that station, so a station's Authorize and then its start ask once.
final class OCPIRealTimeAuthorizer: RealTimeAuthorizer {
    let reads: RealTimeAuthorizationRepository
    let partners: PartnerRepository
    let client: PartnerClient
    let logger: Logger
    /// At most this many eMSPs are asked about a token no copy names.
    let fanOut = 8
    private let askable = Mutex<(at: ContinuousClock.Instant, partners: [PartnerRepository.Partner])?>(nil)
    private let refreshing = Mutex(false)
    /// The longest a station's message waits on a read of this authorizer's (the first partner list, the token's copy).
    let databaseWait: Duration = .seconds(1)
    /// Uids no eMSP knew, and until when they are not asked about again: a station reading stray cards does not send
    /// every eMSP a request per card.
    private let unknown = Mutex<[String: ContinuousClock.Instant]>([:])
    let unknownFor: Duration = .seconds(60)

    init(reads: RealTimeAuthorizationRepository, partners: PartnerRepository, client: PartnerClient, logger: Logger) {
        self.reads = reads
        self.partners = partners
        self.client = client
        self.logger = logger
    }

    /// Registered partners with a tokens endpoint to ask (2.2.1: its Sender; 2.1.1: its tokens interface, which has no
    /// role). The list is read again in the background once it is 5 s old, and a station's message never waits for that
    /// read (a database that is down must not slow its answer): it uses the list it has. Only before the first list
    /// does it wait, for at most `databaseWait`.
    func askablePartners() async -> [PartnerRepository.Partner] {
        let cached = askable.withLock { $0 }
        if let cached {
            if ContinuousClock.now - cached.at >= .seconds(5), refreshing.withLock({ r in defer { r = true }; return !r }) {
                Task { await self.reload() }
            }
            return cached.partners
        }
        return (try? await Deadline.run(within: databaseWait) { await self.reload() }) ?? []
    }

    @discardableResult
    func reload() async -> [PartnerRepository.Partner] {
        defer { refreshing.withLock { $0 = false } }
        guard let all = try? await Deadline.run(within: .seconds(5), { try await self.partners.partners() }) else {
            return askable.withLock { $0?.partners } ?? []
        }
        let fresh = all.filter { $0.state == .registered && Self.tokensURL($0) != nil }
        askable.withLock { $0 = (ContinuousClock.now, fresh) }
        return fresh
    }

    static func tokensURL(_ partner: PartnerRepository.Partner) -> String? {
        switch partner.version {
        case .v221: partner.endpoints.first { $0.identifier.lowercased() == ModuleID.tokens.rawValue && $0.role == .sender }?.url
        case .v211: partner.endpoints.first { $0.identifier.lowercased() == ModuleID.tokens.rawValue }?.url
        case nil: nil
        }
    }

    /// Bounded as a whole (the reads too, which a database that hangs would otherwise hold): past the partner timeout
    /// and 2 s, nothing was asked, and the copy decides.
    func authorize(idToken: String, stationId: String, evseId: Int?) async -> RealTimeAuthorization? {
        let within = client.timeout + .seconds(2)
        return (try? await Deadline.run(within: within) { await self.decide(idToken: idToken, stationId: stationId, evseId: evseId) }) ?? nil
    }

    func decide(idToken: String, stationId: String, evseId: Int?) async -> RealTimeAuthorization? {
        guard (1...36).contains(idToken.utf8.count) else { return nil }
        let partners = await askablePartners()
        guard !partners.isEmpty else { return nil }
        // The database being down is the transaction's to find out: nothing is asked.
        guard let context = try? await Deadline.run(within: databaseWait, { try await self.reads.context(idToken: idToken, stationId: stationId, evseId: evseId) })
        else { return nil }
        if context.own || context.answered { return nil }
        let place = LocationReferences(locationId: context.locationId, evseUIDs: context.evseUIDs.isEmpty ? nil : context.evseUIDs)
        if let copy = context.copy {
            guard copy.valid, copy.whitelist == .never || copy.whitelist == .allowedOffline else { return nil }
            guard let partner = partners.first(where: { $0.id == copy.partnerId }) else {
                // The eMSP cannot be asked (not registered on 2.2.1, or without the endpoint): as if it were down.
                return answer(partner: copy.partnerId, parties: [], uid: copy.uid, type: copy.type, stationId: stationId, place: place, .unreachable)
            }
            return await ask(partner, uid: copy.uid, type: copy.type, stationId: stationId, place: place) ?? answer(
                partner: partner.id, parties: OCPIController.parties(partner), uid: copy.uid, type: copy.type, stationId: stationId, place: place, .notAllowed
            )
        }
        // No copy: the eMSPs that take the call are asked together; the first ALLOWED wins, else any other answer.
        let key = idToken.lowercased()
        if let until = unknown.withLock({ $0[key] }), until > .now { return nil }
        let asked = Array(partners.filter { $0.roles.contains { $0.role == .emsp || $0.role == .hub } }.prefix(fanOut))
        guard !asked.isEmpty else { return nil }
        let found: RealTimeAuthorization? = await withTaskGroup(of: RealTimeAuthorization?.self) { group in
            for partner in asked {
                group.addTask { await self.ask(partner, uid: idToken, type: .rfid, stationId: stationId, place: place, unknownIsNil: true) }
            }
            var other: RealTimeAuthorization?
            for await answer in group {
                guard let answer, answer.allowed != .unreachable else { continue }
                if answer.allowed == .allowed {
                    group.cancelAll()
                    return answer as RealTimeAuthorization?
                }
                other = other ?? answer
            }
            return other as RealTimeAuthorization?
        }
        if found == nil {
            unknown.withLock { cache in
                let now = ContinuousClock.now
                if cache.count > 10_000 { cache = cache.filter { $0.value > now } }
                cache[key] = now + unknownFor
            }
        }
        return found
    }

    func answer(partner: Int64, parties: Set<String>, uid: String, type: TokenType, stationId: String, place: LocationReferences,
                _ allowed: RealTimeAuthorization.Allowed, reference: String? = nil, token: Token? = nil) -> RealTimeAuthorization {
        RealTimeAuthorization(
            partnerId: partner, parties: parties, tokenUID: uid, tokenType: type, stationId: stationId, locationId: place.locationId,
            allowed: allowed, authorizationReference: reference, token: token
        )
    }

    /// One eMSP's answer. An eMSP that does not know the token (2004, or 404) answers nil when `unknownIsNil` (it is not
    /// its token), NOT_ALLOWED otherwise; one that cannot be reached, or answers something else, is UNREACHABLE.
    func ask(_ partner: PartnerRepository.Partner, uid: String, type: TokenType, stationId: String, place: LocationReferences,
             unknownIsNil: Bool = false) async -> RealTimeAuthorization? {
        let parties = OCPIController.parties(partner)
        guard let base = Self.tokensURL(partner), let token = partner.clientToken else {
            return answer(partner: partner.id, parties: parties, uid: uid, type: type, stationId: stationId, place: place, .unreachable)
        }
        let encoded = uid.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? uid
        let url = (base.hasSuffix("/") ? base : base + "/") + encoded + "/authorize?type=" + type.rawValue
        let started = ContinuousClock.now
        do {
            // LocationReferences needs its location_id: a station at no location asks with no body.
            let info = try await client.post(AuthorizationInfo.self, url: url, token: token, body: place.locationId == nil ? nil : place, rawFirst: partner.version == .v211)
            // The token it answers with must be the one asked about, or it is not kept.
            let same = info.token.map { $0.uid.lowercased() == uid.lowercased() } ?? false
            logger.debug("real-time authorization", metadata: [
                "ocpi.partner.id": "\(partner.id)", "ocpi.allowed": "\(info.allowed.rawValue)", "duration": "\(ContinuousClock.now - started)",
            ])
            return answer(
                partner: partner.id, parties: parties, uid: same ? info.token!.uid : uid, type: same ? info.token!.type : type, stationId: stationId,
                place: place, info.allowed, reference: info.authorizationReference, token: same ? info.token : nil
            )
        } catch .status(2004, _), .refused(404) {
            return unknownIsNil ? nil : answer(partner: partner.id, parties: parties, uid: uid, type: type, stationId: stationId, place: place, .notAllowed)
        } catch {
            logger.notice("real-time authorization failed", metadata: ["ocpi.partner.id": "\(partner.id)", "error": "\(error)"])
            return answer(partner: partner.id, parties: parties, uid: uid, type: type, stationId: stationId, place: place, .unreachable)
        }
    }
}

/// Where the token asks to charge (OCPI LocationReferences): the station's location and its EVSEs there.
struct LocationReferences: Encodable, Sendable {
    var locationId: String?
    var evseUIDs: [String]?

    enum CodingKeys: String, CodingKey { case locationId = "location_id", evseUIDs = "evse_uids" }
}

/// An eMSP's AuthorizationInfo, read as far as Voltaic uses it: `allowed` and the reference are required to be sane,
/// a Token that does not read as one is ignored (the answer stands without it).
struct AuthorizationInfo: Decodable, Sendable {
    var allowed: RealTimeAuthorization.Allowed
    var token: Token?
    var authorizationReference: String?

    enum CodingKeys: String, CodingKey { case allowed, token, authorizationReference = "authorization_reference" }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let allowed = try c.decode(String.self, forKey: .allowed)
        guard let known = RealTimeAuthorization.Allowed(rawValue: allowed), known != .unreachable else {
            throw OCPIFieldError(c.codingPath + [CodingKeys.allowed], "must be ALLOWED, BLOCKED, EXPIRED, NO_CREDIT or NOT_ALLOWED")
        }
        self.allowed = known
        token = try? c.decodeIfPresent(Token.self, forKey: .token)
        let reference = try c.decodeIfPresent(String.self, forKey: .authorizationReference)
        if let reference, reference.isEmpty || reference.utf8.count > 36 || !OCPIString.isCiString(reference, maxLength: 36) {
            throw OCPIFieldError(c.codingPath + [CodingKeys.authorizationReference], "must be a CiString(36)")
        }
        authorizationReference = reference
    }
}
