public import Crypto
public import Foundation
public import OCPI

/// What a driver is given for a captured session, as the canonical JSON that is signed, batched and anchored.
/// Anyone holding it can recompute the price from the tariff snapshot and the meter data it carries.
public struct Receipt: Sendable {
    public struct Session: Sendable {
        public var transactionId: Int64
        public var stationId: String
        public var evseId: Int
        public var connectorId: Int
        public var locationId: String?
        public var idToken: String
        public var start: Date
        public var stop: Date
        public var meterStartWh: Int64?
        public var meterStopWh: Int64?
        public var energyWh: Int64

        public init(transactionId: Int64, stationId: String, evseId: Int, connectorId: Int, locationId: String?, idToken: String, start: Date, stop: Date,
                    meterStartWh: Int64?, meterStopWh: Int64?, energyWh: Int64) {
            self.transactionId = transactionId
            self.stationId = stationId
            self.evseId = evseId
            self.connectorId = connectorId
            self.locationId = locationId
            self.idToken = idToken
            self.start = start
            self.stop = stop
            self.meterStartWh = meterStartWh
            self.meterStopWh = meterStopWh
            self.energyWh = energyWh
        }
    }

    /// Signed meter data as the station sent it (OCMF, or another format), and whether its signature was checked.
    public struct SignedMeterData: Sendable {
        public var format: String
        public var data: String
        /// nil: not checked (no public key known for the station).
        public var verified: Bool?

        public init(format: String, data: String, verified: Bool?) {
            self.format = format
            self.data = data
            self.verified = verified
        }
    }

    public var id: UUID
    public var issuedAt: Date
    public var keyId: String
    public var session: Session
    /// Random, 16 bytes hex: the token appears only as SHA-256(salt ‖ token), and only the driver gets the salt.
    public var tokenSalt: String
    public var signedMeterData: [SignedMeterData]
    /// The tariff exactly as it was in force, and its SHA-256.
    public var tariffJSON: String
    public var currency: String
    public var totals: CDRTotals
    public var holdId: Int64
    public var held: Decimal
    public var capture: CapturePlan
    /// Renewable share of the energy mix, percent, when the tariff or the Location gives one.
    public var renewablePercent: Decimal?
    public var ledgerEntries: [Int64]

    public init(id: UUID, issuedAt: Date, keyId: String, session: Session, tokenSalt: String, signedMeterData: [SignedMeterData], tariffJSON: String,
                currency: String, totals: CDRTotals, holdId: Int64, held: Decimal, capture: CapturePlan, renewablePercent: Decimal?, ledgerEntries: [Int64]) {
        self.id = id
        self.issuedAt = issuedAt
        self.keyId = keyId
        self.session = session
        self.tokenSalt = tokenSalt
        self.signedMeterData = signedMeterData
        self.tariffJSON = tariffJSON
        self.currency = currency
        self.totals = totals
        self.holdId = holdId
        self.held = held
        self.capture = capture
        self.renewablePercent = renewablePercent
        self.ledgerEntries = ledgerEntries
    }

    public static func pseudonym(token: String, salt: String) -> String {
        Self.hex(SHA256.hash(data: Array(salt.utf8) + Array(token.utf8)))
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String { digest.map { String(format: "%02x", $0) }.joined() }

    static func time(_ date: Date) -> String { OCPIDateTime(date).description }

    static func amount(_ value: Decimal?) -> CanonicalJSON { value.map { .string(Amounts.text($0)) } ?? .null }

    static func price(_ p: Price?) -> CanonicalJSON {
        guard let p else { return .null }
        return .object(["exclVat": amount(p.exclVat), "inclVat": amount(p.inclVat)])
    }

    static func decimal(_ value: Decimal) -> CanonicalJSON { .string("\(value)") }

    var sessionJSON: CanonicalJSON {
        let s = session
        let token: CanonicalJSON = .object(["alg": .string("SHA-256(salt || token)"), "pseudonym": .string(Self.pseudonym(token: s.idToken, salt: tokenSalt))])
        var members: [String: CanonicalJSON] = [:]
        members["transactionId"] = .int(s.transactionId)
        members["stationId"] = .string(s.stationId)
        members["evseId"] = .int(Int64(s.evseId))
        members["connectorId"] = .int(Int64(s.connectorId))
        members["locationId"] = s.locationId.map(CanonicalJSON.string) ?? .null
        members["token"] = token
        members["start"] = .string(Self.time(s.start))
        members["stop"] = .string(Self.time(s.stop))
        members["meterStartWh"] = s.meterStartWh.map(CanonicalJSON.int) ?? .null
        members["meterStopWh"] = s.meterStopWh.map(CanonicalJSON.int) ?? .null
        members["energyWh"] = .int(s.energyWh)
        return .object(members)
    }

    var priceJSON: CanonicalJSON {
        var members: [String: CanonicalJSON] = [:]
        members["currency"] = .string(currency)
        members["total"] = Self.price(totals.totalCost)
        members["fixed"] = Self.price(totals.totalFixedCost)
        members["energy"] = Self.price(totals.totalEnergyCost)
        members["time"] = Self.price(totals.totalTimeCost)
        members["parking"] = Self.price(totals.totalParkingCost)
        members["reservation"] = Self.price(totals.totalReservationCost)
        members["vat"] = totals.totalCost.inclVat.map { Self.amount($0 - totals.totalCost.exclVat) } ?? .null
        members["charged"] = Self.amount(capture.price)
        members["totalEnergyKWh"] = Self.decimal(totals.totalEnergy)
        members["totalTimeHours"] = Self.decimal(totals.totalTime)
        members["totalParkingHours"] = Self.decimal(totals.totalParkingTime)
        return .object(members)
    }

    var splitJSON: CanonicalJSON {
        var members: [String: CanonicalJSON] = [:]
        for party in SplitRule.Party.allCases {
            let account = capture.payees[party]?.owner ?? ""
            members[party.rawValue] = .object(["account": .string(account), "amount": Self.amount(capture.shares[party] ?? 0)])
        }
        return .object(members)
    }

    public var canonical: CanonicalJSON {
        var members: [String: CanonicalJSON] = [:]
        members["type"] = .string("voltaic.receipt")
        members["version"] = .int(1)
        members["id"] = .string(id.uuidString.lowercased())
        members["issuedAt"] = .string(Self.time(issuedAt))
        members["signature"] = .object(["alg": .string(ReceiptSigner.algorithm), "keyId": .string(keyId)])
        members["session"] = sessionJSON
        members["signedMeterData"] = .array(signedMeterData.map {
            .object(["format": .string($0.format), "data": .string($0.data), "verified": $0.verified.map(CanonicalJSON.bool) ?? .null])
        })
        members["tariff"] = .object(["json": .string(tariffJSON), "sha256": .string(Self.hex(SHA256.hash(data: Array(tariffJSON.utf8))))])
        members["price"] = priceJSON
        members["funds"] = .object([
            "holdId": .int(holdId), "held": Self.amount(held), "captured": Self.amount(capture.captured), "released": Self.amount(capture.released),
        ])
        members["split"] = splitJSON
        members["renewablePercent"] = renewablePercent.map(Self.decimal) ?? .null
        members["ledgerEntries"] = .array(ledgerEntries.map(CanonicalJSON.int))
        return .object(members)
    }

    /// The bytes that are signed, batched and anchored.
    public var bytes: [UInt8] { canonical.bytes }
}

extension EnergyMix {
    /// The renewable sources' share, percent, or nil when the mix lists no sources.
    public var renewablePercent: Decimal? {
        guard let sources = energySources, !sources.isEmpty else { return nil }
        let green: Set<String> = ["GENERAL_GREEN", "SOLAR", "WIND", "WATER"]
        return sources.filter { green.contains($0.source) }.map(\.percentage).reduce(0, +)
    }
}
