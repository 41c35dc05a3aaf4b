import Foundation
import OCPP
import Testing

/// `OCPPCoder` decodes and encodes straight over `JSONValue`; it must agree with Foundation's coders
/// going through bytes, which is what it replaced, on every kind of field the generated types have.
@Suite struct JSONValueCodingTests {
    /// The reference: Foundation's coders through bytes, with RFC 3339 dates.
    enum Foundation_ {
        static func decode<T: Decodable>(_ type: T.Type, _ payload: JSONValue) throws -> T {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .custom { d in
                let c = try d.singleValueContainer()
                guard let date = OCPPDateTime.parse(try c.decode(String.self)) else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "date") }
                return date
            }
            return try decoder.decode(T.self, from: Data(payload.serialized.utf8))
        }

        static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .custom { date, e in
                var c = e.singleValueContainer()
                try c.encode(OCPPDateTime.format(date))
            }
            return try JSONParser.parse(Array(try encoder.encode(value)))
        }
    }

    struct Sample: Sendable, CustomTestStringConvertible {
        let name: String
        let json: String
        let check: @Sendable (JSONValue) throws -> (JSONValue, JSONValue)
        var testDescription: String { name }
    }

    static func sample<T: Codable & Sendable>(_ type: T.Type, _ json: String) -> Sample {
        Sample(name: "\(T.self)", json: json) { payload in
            (try OCPPCoder.encode(try OCPPCoder.decode(T.self, from: payload)), try Foundation_.encode(try Foundation_.decode(T.self, payload)))
        }
    }

    static let samples: [Sample] = [
        sample(OCPP16.BootNotificationRequest.self, #"{"chargePointVendor":"V","chargePointModel":"M","firmwareVersion":"1.2","iccid":"89"}"#),
        sample(OCPP16.StartTransactionRequest.self, #"{"connectorId":1,"idTag":"TOK","meterStart":-2147483648,"timestamp":"2026-01-01T00:00:00.123+02:00","reservationId":7}"#),
        sample(OCPP16.StopTransactionRequest.self, #"{"transactionId":5,"meterStop":9,"timestamp":"2026-01-01T00:10:00Z","reason":"EVDisconnected","transactionData":[{"timestamp":"2026-01-01T00:10:00Z","sampledValue":[{"value":"2000","measurand":"Energy.Active.Import.Register","unit":"kWh","context":"Transaction.End","phase":"L1","location":"Outlet","format":"Raw"}]}]}"#),
        sample(OCPP16.MeterValuesRequest.self, #"{"connectorId":0,"meterValue":[{"timestamp":"2026-01-01T00:05:00Z","sampledValue":[{"value":"1.5"},{"value":"7","unit":"W"}]}]}"#),
        sample(OCPP16.StatusNotificationRequest.self, #"{"connectorId":1,"errorCode":"NoError","status":"Charging","info":"i","vendorErrorCode":"e"}"#),
        sample(OCPP16.DataTransferRequest.self, #"{"vendorId":"acme","messageId":"x","data":"hello"}"#),
        sample(OCPP16.BootNotificationResponse.self, #"{"status":"Accepted","currentTime":"2026-01-01T00:00:00Z","interval":300}"#),
        sample(OCPP201.TransactionEventRequest.self, #"{"eventType":"Updated","timestamp":"2026-01-01T00:00:00Z","triggerReason":"MeterValuePeriodic","seqNo":2147483647,"offline":true,"numberOfPhasesUsed":3,"cableMaxCurrent":32,"transactionInfo":{"transactionId":"t-1","chargingState":"Charging","timeSpentCharging":60,"remoteStartId":-5},"idToken":{"idToken":"AB","type":"ISO14443","additionalInfo":[{"additionalIdToken":"x","type":"y"}]},"evse":{"id":1,"connectorId":1},"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":1.5,"unitOfMeasure":{"unit":"kWh","multiplier":-3}},{"value":-0.25,"measurand":"Power.Active.Import","phase":"L1-N","signedMeterValue":{"signedMeterData":"d","signingMethod":"m","encodingMethod":"e","publicKey":"k"}},{"value":12345678901}]}]}"#),
        sample(OCPP201.BootNotificationRequest.self, #"{"chargingStation":{"model":"M","vendorName":"V","modem":{"iccid":"1","imsi":"2"}},"reason":"PowerUp"}"#),
        sample(OCPP201.NotifyEventRequest.self, #"{"generatedAt":"2026-01-01T00:00:00Z","seqNo":0,"tbc":false,"eventData":[{"eventId":1,"timestamp":"2026-01-01T00:00:00Z","trigger":"Alerting","actualValue":"x","eventNotificationType":"HardWiredNotification","component":{"name":"C","evse":{"id":1}},"variable":{"name":"V","instance":"i"},"cleared":true}]}"#),
        sample(OCPP201.NotifyReportRequest.self, #"{"requestId":1,"generatedAt":"2026-01-01T00:00:00Z","seqNo":0,"reportData":[{"component":{"name":"C"},"variable":{"name":"V"},"variableAttribute":[{"value":"1","type":"Actual","mutability":"ReadWrite","persistent":true}],"variableCharacteristics":{"dataType":"decimal","supportsMonitoring":false,"minLimit":-1.5,"maxLimit":1e3}}]}"#),
        sample(OCPP201.DataTransferRequest.self, #"{"vendorId":"acme","data":{"nested":[1,2.5,"x",null,{"a":true}]}}"#),
        sample(OCPP201.StatusNotificationRequest.self, #"{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Occupied","evseId":1,"connectorId":1}"#),
    ]

    @Test(arguments: samples) func agreesWithFoundationsCoders(_ s: Sample) throws {
        let payload = try JSONParser.parse(s.json)
        let (ours, reference) = try s.check(payload)
        #expect(ours == reference, "\(ours.serialized)\n\(reference.serialized)")
    }

    @Test func refusesWhatFoundationRefuses() throws {
        for json in [
            #"{"connectorId":"1","idTag":"T","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}"#,  // a string for an integer
            #"{"connectorId":1,"idTag":"T","meterStart":9223372036854775808,"timestamp":"2026-01-01T00:00:00Z"}"#,  // past Int
            #"{"connectorId":1,"idTag":"T","meterStart":0,"timestamp":"yesterday"}"#,  // not a date
            #"{"connectorId":1,"idTag":"T","timestamp":"2026-01-01T00:00:00Z"}"#,  // a required field missing
            #"{"connectorId":1.5,"idTag":"T","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}"#,  // a fraction for an integer
        ] {
            let payload = try JSONParser.parse(json)
            #expect(throws: (any Error).self, "\(json)") { try OCPPCoder.decode(OCPP16.StartTransactionRequest.self, from: payload) }
            #expect(throws: (any Error).self, "\(json)") { try Foundation_.decode(OCPP16.StartTransactionRequest.self, payload) }
        }
    }
}
