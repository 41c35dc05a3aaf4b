import CSMS
import Chain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OCPI
import Settlement
import Storage

/// `/api/v1` drivers, top-ups, holds, hosts, split rules, statements and receipts; and, without an API key, the
/// driver's receipt link and the receipt key at `/.well-known/voltaic/receipt-key`.
struct SettlementController: Sendable {
    let repository: SettlementRepository
    let signer: ReceiptSigner
    /// Where proofs find their anchors; nil when no chain is configured.
    let anchors: PostgresAnchorStore?
    let chain: ChainInfo?
    /// Public base URL for the driver's links.
    let baseURL: String
    let runner: any TransactionRunner
    let bookingService: BookingService

    struct ChainInfo: Sendable {
        var rpc: EthereumRPC
        var contract: Address
    }

    func addRoutes(to group: RouterGroup<AdminContext>) {
        group.put("drivers/{id}", use: putDriver)
        group.get("drivers/{id}", use: getDriver)
        group.post("drivers/{id}/topups", use: topUp)
        group.get("holds", use: listHolds)
        group.put("locations/{id}/host", use: putHost)
        group.get("split-rules", use: listSplitRules)
        group.post("split-rules", use: addSplitRule)
        group.get("settlement/statement", use: statement)
        group.get("receipts/{id}", use: getReceipt)
        group.get("receipts/{id}/proof", use: getProof)
        group.get("transactions/{id}/receipt", use: receiptOfTransaction)
        group.post("bookings", use: book)
        group.get("bookings", use: listBookings)
        group.get("bookings/{id}", use: getBooking)
        group.delete("bookings/{id}", use: cancelBooking)
    }

    /// The routes a driver reaches with the link's secret alone, and the public key.
    func addPublicRoutes(to router: Router<AdminContext>) {
        router.get("/receipts/{id}", use: publicReceipt)
        router.get("/receipts/{id}/proof", use: publicProof)
        router.get("/.well-known/voltaic/receipt-key", use: receiptKey)
    }

    // MARK: Drivers

    struct DriverInput: Decodable, Sendable {
        var postpaid: Bool
        var tokens: [String]

        enum CodingKeys: String, CodingKey { case postpaid, tokens }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            postpaid = try c.decodeIfPresent(Bool.self, forKey: .postpaid) ?? false
            tokens = try c.decodeIfPresent([String].self, forKey: .tokens) ?? []
            guard tokens.count <= 100 else { throw OCPIFieldError(path: "tokens", reason: "at most 100 tokens") }
            for (i, t) in tokens.enumerated() where t.isEmpty || t.unicodeScalars.count > 255 {
                throw OCPIFieldError(path: "tokens[\(i)]", reason: "a token is 1 to 255 characters")
            }
        }
    }

    struct DriverView: Encodable, ResponseEncodable, Sendable {
        struct Balance: Encodable, Sendable {
            var currency: String
            var available: String
            var held: String
        }
        var id: String
        var postpaid: Bool
        var tokens: [String]
        var balances: [Balance]

        init(_ d: SettlementRepository.Driver) {
            id = d.id
            postpaid = d.postpaid
            tokens = d.tokens
            balances = d.balances.map { Balance(currency: $0.currency, available: Amounts.text($0.available), held: Amounts.text($0.held)) }
        }
    }

    /// A time the API can give back as RFC 3339: years 1970 to 9999, in UTC.
    static func representable(_ t: OCPIDateTime) -> Bool { (0...253_402_300_799).contains(t.seconds) }

    static func partyId(_ context: AdminContext, _ what: String) throws -> String {
        let id = try context.parameters.require("id")
        guard (1...64).contains(id.utf8.count), id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw Problem(.badRequest, "Invalid \(what) id", "a \(what) id is 1 to 64 printable ASCII characters")
        }
        return id
    }

    @Sendable func putDriver(_ request: Request, context: AdminContext) async throws -> DriverView {
        let id = try Self.partyId(context, "driver")
        context.audit.set(action: "PutDriver", target: id)
        let body = try await CatalogController.decode(DriverInput.self, request, context)
        try await repository.putDriver(id: id, postpaid: body.postpaid, tokens: body.tokens)
        guard let driver = try await repository.driver(id: id) else { throw Problem(.notFound, "No such driver", "no driver '\(id)'") }
        return DriverView(driver)
    }

    @Sendable func getDriver(_ request: Request, context: AdminContext) async throws -> DriverView {
        let id = try Self.partyId(context, "driver")
        guard let driver = try await repository.driver(id: id) else { throw Problem(.notFound, "No such driver", "no driver '\(id)'") }
        return DriverView(driver)
    }

    struct TopUpInput: Decodable, Sendable {
        var currency: String
        var amount: Decimal
        var reference: String

        enum CodingKeys: String, CodingKey { case currency, amount, reference }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            do { currency = try Amounts.currency(try c.decode(String.self, forKey: .currency)) } catch let e as Amounts.Refusal {
                throw OCPIFieldError(path: "currency", reason: e.description)
            }
            // A decimal string ("25.00"): a JSON number would pass through a binary float on the way.
            let text: String
            do { text = try c.decode(String.self, forKey: .amount) } catch {
                throw OCPIFieldError(path: "amount", reason: "required, as a decimal string such as \"25.00\"")
            }
            do { amount = try Amounts.parse(text) } catch { throw OCPIFieldError(path: "amount", reason: error.description) }
            reference = try c.decode(String.self, forKey: .reference)
            guard (1...128).contains(reference.unicodeScalars.count) else { throw OCPIFieldError(path: "reference", reason: "1 to 128 characters") }
        }
    }

    struct TopUpView: Encodable, ResponseEncodable, Sendable {
        var entryId: Int64
        var currency: String
        var available: String
    }

    @Sendable func topUp(_ request: Request, context: AdminContext) async throws -> EditedResponse<TopUpView> {
        let id = try Self.partyId(context, "driver")
        context.audit.set(action: "TopUp", target: id)
        let body = try await CatalogController.decode(TopUpInput.self, request, context)
        switch try await repository.topUp(driver: id, currency: body.currency, amount: body.amount, provider: LedgerFundsProvider.name, reference: body.reference) {
        case .noSuchDriver: throw Problem(.notFound, "No such driver", "no driver '\(id)'")
        case .referenceUsed:
            throw Problem(.conflict, "Reference already used", "reference '\(Problem.bounded(body.reference))' credited another driver, currency or amount")
        case .credited(let entry, let balance):
            return EditedResponse(status: .created, response: TopUpView(entryId: entry, currency: body.currency, available: Amounts.text(balance)))
        }
    }

    // MARK: Holds

    struct HoldView: Encodable, Sendable {
        var id: Int64
        var driverId: String
        var currency: String
        var amount: String
        var captured: String?
        var state: String
        var idToken: String
        var stationId: String
        var transactionId: Int64?
        var expiresAt: Date?
        var createdAt: Date

        init(_ h: SettlementRepository.HoldView) {
            id = h.id
            driverId = h.driverId
            currency = h.currency
            amount = Amounts.text(h.amount)
            captured = h.captured.map(Amounts.text)
            state = h.state
            idToken = h.idToken
            stationId = h.stationId
            transactionId = h.transactionId
            expiresAt = h.expiresAt
            createdAt = h.createdAt
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(driverId, forKey: .driverId)
            try c.encode(currency, forKey: .currency)
            try c.encode(amount, forKey: .amount)
            try c.encode(captured, forKey: .captured)
            try c.encode(state, forKey: .state)
            try c.encode(idToken, forKey: .idToken)
            try c.encode(stationId, forKey: .stationId)
            try c.encode(transactionId, forKey: .transactionId)
            try c.encode(expiresAt, forKey: .expiresAt)
            try c.encode(createdAt, forKey: .createdAt)
        }

        enum CodingKeys: String, CodingKey { case id, driverId, currency, amount, captured, state, idToken, stationId, transactionId, expiresAt, createdAt }
    }

    struct Items<T: Encodable & Sendable>: Encodable, ResponseEncodable, Sendable { var items: [T] }

    @Sendable func listHolds(_ request: Request, context: AdminContext) async throws -> Items<HoldView> {
        let q = request.uri.queryParameters
        let driver = q.get("driverId")
        if let driver, !(1...64).contains(driver.unicodeScalars.count) { throw Problem(.badRequest, "Invalid driverId", "driverId is 1 to 64 characters") }
        let tx = try PushController.positive(q.get("transactionId"), "transactionId")
        let limit = try PushController.positive(q.get("limit"), "limit").map { Int(min($0, 1000)) } ?? 100
        return Items(items: try await repository.holds(driverId: driver, transactionId: tx, limit: limit).map(HoldView.init))
    }

    // MARK: Hosts and splits

    struct HostInput: Decodable, Sendable {
        var host: String
        enum CodingKeys: String, CodingKey { case host }
        init(from decoder: any Decoder) throws {
            host = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .host)
            guard (1...64).contains(host.unicodeScalars.count) else { throw OCPIFieldError(path: "host", reason: "1 to 64 characters") }
        }
    }

    struct HostView: Encodable, ResponseEncodable, Sendable {
        var locationId: String
        var host: String
    }

    @Sendable func putHost(_ request: Request, context: AdminContext) async throws -> HostView {
        let id = try context.parameters.require("id")
        context.audit.set(action: "PutLocationHost", target: id)
        let body = try await CatalogController.decode(HostInput.self, request, context)
        switch try await repository.setHost(locationId: id, host: body.host) {
        case .noSuchLocation: throw Problem(.notFound, "No such location", "no location '\(Problem.bounded(id))'")
        case .set: return HostView(locationId: id, host: body.host)
        }
    }

    struct SplitRuleInput: Decodable, Sendable {
        var scope: String
        var rule: SplitRule
        var validFrom: Date?

        enum CodingKeys: String, CodingKey { case scope, hostBp, platformBp, referrerBp, referrer, remainder, validFrom }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            scope = try c.decode(String.self, forKey: .scope)
            let owner = scope.hasPrefix("location:") ? scope.dropFirst(9) : scope.hasPrefix("host:") ? scope.dropFirst(5) : nil
            guard scope == "default" || owner.map({ (1...64).contains($0.unicodeScalars.count) }) == true else {
                throw OCPIFieldError(path: "scope", reason: "'default', 'location:<id>' or 'host:<id>', the id 1 to 64 characters")
            }
            func bp(_ key: CodingKeys) throws -> Int {
                let v = try c.decodeIfPresent(Int.self, forKey: key) ?? 0
                guard (0...10_000).contains(v) else { throw OCPIFieldError(path: key.rawValue, reason: "between 0 and 10000 basis points") }
                return v
            }
            let referrer = try c.decodeIfPresent(String.self, forKey: .referrer)
            if let referrer, !(1...64).contains(referrer.unicodeScalars.count) { throw OCPIFieldError(path: "referrer", reason: "1 to 64 characters") }
            let remainderText = try c.decodeIfPresent(String.self, forKey: .remainder) ?? "platform"
            guard let remainder = SplitRule.Party(rawValue: remainderText) else { throw OCPIFieldError(path: "remainder", reason: "one of host, platform, referrer") }
            rule = SplitRule(hostBp: try bp(.hostBp), platformBp: try bp(.platformBp), referrerBp: try bp(.referrerBp), referrer: referrer, remainder: remainder)
            do { try rule.validate() } catch { throw OCPIFieldError(path: "hostBp", reason: error.description) }
            if let raw = try c.decodeIfPresent(String.self, forKey: .validFrom) {
                guard let t = OCPIDateTime(string: raw), SettlementController.representable(t) else {
                    throw OCPIFieldError(path: "validFrom", reason: "an RFC 3339 date-time from 1970 to 9999")
                }
                validFrom = t.date
            }
        }
    }

    struct SplitRuleView: Encodable, ResponseEncodable, Sendable {
        var id: Int64
        var scope: String
        var hostBp: Int
        var platformBp: Int
        var referrerBp: Int
        var referrer: String?
        var remainder: String
        var validFrom: Date

        init(_ r: SettlementRepository.StoredSplitRule) {
            id = r.id
            scope = r.scope
            hostBp = r.rule.hostBp
            platformBp = r.rule.platformBp
            referrerBp = r.rule.referrerBp
            referrer = r.rule.referrer
            remainder = r.rule.remainder.rawValue
            validFrom = r.validFrom
        }
    }

    @Sendable func addSplitRule(_ request: Request, context: AdminContext) async throws -> EditedResponse<SplitRuleView> {
        let body = try await CatalogController.decode(SplitRuleInput.self, request, context)
        context.audit.set(action: "AddSplitRule", target: body.scope)
        let stored = try await repository.addSplitRule(scope: body.scope, rule: body.rule, validFrom: body.validFrom ?? Date())
        return EditedResponse(status: .created, response: SplitRuleView(stored))
    }

    @Sendable func listSplitRules(_ request: Request, context: AdminContext) async throws -> Items<SplitRuleView> {
        Items(items: try await repository.splitRules().map(SplitRuleView.init))
    }

    // MARK: Statements

    struct StatementView: Encodable, ResponseEncodable, Sendable {
        struct Line: Encodable, Sendable {
            var kind: String
            var account: String
            var currency: String
            var total: String
            var sessions: Int
        }
        var from: Date
        var to: Date
        var lines: [Line]
    }

    @Sendable func statement(_ request: Request, context: AdminContext) async throws -> StatementView {
        let q = request.uri.queryParameters
        func time(_ name: String) throws -> Date? {
            guard let raw = q.get(name) else { return nil }
            guard let t = OCPIDateTime(string: raw), Self.representable(t) else {
                throw Problem(.badRequest, "Invalid \(name)", "\(name) is an RFC 3339 date-time from 1970 to 9999")
            }
            return t.date
        }
        let to = try time("to") ?? Date()
        let from = try time("from") ?? to.addingTimeInterval(-30 * 86_400)
        guard from <= to else { throw Problem(.badRequest, "Invalid period", "from must not be after to") }
        let lines = try await repository.statement(from: from, to: to)
        return StatementView(from: from, to: to, lines: lines.map { .init(kind: $0.kind, account: $0.account, currency: $0.currency, total: Amounts.text($0.total), sessions: $0.entries) })
    }

    // MARK: Receipts

    struct ReceiptView: Encodable, ResponseEncodable, Sendable {
        var id: String
        var transactionId: Int64
        /// The receipt's exact bytes, base64: what the signature and the Merkle leaf are over.
        var receipt: String
        var signature: String
        var keyId: String
        var algorithm: String
        var batchId: Int64?
        var leafIndex: Int?
        /// The driver's salt for the token pseudonym.
        var tokenSalt: String
        var driverLink: String?
        var createdAt: Date

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(transactionId, forKey: .transactionId)
            try c.encode(receipt, forKey: .receipt)
            try c.encode(signature, forKey: .signature)
            try c.encode(keyId, forKey: .keyId)
            try c.encode(algorithm, forKey: .algorithm)
            try c.encode(batchId, forKey: .batchId)
            try c.encode(leafIndex, forKey: .leafIndex)
            try c.encode(tokenSalt, forKey: .tokenSalt)
            try c.encodeIfPresent(driverLink, forKey: .driverLink)
            try c.encode(createdAt, forKey: .createdAt)
        }

        enum CodingKeys: String, CodingKey { case id, transactionId, receipt, signature, keyId, algorithm, batchId, leafIndex, tokenSalt, driverLink, createdAt }
    }

    func view(_ r: SettlementRepository.StoredReceipt, link: Bool) -> ReceiptView {
        let id = r.id.uuidString.lowercased()
        return ReceiptView(
            id: id, transactionId: r.transactionId, receipt: Data(r.body).base64EncodedString(), signature: Data(r.signature).base64EncodedString(),
            keyId: r.keyId, algorithm: ReceiptSigner.algorithm, batchId: r.batchId, leafIndex: r.leafIndex, tokenSalt: r.tokenSalt,
            driverLink: link ? "\(baseURL)/receipts/\(id)?secret=\(r.secret)" : nil, createdAt: r.createdAt
        )
    }

    static func receiptId(_ context: AdminContext) throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("id")) else { throw Problem(.badRequest, "Invalid receipt id", "a receipt id is a UUID") }
        return id
    }

    static func noReceipt(_ what: String) -> Problem { Problem(.notFound, "No such receipt", "no receipt \(what)") }

    @Sendable func getReceipt(_ request: Request, context: AdminContext) async throws -> ReceiptView {
        let id = try Self.receiptId(context)
        guard let r = try await repository.receipt(id: id) else { throw Self.noReceipt(id.uuidString.lowercased()) }
        return view(r, link: true)
    }

    @Sendable func receiptOfTransaction(_ request: Request, context: AdminContext) async throws -> ReceiptView {
        guard let tx = Int64(try context.parameters.require("id")), tx > 0 else { throw Problem(.badRequest, "Invalid transaction id", "a transaction id is a positive integer") }
        guard let r = try await repository.receipt(transactionId: tx) else { throw Self.noReceipt("for transaction \(tx) (not captured yet, or not a held session)") }
        return view(r, link: true)
    }

    @Sendable func getProof(_ request: Request, context: AdminContext) async throws -> Response {
        let id = try Self.receiptId(context)
        guard let r = try await repository.receipt(id: id) else { throw Self.noReceipt(id.uuidString.lowercased()) }
        return try await proof(r)
    }

    /// The receipt's proof bundle once its batch is anchored and final; 409 with the stage it is at before.
    func proof(_ r: SettlementRepository.StoredReceipt) async throws -> Response {
        guard let batchId = r.batchId, let leaf = r.leafIndex else { throw Problem(.conflict, "Not batched yet", "the receipt waits for its batch") }
        guard let batch = try await repository.batch(id: batchId) else { throw Problem(.internalServerError, "Batch missing", "batch \(batchId)") }
        guard let anchors, let chain else { throw Problem(.conflict, "Not anchored", "no chain is configured: batch \(batchId) is recorded with its root, anchoring waits") }
        guard let jobId = batch.anchorJobId, let job = try await anchors.job(id: jobId) else { throw Problem(.conflict, "Not anchored yet", "batch \(batchId) waits for its anchor job") }
        guard case .final(let inclusion) = job.state else { throw Problem(.conflict, "Not final yet", "batch \(batchId)'s anchor is \(Self.stage(job.state))") }
        let tree = MerkleTree(leaves: batch.leaves)
        guard let path = tree.inclusionProof(leafIndex: leaf), tree.root == batch.root else { throw Problem(.internalServerError, "Batch inconsistent", "batch \(batchId)'s leaves do not give its root") }
        let chainId: UInt64
        do { chainId = try await chain.rpc.chainId() } catch { throw Problem(.badGateway, "Chain unreachable", "the chain node did not answer") }
        let bundle = ProofBundle(receipt: r.body, proof: path, root: batch.root, chainId: chainId, contract: chain.contract, inclusion: inclusion)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try bundle.encoded())))
    }

    static func stage(_ state: AnchorJob.State) -> String {
        switch state {
        case .queued: "queued"
        case .sent: "sent"
        case .included: "included, awaiting confirmations"
        case .final: "final"
        case .failed(let why): "failed: \(why)"
        }
    }

    // MARK: Public

    /// The receipt, with the link's secret; without it (or with a wrong one) it does not exist.
    func authorizedReceipt(_ request: Request, _ context: AdminContext) async throws -> SettlementRepository.StoredReceipt {
        let id = try Self.receiptId(context)
        let given = request.uri.queryParameters.get("secret") ?? ""
        guard let r = try await repository.receipt(id: id), Self.constantTimeEqual(Array(given.utf8), Array(r.secret.utf8)) else {
            throw Self.noReceipt(id.uuidString.lowercased())
        }
        return r
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    @Sendable func publicReceipt(_ request: Request, context: AdminContext) async throws -> ReceiptView {
        view(try await authorizedReceipt(request, context), link: false)
    }

    @Sendable func publicProof(_ request: Request, context: AdminContext) async throws -> Response {
        try await proof(try await authorizedReceipt(request, context))
    }

    struct KeyView: Encodable, ResponseEncodable, Sendable {
        var algorithm: String
        var keyId: String
        /// The raw 32-byte Ed25519 public key, base64.
        var publicKey: String
    }

    @Sendable func receiptKey(_ request: Request, context: AdminContext) async throws -> KeyView {
        KeyView(algorithm: ReceiptSigner.algorithm, keyId: signer.keyId, publicKey: Data(signer.publicKey).base64EncodedString())
    }
}

// MARK: Bookings

extension SettlementController {
    struct BookingInput: Decodable, Sendable {
        var booking: NewBooking

        enum CodingKeys: String, CodingKey { case stationId, evseId, driverId, idToken, expected, start, minutes }
        enum ExpectedKeys: String, CodingKey { case type, value }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            func text(_ key: CodingKeys, _ max: Int) throws -> String {
                guard let v = try? c.decode(String.self, forKey: key) else { throw OCPIFieldError(path: key.rawValue, reason: "required, a string") }
                guard (1...max).contains(v.unicodeScalars.count) else { throw OCPIFieldError(path: key.rawValue, reason: "1 to \(max) characters") }
                return v
            }
            let station = try text(.stationId, 48), driver = try text(.driverId, 64), token = try text(.idToken, 255)
            guard let evse = try? c.decode(Int.self, forKey: .evseId), (1...999).contains(evse) else { throw OCPIFieldError(path: "evseId", reason: "required, 1 to 999") }
            guard let minutes = try? c.decode(Int.self, forKey: .minutes), (1...1440).contains(minutes) else { throw OCPIFieldError(path: "minutes", reason: "required, 1 to 1440") }
            var start = Date()
            if c.contains(.start), try !c.decodeNil(forKey: .start) {
                guard let raw = try? c.decode(String.self, forKey: .start), let t = OCPIDateTime(string: raw) else {
                    throw OCPIFieldError(path: "start", reason: "an RFC 3339 date-time")
                }
                start = t.date
            }
            var type = "token", value = token
            if c.contains(.expected), try !c.decodeNil(forKey: .expected) {
                let e = try c.nestedContainer(keyedBy: ExpectedKeys.self, forKey: .expected)
                guard let t = try? e.decode(String.self, forKey: .type), BookingService.expectedTypes.contains(t) else {
                    throw OCPIFieldError(path: "expected.type", reason: "one of token, emaid, mac")
                }
                guard let v = try? e.decode(String.self, forKey: .value), (1...255).contains(v.unicodeScalars.count) else {
                    throw OCPIFieldError(path: "expected.value", reason: "1 to 255 characters")
                }
                (type, value) = (t, v)
            }
            guard start.timeIntervalSinceNow < 366 * 86_400, start.timeIntervalSinceNow > -86_400 else {
                throw OCPIFieldError(path: "start", reason: "from a day ago to a year from now")
            }
            booking = NewBooking(stationId: station, evseId: evse, driverId: driver, idToken: token, expectedType: type, expectedValue: value,
                                 start: start, end: start.addingTimeInterval(Double(minutes) * 60))
        }
    }

    struct BookingView: Encodable, ResponseEncodable, Sendable {
        struct Expected: Encodable, Sendable { var type: String; var value: String }
        var id: Int64
        var stationId: String
        var evseId: Int
        var driverId: String?
        var partnerId: Int64?
        var ocpiReservationId: String?
        var idToken: String
        var expected: Expected
        var start: Date
        var end: Date
        var state: String
        var holdId: Int64?
        var held: String?
        var captured: String?
        var reservationId: Int?
        var transactionId: Int64?
        var createdAt: Date

        init(_ b: SettlementRepository.BookingView) {
            id = b.id
            stationId = b.stationId
            evseId = b.evseId
            driverId = b.driverId
            partnerId = b.partnerId
            ocpiReservationId = b.ocpiReservationId
            idToken = b.idToken
            expected = Expected(type: b.expectedType, value: b.expectedValue)
            start = b.start
            end = b.end
            state = b.state
            holdId = b.holdId
            held = b.held.map(Amounts.text)
            captured = b.captured.map(Amounts.text)
            reservationId = b.reservationId
            transactionId = b.transactionId
            createdAt = b.createdAt
        }

        enum CodingKeys: String, CodingKey { case id, stationId, evseId, driverId, partnerId, ocpiReservationId, idToken, expected, start, end, state, holdId, held, captured, reservationId, transactionId, createdAt }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(stationId, forKey: .stationId)
            try c.encode(evseId, forKey: .evseId)
            try c.encode(driverId, forKey: .driverId)
            try c.encode(partnerId, forKey: .partnerId)
            try c.encode(ocpiReservationId, forKey: .ocpiReservationId)
            try c.encode(idToken, forKey: .idToken)
            try c.encode(expected, forKey: .expected)
            try c.encode(start, forKey: .start)
            try c.encode(end, forKey: .end)
            try c.encode(state, forKey: .state)
            try c.encode(holdId, forKey: .holdId)
            try c.encode(held, forKey: .held)
            try c.encode(captured, forKey: .captured)
            try c.encode(reservationId, forKey: .reservationId)
            try c.encode(transactionId, forKey: .transactionId)
            try c.encode(createdAt, forKey: .createdAt)
        }
    }

    @Sendable func book(_ request: Request, context: AdminContext) async throws -> EditedResponse<BookingView> {
        let body = try await CatalogController.decode(BookingInput.self, request, context)
        context.audit.set(action: "Book", target: "\(body.booking.stationId)/\(body.booking.evseId)")
        let (service, booking, now) = (bookingService, body.booking, Date())
        let made: (id: Int64, held: Decimal)
        do {
            made = try await runner.perform { uow in try await service.book(uow, booking, now: now) }
        } catch let refusal as BookingService.Refusal {
            switch refusal {
            case .noSuchDriver: throw Problem(.notFound, "No such driver", refusal.description)
            case .overlap: throw Problem(.conflict, "Slot taken", refusal.description)
            case .noCredit: throw Problem(.init(code: 402, reasonPhrase: "Payment Required"), "Insufficient funds", refusal.description)
            case .outsideSharingWindows: throw Problem(.unprocessableContent, "Outside sharing windows", refusal.description)
            case .notBookable: throw Problem(.unprocessableContent, "Not bookable", refusal.description)
            case .notTheDriversToken, .invalid: throw Problem(.unprocessableContent, "Invalid field", refusal.description)
            }
        }
        guard let view = try await repository.booking(id: made.id) else { throw Problem(.internalServerError, "Booking missing", "booking \(made.id)") }
        return EditedResponse(status: .created, response: BookingView(view))
    }

    @Sendable func listBookings(_ request: Request, context: AdminContext) async throws -> Items<BookingView> {
        let q = request.uri.queryParameters
        let station = q.get("stationId"), driver = q.get("driverId")
        for (name, v) in [("stationId", station), ("driverId", driver)] where v.map({ !(1...64).contains($0.unicodeScalars.count) }) == true {
            throw Problem(.badRequest, "Invalid \(name)", "\(name) is 1 to 64 characters")
        }
        let limit = try PushController.positive(q.get("limit"), "limit").map { Int(min($0, 1000)) } ?? 100
        return Items(items: try await repository.bookings(stationId: station, driverId: driver, limit: limit).map(BookingView.init))
    }

    static func bookingId(_ context: AdminContext) throws -> Int64 {
        guard let id = Int64(try context.parameters.require("id")), id > 0 else { throw Problem(.badRequest, "Invalid booking id", "a booking id is a positive integer") }
        return id
    }

    @Sendable func getBooking(_ request: Request, context: AdminContext) async throws -> BookingView {
        let id = try Self.bookingId(context)
        guard let b = try await repository.booking(id: id) else { throw Problem(.notFound, "No such booking", "no booking \(id)") }
        return BookingView(b)
    }

    /// Cancels a booking nobody has charged in: the reservation fee is captured, the rest of the hold released.
    @Sendable func cancelBooking(_ request: Request, context: AdminContext) async throws -> BookingView {
        let id = try Self.bookingId(context)
        context.audit.set(action: "CancelBooking", target: String(id))
        switch try await repository.endBooking(id: id, as: .cancelled) {
        case .noSuchBooking: throw Problem(.notFound, "No such booking", "no booking \(id)")
        case .notOpen(let state): throw Problem(.conflict, "Booking not open", "booking \(id) is \(state)")
        case .ended: break
        }
        guard let b = try await repository.booking(id: id) else { throw Problem(.notFound, "No such booking", "no booking \(id)") }
        return BookingView(b)
    }
}

/// The built-in funds provider: money is paid in by an admin (API or CLI) and recorded in the ledger alone. A card
/// processor or an on-chain escrow would be another `FundsProvider`, named in the top-up's journal entry.
enum LedgerFundsProvider {
    static let name = "ledger"
}
