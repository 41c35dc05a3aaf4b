import Foundation
import OCPI
import Testing

@Suite struct TariffDecodingTests {
    static let valid = """
        {"country_code":"NL","party_id":"VLT","id":"T1","currency":"EUR","last_updated":"2026-01-01T00:00:00Z",
         "min_price":{"excl_vat":1,"incl_vat":1.21},
         "elements":[{"price_components":[{"type":"ENERGY","price":0.25,"vat":21,"step_size":1}],
                      "restrictions":{"start_time":"22:00","end_time":"06:00","start_date":"2026-01-01","day_of_week":["MONDAY","SUNDAY"],"max_duration":3600}},
                     {"price_components":[{"type":"FLAT","price":0.5,"step_size":0}]}]}
        """

    @Test func decodesAndRoundTrips() throws {
        let tariff = try JSONDecoder().decode(Tariff.self, from: Data(Self.valid.utf8))
        #expect(tariff.elements.count == 2)
        let r = try #require(tariff.elements[0].restrictions)
        #expect(r.startTime == 22 * 60 && r.endTime == 6 * 60)
        #expect(r.dayOfWeek == [.monday, .sunday])
        #expect(tariff.elements[0].priceComponents[0].price == Decimal(string: "0.25"))
        let again = try JSONDecoder().decode(Tariff.self, from: JSONEncoder().encode(tariff))
        #expect(again == tariff)
    }

    /// Each broken variant is refused with the field at fault named.
    @Test(arguments: [
        (#""price":0.25"#, #""price":-1"#, "elements[0].price_components[0].price: must be between 0 and 1000000"),
        (#""price":0.25"#, #""price":0.00001"#, "elements[0].price_components[0].price: must have at most 4 decimal places"),
        (#""price":0.25"#, #""price":"0.25""#, "elements[0].price_components[0].price: must be a number"),
        (#""vat":21"#, #""vat":121"#, "elements[0].price_components[0].vat: must be between 0 and 100"),
        (#""step_size":1"#, #""step_size":1.5"#, "elements[0].price_components[0].step_size: must be an integer"),
        (#""step_size":1"#, #""step_size":-9223372036854775808"#, "elements[0].price_components[0].step_size: must be between 0 and 100000000"),
        (#""step_size":1"#, #""step_size":1e100"#, "elements[0].price_components[0].step_size: must be between 0 and 100000000"),
        (#""step_size":1"#, #""step_size":1e300"#, OCPIFieldError.notJSON),
        (#""type":"ENERGY""#, #""type":"KWH""#, "elements[0].price_components[0].type: must be one of ENERGY, FLAT, PARKING_TIME, TIME"),
        (#""start_time":"22:00""#, #""start_time":"24:00""#, "elements[0].restrictions.start_time: must be a time HH:MM from 00:00 to 23:59"),
        (#""start_date":"2026-01-01""#, #""start_date":"2026-02-30""#, "elements[0].restrictions.start_date: must be a date YYYY-MM-DD from 1970 to 9999"),
        (#""MONDAY","SUNDAY""#, #""MONDAY","SONNTAG""#, "elements[0].restrictions.day_of_week[1]: must be one of MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY"),
        (#""max_duration":3600"#, #""max_duration":-1"#, "elements[0].restrictions.max_duration: must be between 0 and 315360000"),
        (#""currency":"EUR""#, #""currency":"euro""#, "currency: must be an ISO 4217 code of three capital letters"),
        (#""party_id":"VLT""#, #""party_id":"VOLTA""#, "party_id: must be 3 letters or digits"),
        (#""last_updated":"2026-01-01T00:00:00Z","#, "", "last_updated: is required"),
        (#""last_updated":"2026-01-01T00:00:00Z""#, #""last_updated":"yesterday""#, "last_updated: must be an RFC 3339 date-time in UTC between 1970 and 9999"),
        (#""incl_vat":1.21"#, #""incl_vat":null"#, ""),
        (#""excl_vat":1,"#, #""excl_vat":1e7,"#, "min_price.excl_vat: must be between 0 and 1000000"),
        (#"{"type":"FLAT","price":0.5,"step_size":0}"#, "", "elements[1].price_components: must hold at least one price component"),
        (#""max_duration":3600}"#, #""max_duration":3600,"reservation":"RESERVATION"}"#, "elements[0].price_components[0].type: must be FLAT or TIME in an element with a reservation restriction"),
    ])
    func refusesNamingTheField(_ original: String, _ replacement: String, _ message: String) throws {
        let text = Self.valid.replacingOccurrences(of: original, with: replacement)
        #expect(text != Self.valid)
        do {
            _ = try JSONDecoder().decode(Tariff.self, from: Data(text.utf8))
            #expect(message.isEmpty, "accepted, but expected: \(message)")
        } catch {
            #expect(OCPIFieldError.from(error).description == message)
        }
    }

    @Test func refusesNoElementsAndNonJSON() {
        let noElements = Self.valid.replacingOccurrences(of: #""elements":["#, with: #""elements":[],"x":["#)
        #expect(throws: OCPIFieldError(path: "elements", reason: "must hold 1 to 100 elements")) {
            try JSONDecoder().decode(Tariff.self, from: Data(noElements.utf8))
        }
        do {
            _ = try JSONDecoder().decode(Tariff.self, from: Data("{".utf8))
            Issue.record("accepted")
        } catch {
            #expect(OCPIFieldError.from(error).description == OCPIFieldError.notJSON)
        }
    }
}

@Suite struct CDRTotalsTests {
    @Test func orderedJSONKeepsOCPIsOrderAndParses() throws {
        let totals = CDRTotals(totalCost: Price(exclVat: Decimal(string: "5.71")!, inclVat: Decimal(string: "6.91")!),
                               totalEnergyCost: Price(exclVat: 3, inclVat: nil), totalEnergy: Decimal(string: "13.75")!,
                               totalTime: Decimal(string: "1.5833")!, totalParkingTime: 0)
        let text = totals.orderedJSON
        let keys = ["total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost", "total_parking_cost",
                    "total_reservation_cost", "total_energy", "total_time", "total_parking_time"]
        let positions = keys.map { text.range(of: "\"\($0)\"")!.lowerBound }
        #expect(positions == positions.sorted())
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object.count == 9)
        #expect(object["total_fixed_cost"] is NSNull)
        #expect(text.contains(#""total_cost": {"excl_vat": 5.71, "incl_vat": 6.91}"#))
    }
}
