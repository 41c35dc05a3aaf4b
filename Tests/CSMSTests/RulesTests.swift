import CSMS
import OCPI
import Foundation
import Testing

@Suite struct AuthorizationRulesTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func followsStatusExpiryGroupAndConcurrency() {
        let ok = IdToken(value: "A")
        #expect(AuthorizationRules.decide(token: nil, group: nil, alreadyCharging: false, now: now).status == .invalid)
        #expect(AuthorizationRules.decide(token: ok, group: nil, alreadyCharging: false, now: now).status == .accepted)
        #expect(AuthorizationRules.decide(token: ok, group: nil, alreadyCharging: true, now: now).status == .concurrentTx)
        var blocked = ok
        blocked.status = .blocked
        #expect(AuthorizationRules.decide(token: blocked, group: nil, alreadyCharging: true, now: now).status == .blocked)
        var expired = ok
        expired.expiresAt = now
        #expect(AuthorizationRules.decide(token: expired, group: nil, alreadyCharging: false, now: now).status == .expired)
        var member = ok
        member.groupId = "FLEET"
        var fleet = IdToken(value: "FLEET")
        fleet.status = .blocked
        #expect(AuthorizationRules.decide(token: member, group: fleet, alreadyCharging: false, now: now).status == .blocked)
        fleet.status = .accepted
        fleet.expiresAt = now.addingTimeInterval(60)
        let info = AuthorizationRules.decide(token: member, group: fleet, alreadyCharging: false, now: now)
        #expect(info.status == .accepted && info.groupId == "FLEET" && info.expiresAt == fleet.expiresAt)
    }
}

@Suite struct EnergyRulesTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func energyIsTheRegisterDifference() {
        let r = EnergyRules.compute(meterStart: 1000, meterStop: 3250, readings: [(t0.addingTimeInterval(600), 2000)], startedAt: t0, stoppedAt: t0.addingTimeInterval(3600))
        #expect(r.energyWh == 2250 && r.suspectReasons.isEmpty)
    }

    @Test func anOfflineZeroPlaceholderNeverBillsTheOdometer() {
        let r = EnergyRules.compute(
            meterStart: 0, meterStop: 910_083, readings: [(t0, 0), (t0.addingTimeInterval(60), 910_000), (t0.addingTimeInterval(360), 910_083)],
            startedAt: t0, stoppedAt: t0.addingTimeInterval(360)
        )
        #expect(r.startWh == 910_000 && r.energyWh == 83)
        #expect(r.suspectReasons == ["zero meter start replaced by first reading"])
    }

    @Test func aNewMeterStartingAtZeroIsBelieved() {
        let r = EnergyRules.compute(meterStart: 0, meterStop: 7_000, readings: [(t0.addingTimeInterval(1800), 3_500)], startedAt: t0, stoppedAt: t0.addingTimeInterval(3600))
        #expect(r.energyWh == 7_000 && r.suspectReasons.isEmpty)
    }

    @Test func negativeAndAbsurdEnergyAreSuspect() {
        #expect(EnergyRules.compute(meterStart: 5000, meterStop: 2100, readings: [], startedAt: t0, stoppedAt: t0.addingTimeInterval(60)).suspectReasons == ["negative energy"])
        let absurd = EnergyRules.compute(meterStart: 10, meterStop: 50_000_000, readings: [], startedAt: t0, stoppedAt: t0.addingTimeInterval(60))
        #expect(absurd.suspectReasons == ["implausible energy"])
    }
}

@Suite struct NormalisationTests {
    @Test(arguments: [
        ("2.5", "kWh", 0, "Energy.Active.Import.Register", "2500", "Wh"),
        ("1500", "Wh", 0, "Energy.Active.Import.Register", "1500", "Wh"),
        ("7.2", "kW", 0, "Power.Active.Import", "7200", "W"),
        ("11.2", "Wh", 3, "Energy.Active.Import.Register", "11200", "Wh"),
        ("16", nil, 0, "Current.Import", "16", "A"),
        ("230", nil, 0, "Voltage", "230", "V"),
        ("42", nil, 0, "Energy.Active.Import.Register", "42", "Wh"),
        ("21.5", "Celcius", 0, "Temperature", "21.5", "Celsius"),
    ] as [(String, String?, Int, String, String, String)])
    func normalisesUnits(_ raw: String, _ unit: String?, _ multiplier: Int, _ measurand: String, _ expected: String, _ expectedUnit: String) throws {
        let value = try #require(UnitNormalizer.parseDecimal(raw))
        let (v, u) = UnitNormalizer.normalize(value: value, unit: unit, multiplier: multiplier, measurand: measurand)
        #expect(v == Decimal(string: expected) && u == expectedUnit)
    }

    @Test func rejectsNonNumbers() {
        #expect(UnitNormalizer.parseDecimal("abc") == nil)
        #expect(UnitNormalizer.parseDecimal("") == nil)
    }

    /// The fast reading of plain numbers gives what Foundation's scanner gives, for plain texts and for every odd
    /// shape it leaves to the scanner.
    @Test func fastPathAgreesWithFoundation() {
        func foundation(_ text: String) -> Decimal? {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" || $0 == "e" || $0 == "E" }) else { return nil }
            return Decimal(string: trimmed, locale: Locale(identifier: "en_US_POSIX"))
        }
        var texts = [
            "0", "-0", "+0", "00012", "7.4", "7.40", "-7.4", "+7.4", "1.", ".5", "-.5", ".", "-", "+", "e5", "1e", "1e5", "1E-3", "1.5e+2",
            "-1.5e-2", "1-2", "1..2", "1e5e5", " 42 ", "42 ", "999999999999999999", "9999999999999999999", "1e99", "1e101", "1e-101",
            "123456789.123456789", "0.000000000000000001", "1e0004", "1e00004", "٣", "1_000", "0x10", "--5", "1e+-5",
        ]
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789.-+eE ")
        for _ in 0..<5_000 {
            texts.append(String((0..<Int.random(in: 1...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }))
        }
        for text in texts {
            let fast = UnitNormalizer.parseDecimal(text)
            let slow = foundation(text)
            #expect(fast == slow, "\(text): \(String(describing: fast)) against \(String(describing: slow))")
            if let fast, let slow { #expect("\(fast)" == "\(slow)", "\(text) prints differently") }
        }
    }
}

@Suite struct StationIdentityTests {
    @Test(arguments: ["CP-1", "a", String(repeating: "x", count: 48), "ACME*01:22|b@c.d+e=f_g"])
    func accepts(_ id: String) { #expect(StationIdentity.isValid(id)) }

    @Test(arguments: ["", String(repeating: "x", count: 49), "has space", "slash/", "ümlaut", "semi;colon", "%20"])
    func rejects(_ id: String) { #expect(!StationIdentity.isValid(id)) }

    @Test func ocpp16ConnectorsMapOntoEVSEs() {
        #expect(ConnectorRef.fromOCPP16(connectorId: 0) == ConnectorRef(evseId: 0, connectorId: 0))
        #expect(ConnectorRef.fromOCPP16(connectorId: 2) == ConnectorRef(evseId: 2, connectorId: 1))
    }
}

@Suite struct EVSEStatusRuleTests {
    func status(removed: Bool = false, online: Bool = true, station: String? = nil, _ connectors: [String]) -> EVSEStatus {
        EVSEStatusRule.status(removed: removed, online: online, stationStatus: station, connectorStatuses: connectors)
    }

    @Test func fromWhatTheStationReported() {
        #expect(status(["Available"]) == .available)
        for inUse in ["Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied"] {
            #expect(status([inUse]) == .charging, "\(inUse)")
        }
        #expect(status(["Reserved"]) == .reserved)
        #expect(status(["Unavailable"]) == .inoperative)
        #expect(status(["Faulted"]) == .outOfOrder)
        #expect(status([]) == .unknown, "nothing reported yet")
        // Several connectors: in use wins, then reserved, available, unavailable, faulted.
        #expect(status(["Faulted", "Available", "Charging"]) == .charging)
        #expect(status(["Faulted", "Available", "Reserved"]) == .reserved)
        #expect(status(["Faulted", "Unavailable"]) == .inoperative)
    }

    @Test func theStationOverridesItsConnectors() {
        #expect(status(station: "Unavailable", ["Available"]) == .inoperative, "connector 0 applies to every EVSE")
        #expect(status(station: "Faulted", ["Charging"]) == .outOfOrder)
        #expect(status(station: "Available", ["Charging"]) == .charging)
        #expect(status(online: false, ["Charging"]) == .unknown, "offline is UNKNOWN, never the last status")
        #expect(status(removed: true, online: false, ["Available"]) == .removed)
    }
}
