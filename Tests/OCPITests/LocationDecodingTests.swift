import Foundation
import OCPI
import Testing

@Suite struct LocationDecodingTests {
    static let valid = """
        {"country_code":"NL","party_id":"VOL","id":"LOC1","publish":true,"name":"Alice's driveway","address":"Stationsplein 1",
         "city":"Amsterdam","postal_code":"1012AB","country":"NLD","coordinates":{"latitude":"52.379020","longitude":"-4.90001"},
         "time_zone":"Europe/Amsterdam","owner":{"name":"Alice","website":"https://alice.example"},"facilities":["CAFE","WIFI"],
         "parking_type":"ON_DRIVEWAY","directions":[{"language":"en","text":"Behind the gate"}],
         "opening_times":{"twentyfourseven":false,"regular_hours":[{"weekday":1,"period_begin":"08:00","period_end":"20:00"}],
                          "exceptional_closings":[{"period_begin":"2026-12-25T00:00:00Z","period_end":"2026-12-26T00:00:00Z"}]},
         "images":[{"url":"https://alice.example/p.png","category":"LOCATION","type":"png","width":640}],
         "energy_mix":{"is_green_energy":true}}
        """

    @Test func decodesAndEncodesWithoutEmptyLists() throws {
        let site = try JSONDecoder().decode(LocationSite.self, from: Data(Self.valid.utf8))
        #expect(site.owner?.name == "Alice")
        #expect(site.facilities == [.cafe, .wifi])
        #expect(site.openingTimes?.regularHours.first?.periodEnd == "20:00")
        let again = try JSONDecoder().decode(LocationSite.self, from: JSONEncoder().encode(site))
        #expect(again == site)
        let text = String(decoding: try JSONEncoder().encode(site), as: UTF8.self)
        #expect(!text.contains("publish_allowed_to"), "an empty list is left out")
    }

    /// Each broken variant is refused with the field at fault named.
    @Test(arguments: [
        (#""latitude":"52.379020""#, #""latitude":"52.3790""#, "coordinates.latitude: must be a decimal string with 5 to 7 decimals, between -90 and 90"),
        (#""latitude":"52.379020""#, #""latitude":"95.37902""#, "coordinates.latitude: must be a decimal string with 5 to 7 decimals, between -90 and 90"),
        (#""longitude":"-4.90001""#, #""longitude":"-180.000001""#, "coordinates.longitude: must be a decimal string with 5 to 7 decimals, between -180 and 180"),
        (#""country":"NLD""#, #""country":"NL""#, "country: must be an ISO 3166-1 alpha-3 code of three capital letters"),
        (#""country_code":"NL""#, #""country_code":"NLD""#, "country_code: must be 2 letters or digits"),
        (#""time_zone":"Europe/Amsterdam""#, #""time_zone":"Mars/Olympus""#, "time_zone: must be an IANA time zone, e.g. Europe/Amsterdam"),
        (#""publish":true"#, #""publish":true,"publish_allowed_to":[{"uid":"X","type":"RFID"}]"#, "publish_allowed_to: may only be set when publish is false"),
        (#""publish":true"#, #""publish":false,"publish_allowed_to":[{"uid":"X"}]"#, "publish_allowed_to[0].type: is required with uid"),
        (#""period_end":"20:00""#, #""period_end":"07:00""#, "opening_times.regular_hours[0].period_end: must be later than period_begin"),
        (#""period_begin":"08:00""#, #""period_begin":"8:00""#, "opening_times.regular_hours[0].period_begin: must be a local time HH:MM, 00:00 to 23:59"),
        (#""weekday":1"#, #""weekday":8"#, "opening_times.regular_hours[0].weekday: must be between 1 and 7"),
        (#""twentyfourseven":false"#, #""twentyfourseven":true"#, "opening_times.regular_hours: must be empty when twentyfourseven is true"),
        (#""facilities":["CAFE","WIFI"]"#, #""facilities":["CAFE","SAUNA"]"#, "facilities[1]: must be one of HOTEL, RESTAURANT, CAFE, MALL, SUPERMARKET, SPORT, RECREATION_AREA, NATURE, MUSEUM, BIKE_SHARING, BUS_STOP, TAXI_STAND, TRAM_STOP, METRO_STATION, TRAIN_STATION, AIRPORT, PARKING_LOT, CARPOOL_PARKING, FUEL_STATION, WIFI"),
        (#""website":"https://alice.example""#, #""website":"alice.example""#, "owner.website: must be an absolute http(s) URL of at most 255 characters"),
        (#""width":640"#, #""width":100000"#, "images[0].width: must be between 1 and 99999"),
        (#""city":"Amsterdam""#, #""city":"Amster\u0007dam""#, "city: must be at most 45 characters, with no control characters"),
        (#""text":"Behind the gate""#, #""text":"Behind\u0000the gate""#, "directions[0].text: must be at most 512 characters, with no control characters"),
        (#""language":"en""#, #""language":"e1""#, "directions[0].language: must be an ISO 639-1 code of two letters"),
        (#""id":"LOC1""#, #""id":"LOC1LOC1LOC1LOC1LOC1LOC1LOC1LOC1LOC1L""#, "id: must be 1 to 36 letters, digits or *-_=:+|@.~"),
        // An id stands in OCPI URLs as it is: nothing that a URL would read as a separator.
        (#""id":"LOC1""#, #""id":"LOC/1""#, "id: must be 1 to 36 letters, digits or *-_=:+|@.~"),
        (#""id":"LOC1""#, #""id":"LOC%41""#, "id: must be 1 to 36 letters, digits or *-_=:+|@.~"),
        (#""address":"Stationsplein 1","#, "", "address: is required"),
    ])
    func refusesWhatOCPIRefuses(_ original: String, _ replacement: String, _ expected: String) throws {
        #expect(Self.valid.contains(original), "the fixture must hold \(original)")
        let text = Self.valid.replacingOccurrences(of: original, with: replacement)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(LocationSite.self, from: Data(text.utf8)) }
        do {
            _ = try JSONDecoder().decode(LocationSite.self, from: Data(text.utf8))
        } catch {
            #expect(OCPIFieldError.from(error).description == expected)
        }
    }

    @Test func evseIdsAreEMI3() {
        #expect(EVSESpec.isEMI3("NL*VOL*E12345*1"))
        #expect(EVSESpec.isEMI3("NLVOLE123451"))
        #expect(!EVSESpec.isEMI3("NL*VOL*12345"), "the E of the EVSE part")
        #expect(!EVSESpec.isEMI3("N*VOL*E1"), "a 2-letter country")
        #expect(!EVSESpec.isEMI3("NL*VOL*E1**2"), "no empty part")
    }

    /// A Location serves its site's fields, its EVSEs and connectors flattened as OCPI writes them.
    @Test func aLocationEncodesFlat() throws {
        let site = try JSONDecoder().decode(LocationSite.self, from: Data(Self.valid.utf8))
        let spec = ConnectorSpec(standard: .iec62196T2, format: .socket, powerType: .ac3Phase, maxVoltage: 230, maxAmperage: 16, tariffIds: ["T1"])
        let at = OCPIDateTime(seconds: 1_800_000_000, nanoseconds: 123_456_789)
        let location = Location(
            site: site, evses: [EVSE(uid: "CP1-1", spec: EVSESpec(evseId: "NL*VOL*E1*1"), status: .available, connectors: [Connector(id: "1", spec: spec, lastUpdated: at)], lastUpdated: at)],
            lastUpdated: at
        )
        let object = try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(location)) as? [String: Any])
        #expect(object["id"] as? String == "LOC1")
        #expect(object["last_updated"] as? String == "2027-01-15T08:00:00.123Z", "at most 3 fractional digits, cut")
        let evse = try #require((object["evses"] as? [[String: Any]])?.first)
        #expect(evse["uid"] as? String == "CP1-1" && evse["evse_id"] as? String == "NL*VOL*E1*1" && evse["status"] as? String == "AVAILABLE")
        let connector = try #require((evse["connectors"] as? [[String: Any]])?.first)
        #expect(connector["id"] as? String == "1" && connector["standard"] as? String == "IEC_62196_T2" && connector["tariff_ids"] as? [String] == ["T1"])
    }
}
