import Foundation
import OCPI
import Settlement
import Testing

@Suite struct LedgerTests {
    @Test func aSplitAddsUpToTheAmountAndTheRemainderGoesToItsParty() throws {
        let rule = SplitRule(hostBp: 8000, platformBp: 1500, referrerBp: 500, referrer: "carol", remainder: .host)
        try rule.validate()
        let shares = rule.split(Decimal(string: "3.63")!)
        #expect(shares[.host] == Decimal(string: "2.91"))
        #expect(shares[.platform] == Decimal(string: "0.54"))
        #expect(shares[.referrer] == Decimal(string: "0.18"))
        // Over many amounts: exact sums, cents only, remainder below one cent per party.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let cents = Int64.random(in: 0...10_000_000, using: &rng)
            let amount = Decimal(cents) / 100
            let h = Int.random(in: 0...10_000, using: &rng), p = Int.random(in: 0...(10_000 - h), using: &rng)
            let r = SplitRule(hostBp: h, platformBp: p, referrerBp: 10_000 - h - p, referrer: "x", remainder: [.host, .platform, .referrer].randomElement(using: &rng)!)
            let s = r.split(amount)
            #expect(s.values.reduce(0, +) == amount)
            for (party, v) in s {
                #expect(Amounts.cents(v) == v)
                #expect(v >= 0)
                let exact = amount * Decimal([SplitRule.Party.host: h, .platform: p, .referrer: 10_000 - h - p][party]!) / 10_000
                #expect(v - exact < Decimal(string: "0.03")! && exact - v < Decimal(string: "0.01")!)
            }
        }
    }

    @Test func badSplitRulesAreRefused() {
        #expect(throws: SplitRule.Refusal.sum(9999)) { try SplitRule(hostBp: 8000, platformBp: 1999).validate() }
        #expect(throws: SplitRule.Refusal.referrerMissing) { try SplitRule(hostBp: 9000, platformBp: 500, referrerBp: 500).validate() }
        #expect(throws: SplitRule.Refusal.share("hostBp")) { try SplitRule(hostBp: -1, platformBp: 10_001).validate() }
    }

    @Test func aCaptureNeverTakesMoreThanTheHoldAndItsEntriesBalance() {
        let rule = SplitRule(hostBp: 8000, platformBp: 1500, referrerBp: 500, referrer: "carol", remainder: .host)
        let under = CapturePlan(holdId: 7, driver: "bob", currency: "EUR", held: Decimal(string: "5.33")!, price: Decimal(string: "3.6300")!, rule: rule, host: "alice")
        #expect(under.captured == Decimal(string: "3.63") && under.released == Decimal(string: "1.70"))
        #expect(under.entries.count == 2 && under.entries.allSatisfy(\.isBalanced))
        #expect(Set(under.entries.map(\.idempotencyKey)) == ["capture:7", "release:7"])
        let over = CapturePlan(holdId: 8, driver: "bob", currency: "EUR", held: Decimal(string: "5.33")!, price: Decimal(string: "7.265")!, rule: rule, host: "alice")
        #expect(over.captured == Decimal(string: "5.33") && over.released == 0)
        // Nothing released: one entry only (a posting of 0 moves nothing).
        #expect(over.entries.map(\.kind) == [.capture])
        // Half a cent is charged as a cent (half away from zero).
        #expect(CapturePlan(holdId: 9, driver: "b", currency: "EUR", held: 10, price: Decimal(string: "1.005")!, rule: rule, host: "a").captured == Decimal(string: "1.01"))
        #expect(!JournalEntry(kind: .topup, idempotencyKey: "k", postings: [Posting(AccountRef(.driver, "b", "EUR"), 1)]).isBalanced)
        #expect(!JournalEntry(kind: .topup, idempotencyKey: "k", postings: [
            Posting(AccountRef(.driver, "b", "EUR"), 1), Posting(AccountRef(.funding, "f", "USD"), -1),
        ]).isBalanced)
    }

    @Test func amountsFromOutsideAreCheckedBeforeArithmetic() throws {
        #expect(try Amounts.parse("25") == 25)
        #expect(try Amounts.parse("25.5") == Decimal(string: "25.5"))
        for bad in ["", ".5", "5.", "-1", "1e3", "1,00", "0", "0.00", "1.234", " 1", "NaN", "1000000000000.01", "99999999999999999999"] {
            #expect(throws: Amounts.Refusal.self, "\(bad)") { try Amounts.parse(bad) }
        }
        #expect(throws: Amounts.Refusal.self) { try Amounts.currency("eur") }
        #expect(try Amounts.currency("EUR") == "EUR")
        #expect(Amounts.text(Decimal(string: "3.6")!) == "3.60" && Amounts.text(Decimal(string: "0.054")!) == "0.05" && Amounts.text(-1) == "-1.00")
    }

    @Test func aHoldIsTheEstimateRoundedUpAndCapped() throws {
        let tariff = try JSONDecoder().decode(Tariff.self, from: Data("""
            {"country_code":"NL","party_id":"VOL","id":"T","currency":"EUR","last_updated":"2026-01-01T00:00:00Z",
             "elements":[{"price_components":[{"type":"ENERGY","price":0.40,"vat":21,"step_size":1}]}]}
            """.utf8))
        let utc = TimeZone(identifier: "UTC")!
        let start = Date(timeIntervalSince1970: 1_796_000_000)
        // 11 kW for an hour: 11 kWh at 0.40 = 4.40, and 5.32 with 21 % VAT (the engine gives prices to the cent).
        #expect(try HoldSizing.amount(tariff: tariff, timeZone: utc, start: start, minutes: 60, powerW: 11_000, policy: HoldPolicy()) == Decimal(string: "5.32"))
        #expect(try HoldSizing.amount(tariff: tariff, timeZone: utc, start: start, minutes: 60, powerW: 11_000, policy: HoldPolicy(cap: 5)) == 5)
        // Unknown power: the policy's default (22 kW).
        #expect(try HoldSizing.amount(tariff: tariff, timeZone: utc, start: start, minutes: 30, powerW: nil, policy: HoldPolicy()) == Decimal(string: "5.32"))
        // A fraction of a cent in the estimate is held as a whole cent: 1 kW for 1 minute is 0.0166 kWh, 0.0067 EUR.
        #expect(try HoldSizing.amount(tariff: tariff, timeZone: utc, start: start, minutes: 1, powerW: 1000, policy: HoldPolicy()) == Decimal(string: "0.01"))
        #expect(throws: OCPIFieldError.self) { try HoldSizing.amount(tariff: tariff, timeZone: utc, start: start, minutes: 0, powerW: 1, policy: HoldPolicy()) }
    }
}

@Suite struct ReceiptTests {
    @Test func canonicalJSONFollowsRFC8785() {
        // Members sorted by UTF-16 code units (RFC 8785 §3.2.3's example order), no whitespace, minimal escapes.
        let value = CanonicalJSON.object([
            "\u{20AC}": .string("Euro Sign"), "\r": .string("Carriage Return"), "\u{FB33}": .string("Hebrew Letter Dalet With Dagesh"),
            "1": .string("One"), "\u{1F600}": .string("Emoji: Grinning Face"), "\u{0080}": .string("Control"), "\u{00F6}": .string("Latin Small Letter O With Diaeresis"),
        ])
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{0080}\":\"Control\",\"\u{00F6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20AC}\":\"Euro Sign\",\"\u{1F600}\":\"Emoji: Grinning Face\",\"\u{FB33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        #expect(String(decoding: value.bytes, as: UTF8.self) == expected)
        #expect(String(decoding: CanonicalJSON.array([.int(-5), .bool(true), .null, .string("a\"b\\c\u{1}\n")]).bytes, as: UTF8.self) == #"[-5,true,null,"a\"b\\c\u0001\n"]"#)
    }

    func receipt(energyWh: Int64 = 7500) -> Receipt {
        let rule = SplitRule(hostBp: 8000, platformBp: 1500, referrerBp: 500, referrer: "carol", remainder: .host)
        let plan = CapturePlan(holdId: 1, driver: "bob", currency: "EUR", held: Decimal(string: "5.33")!, price: Decimal(string: "3.63")!, rule: rule, host: "alice")
        return Receipt(
            id: UUID(uuidString: "6F1A0E1C-3E5B-4C1B-9E63-2B5C7A0C9D11")!, issuedAt: Date(timeIntervalSince1970: 1_796_000_000), keyId: "k",
            session: .init(transactionId: 5, stationId: "CP1", evseId: 1, connectorId: 1, locationId: "LOC", idToken: "BOB1",
                           start: Date(timeIntervalSince1970: 1_795_990_000), stop: Date(timeIntervalSince1970: 1_795_999_000), meterStartWh: 1000, meterStopWh: 1000 + energyWh, energyWh: energyWh),
            tokenSalt: "00112233", signedMeterData: [.init(format: "OCMF", data: "OCMF|{}|{}", verified: nil)], tariffJSON: "{\"id\":\"T\"}", currency: "EUR",
            totals: CDRTotals(totalCost: Price(exclVat: 3, inclVat: Decimal(string: "3.63")), totalEnergy: Decimal(string: "7.5")!, totalTime: 1, totalParkingTime: 0),
            holdId: 1, held: Decimal(string: "5.33")!, capture: plan, renewablePercent: 40, ledgerEntries: [3, 4]
        )
    }

    @Test func aReceiptIsCanonicalSignedAndNamesNoToken() throws {
        let r = receipt()
        let bytes = r.bytes
        #expect(bytes == receipt().bytes, "the same receipt gives the same bytes")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(!text.contains("BOB1"), "the token appears only as its pseudonym")
        #expect(text.contains(Receipt.pseudonym(token: "BOB1", salt: "00112233")))
        #expect(text.contains(#""captured":"3.63""#) && text.contains(#""released":"1.70""#) && text.contains(#""host":{"account":"alice","amount":"2.91"}"#))
        #expect(text.contains(#""vat":"0.63""#))
        let signer = ReceiptSigner()
        let signature = try signer.sign(bytes)
        #expect(ReceiptSigner.verify(signature, of: bytes, publicKey: signer.publicKey))
        var tampered = bytes
        tampered[tampered.count / 2] ^= 1
        #expect(!ReceiptSigner.verify(signature, of: tampered, publicKey: signer.publicKey))
        #expect(!ReceiptSigner.verify(signature, of: bytes, publicKey: ReceiptSigner().publicKey))
        let reloaded = try ReceiptSigner(rawRepresentation: signer.rawRepresentation)
        #expect(reloaded.keyId == signer.keyId && reloaded.publicKey == signer.publicKey)
    }
}
