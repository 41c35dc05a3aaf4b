public import Foundation
public import OCPI
public import OCPP

/// The one write path of roaming partners' tokens (OCPI tokens module, Voltaic the Receiver): a partner puts and
/// patches the tokens of its own parties only. Each change writes its outbox event in the same transaction.
public struct RoamingTokenService: Sendable {
    public init() {}

    /// A token's key as OCPI gives it: the eMSP's party, the uid (any case) and the type.
    public struct Key: Sendable, Hashable {
        public var countryCode: String
        public var partyId: String
        public var uid: String
        public var type: TokenType

        public init(countryCode: String, partyId: String, uid: String, type: TokenType) {
            self.countryCode = countryCode.uppercased()
            self.partyId = partyId.uppercased()
            self.uid = uid
            self.type = type
        }
    }

    public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        /// The token's party is not one of the calling partner's, or another partner put it.
        case notYourParty(String)
        /// The body names another token than the URL.
        case keyMismatch(field: String)
        case invalid(field: String, reason: String)

        public var description: String {
            switch self {
            case .notYourParty(let party): "party \(party) is not one of this platform's roles"
            case .keyMismatch(let field): "\(field): must be the one in the URL"
            case .invalid(let field, let reason): "\(field): \(reason)"
            }
        }
    }

    /// Creates or replaces a token. `parties` are the calling partner's, as `CC-PID`.
    public func put(_ uow: any UnitOfWork, _ token: Token, key: Key, partnerId: Int64, parties: Set<String>) async throws -> CatalogWrite {
        try Self.check(token, against: key)
        try await Self.checkOwner(uow, key: key, partnerId: partnerId, parties: parties)
        let write = try await uow.upsertOCPIToken(token, partnerId: partnerId)
        if write != .unchanged { try await uow.appendOutbox(topic: "token.updated", payload: Self.event(key)) }
        return write
    }

    /// Applies a PATCH: the fields given replace the stored ones (`last_updated` must be among them), and the result
    /// is checked as a whole token. Nil when there is no such token.
    public func patch(_ uow: any UnitOfWork, key: Key, fields: [String: JSONValue], partnerId: Int64, parties: Set<String>) async throws -> Token? {
        guard let stored = try await uow.ocpiToken(key) else { return nil }
        try await Self.checkOwner(uow, key: key, partnerId: partnerId, parties: parties)
        guard let updated = fields["last_updated"], updated != .null else { throw Refusal.invalid(field: "last_updated", reason: "is required in a PATCH") }
        _ = updated
        let encoder = JSONEncoder()
        guard case .object(var members) = try JSONParser.parse(Array(try encoder.encode(stored.token))) else {
            throw Refusal.invalid(field: "token", reason: "the stored token is not an object")
        }
        for (k, v) in fields { members[k] = v }
        let merged: Token
        do {
            merged = try JSONDecoder().decode(Token.self, from: Data(JSONValue.object(members).serialized.utf8))
        } catch {
            let e = OCPIFieldError.from(error)
            throw Refusal.invalid(field: e.path, reason: e.reason)
        }
        try Self.check(merged, against: key)
        if try await uow.upsertOCPIToken(merged, partnerId: partnerId) != .unchanged {
            try await uow.appendOutbox(topic: "token.updated", payload: Self.event(key))
        }
        return merged
    }

    /// Keeps what a token's eMSP answered in real time, in the transaction of the message that asked; the Token an
    /// ALLOWED answer came with is kept as a PUT of it would be (its party must be the partner's). A refusal's Token is
    /// not: its copy, once the refusal is 15 minutes old, would let the token charge without asking.
    public func record(_ uow: any UnitOfWork, _ answer: RealTimeAuthorization) async throws {
        if let token = answer.token, answer.allowed == .allowed {
            let key = Key(countryCode: token.countryCode, partyId: token.partyId, uid: token.uid, type: token.type)
            do {
                _ = try await put(uow, token, key: key, partnerId: answer.partnerId, parties: answer.parties)
            } catch is Refusal {
                // A token of another party, or of another partner: the answer stands, the copy is not taken.
            }
        }
        try await uow.recordRealTimeAuthorization(answer)
    }

    static func check(_ token: Token, against key: Key) throws {
        if token.countryCode != key.countryCode { throw Refusal.keyMismatch(field: "country_code") }
        if token.partyId != key.partyId { throw Refusal.keyMismatch(field: "party_id") }
        if token.uid.lowercased() != key.uid.lowercased() { throw Refusal.keyMismatch(field: "uid") }
        if token.type != key.type { throw Refusal.keyMismatch(field: "type") }
    }

    static func checkOwner(_ uow: any UnitOfWork, key: Key, partnerId: Int64, parties: Set<String>) async throws {
        let party = "\(key.countryCode)-\(key.partyId)"
        guard parties.contains(party) else { throw Refusal.notYourParty(party) }
        if let stored = try await uow.ocpiToken(key), stored.partnerId != partnerId { throw Refusal.notYourParty(party) }
    }

    static func event(_ key: Key) -> JSONValue {
        .object(["country_code": .string(key.countryCode), "party_id": .string(key.partyId), "uid": .string(key.uid), "type": .string(key.type.rawValue)])
    }
}

/// A roaming token as stored, with the partner that put it.
public struct StoredToken: Sendable, Hashable {
    public var token: Token
    public var partnerId: Int64

    public init(token: Token, partnerId: Int64) {
        self.token = token
        self.partnerId = partnerId
    }
}
