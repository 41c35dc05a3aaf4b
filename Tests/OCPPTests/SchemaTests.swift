import Foundation
import OCPP
import Testing

@Suite struct SchemaTests {
    @Test(arguments: OCPPVersion.supported)
    func everySchemaOfEveryActionCompiles(_ version: OCPPVersion) throws {
        let actions = OCPPSchemas.actions(version)
        #expect(actions.count == (version == .v16 ? 39 : 64))
        for action in actions {
            #expect(OCPPSchemas.schema(version, action: action, .request) != nil, "\(action) request")
            #expect(OCPPSchemas.schema(version, action: action, .response) != nil, "\(action) response")
        }
        #expect(OCPPSchemas.schema(version, action: "FlyToTheMoon", .request) == nil)
    }

    func violation(_ version: OCPPVersion, _ action: String, _ json: String) throws -> SchemaViolation? {
        try #require(OCPPSchemas.schema(version, action: action, .request)).validate(try JSONParser.parse(json))
    }

    @Test func validationNamesTheFieldAndPicksTheCode() throws {
        let missing = try #require(try violation(.v16, "StartTransaction", #"{"connectorId":1,"meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}"#))
        #expect(missing.path == "idTag" && missing.code == .occurrenceConstraintViolation)

        let wrongType = try #require(try violation(.v16, "StartTransaction", #"{"connectorId":"1","idTag":"A","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}"#))
        #expect(wrongType.path == "connectorId" && wrongType.code == .typeConstraintViolation)

        let fraction = try #require(try violation(.v16, "StartTransaction", #"{"connectorId":1,"idTag":"A","meterStart":0.5,"timestamp":"2026-01-01T00:00:00Z"}"#))
        #expect(fraction.path == "meterStart" && fraction.code == .typeConstraintViolation)

        let badDate = try #require(try violation(.v16, "StartTransaction", #"{"connectorId":1,"idTag":"A","meterStart":0,"timestamp":"2026-13-01T00:00:00Z"}"#))
        #expect(badDate.path == "timestamp" && badDate.code == .typeConstraintViolation)

        let tooLong = try #require(try violation(.v16, "Authorize", #"{"idTag":"123456789012345678901"}"#))
        #expect(tooLong.code == .propertyConstraintViolation)

        let badEnum = try #require(try violation(.v201, "TransactionEvent", #"{"eventType":"Paused","timestamp":"2026-01-01T00:00:00Z","triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"t"}}"#))
        #expect(badEnum.path == "eventType" && badEnum.code == .propertyConstraintViolation)

        let nested = try #require(try violation(.v201, "MeterValues", #"{"evseId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":"x"}]}]}"#))
        #expect(nested.path == "meterValue[0].sampledValue[0].value" && nested.code == .typeConstraintViolation)

        let empty = try #require(try violation(.v201, "MeterValues", #"{"evseId":1,"meterValue":[]}"#))
        #expect(empty.path == "meterValue" && empty.code == .occurrenceConstraintViolation)

        let extra = try #require(try violation(.v201, "Heartbeat", #"{"surprise":1}"#))
        #expect(extra.code == .formatViolation)

        #expect(try violation(.v201, "Heartbeat", #"{"customData":{"vendorId":"v","anything":1}}"#) == nil)
    }

    @Test func dateTimesParseInEveryFormStationsSend() throws {
        let reference = try #require(OCPPDateTime.parse("2026-11-21T08:45:27Z"))
        #expect(OCPPDateTime.parse("2026-11-21T08:45:27.000Z") == reference)
        #expect(OCPPDateTime.parse("2026-11-21T09:45:27+01:00") == reference)
        #expect(OCPPDateTime.parse("2026-11-21T08:45:27.5Z")! == reference.addingTimeInterval(0.5))
        #expect(OCPPDateTime.format(reference) == "2026-11-21T08:45:27.000Z")
        for bad in ["2026-11-21", "2026-11-21T08:45:27", "2026-02-30T00:00:00Z", "2026-11-21T24:00:00Z", "yesterday", "2026-11-21T08:45:27+1:00"] {
            #expect(OCPPDateTime.parse(bad) == nil, "\(bad)")
        }
        #expect(OCPPDateTime.parse("1970-01-01T00:00:00Z") == Date(timeIntervalSince1970: 0))
        #expect(OCPPDateTime.parse("2024-02-29T12:00:00Z") != nil)
    }

    @Test func generatedTypesRoundTripThroughTheWire() throws {
        let payload = try JSONParser.parse(
            #"{"eventType":"Started","timestamp":"2026-01-01T00:00:00Z","triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"t-1","chargingState":"Charging"},"idToken":{"idToken":"AB","type":"ISO14443"},"evse":{"id":1,"connectorId":1},"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":1.5,"unitOfMeasure":{"unit":"kWh"}}]}]}"#
        )
        let event = try OCPPCoder.decode(OCPP201.TransactionEventRequest.self, from: payload)
        #expect(event.eventType == .started && event.idToken?.type == .iso14443 && event.meterValue?.first?.sampledValue.first?.value == 1.5)
        let back = try OCPPCoder.encode(event)
        #expect(OCPPSchemas.schema(.v201, action: "TransactionEvent", .request)?.validate(back) == nil)
        let boot = OCPP16.BootNotificationResponse(status: .accepted, currentTime: Date(timeIntervalSince1970: 0), interval: 300)
        #expect(try OCPPCoder.encode(boot).serialized == #"{"currentTime":"1970-01-01T00:00:00.000Z","interval":300,"status":"Accepted"}"#)
    }
}
