import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct AdminAPITests {
    @Test func everyRequestNeedsTheAdminToken() async throws {
        try await AppHarness.app().test(.router) { client in
            for token in [nil, "Bearer wrong-token", "Basic abc"] {
                var headers: HTTPFields = [:]
                if let token { headers[.authorization] = token }
                let (status, body, responseHeaders) = try await client.json(.get, "/api/v1/stations", headers: headers)
                #expect(status == .unauthorized)
                #expect(responseHeaders[.contentType] == "application/problem+json")
                #expect(body["status"] as? Int == 401)
            }
            let (health, body, _) = try await client.json(.get, "/health", headers: [:])
            #expect(health == .ok && body["database"] as? String == "ok")
        }
    }

    @Test func securityProfileZeroIsAskedForAndProfileOneGetsAGeneratedPassword() async throws {
        try await AppHarness.app().test(.router) { client in
            var (status, body, _) = try await client.json(.post, "/api/v1/stations", #"{"id":"SP-GEN"}"#)
            let generated = body["generatedPassword"] as? String
            #expect(status == .created && generated?.count == 24)
            #expect((body["station"] as? [String: Any])?["securityProfile"] as? Int == 1)
            #expect((body["station"] as? [String: Any])?["hasPassword"] as? Bool == true)
            // Shown once: reading the station again does not show it.
            (status, body, _) = try await client.json(.get, "/api/v1/stations/SP-GEN")
            #expect(status == .ok && body["generatedPassword"] == nil)

            (status, body, _) = try await client.json(.post, "/api/v1/stations", #"{"id":"SP-ZERO","securityProfile":0}"#)
            #expect(status == .created && body["generatedPassword"] == nil)
            #expect((body["station"] as? [String: Any])?["securityProfile"] as? Int == 0)
            #expect((body["station"] as? [String: Any])?["hasPassword"] as? Bool == false)

            (status, body, _) = try await client.json(.post, "/api/v1/stations", #"{"id":"SP-GIVEN","securityProfile":1,"password":"0123456789abcdef"}"#)
            #expect(status == .created && body["generatedPassword"] == nil)
            // Profile 2 (TLS and a password) gets a generated password too; profile 3 (a client certificate) has none.
            (status, body, _) = try await client.json(.post, "/api/v1/stations", #"{"id":"SP-TLS","securityProfile":2}"#)
            #expect(status == .created && (body["generatedPassword"] as? String)?.count == 24)
            #expect((body["station"] as? [String: Any])?["securityProfile"] as? Int == 2)
            (status, body, _) = try await client.json(.post, "/api/v1/stations", #"{"id":"SP-MTLS","securityProfile":3}"#)
            #expect(status == .created && body["generatedPassword"] == nil)
            #expect((body["station"] as? [String: Any])?["hasPassword"] as? Bool == false)
            for bad in [
                #"{"id":"SP-BAD1","securityProfile":0,"password":"0123456789abcdef"}"#, #"{"id":"SP-BAD2","securityProfile":3,"password":"0123456789abcdef"}"#,
                #"{"id":"SP-BAD3","securityProfile":-1}"#, #"{"id":"SP-BAD4","securityProfile":4}"#,
            ] {
                (status, _, _) = try await client.json(.post, "/api/v1/stations", bad)
                #expect(status == .unprocessableContent, "\(bad)")
            }
            (status, body, _) = try await client.json(.get, "/api/v1/stations")
            #expect((body["items"] as? [Any])?.count == 5)
        }
    }

    @Test func stationsTokensAndTransactions() async throws {
        try await AppHarness.app().test(.router) { client in
            var (status, body, headers) = try await client.json(.post, "/api/v1/stations", #"{"id":"API-1","password":"0123456789abcdef"}"#)
            #expect(status == .created && headers[.location] == "/api/v1/stations/API-1")
            #expect((body["station"] as? [String: Any])?["securityProfile"] as? Int == 1)
            (status, _, _) = try await client.json(.post, "/api/v1/stations", #"{"id":"API-1"}"#)
            #expect(status == .conflict)
            (status, body, _) = try await client.json(.post, "/api/v1/stations", #"{"id":"bad id"}"#)
            #expect(status == .unprocessableContent && body["title"] as? String == "Invalid station id")
            (status, _, _) = try await client.json(.post, "/api/v1/stations", #"{"id":"API-2","password":"short"}"#)
            #expect(status == .unprocessableContent)
            (status, _, _) = try await client.json(.post, "/api/v1/stations", #"{not json"#)
            #expect(status == .badRequest)
            (status, body, _) = try await client.json(.get, "/api/v1/stations")
            #expect((body["items"] as? [Any])?.count == 1)
            (status, _, _) = try await client.json(.get, "/api/v1/stations/NOPE")
            #expect(status == .notFound)

            (status, body, _) = try await client.json(.post, "/api/v1/tokens", #"{"value":"CARD-1","expiresAt":"2030-01-01T00:00:00Z"}"#)
            #expect(status == .created && body["status"] as? String == "Accepted" && body["expiresAt"] as? String == "2030-01-01T00:00:00.000Z")
            (status, body, _) = try await client.json(.post, "/api/v1/tokens/CARD-1/block")
            #expect(status == .ok && body["status"] as? String == "Blocked")
            (status, body, _) = try await client.json(.put, "/api/v1/tokens/CARD-1", #"{"status":"Accepted","groupId":"FLEET"}"#)
            #expect(status == .ok && body["groupId"] as? String == "FLEET")
            (status, _, _) = try await client.json(.post, "/api/v1/tokens", #"{"value":"CARD-2","status":"ConcurrentTx"}"#)
            #expect(status == .unprocessableContent)

            (status, body, _) = try await client.json(.get, "/api/v1/transactions?state=Active&limit=5")
            #expect(status == .ok && (body["items"] as? [Any])?.isEmpty == true)
            for bad in ["state=Paused", "limit=0", "since=yesterday"] {
                (status, _, _) = try await client.json(.get, "/api/v1/transactions?\(bad)")
                #expect(status == .badRequest, "\(bad)")
            }
            (status, _, _) = try await client.json(.get, "/api/v1/transactions/999")
            #expect(status == .notFound)

            (status, body, _) = try await client.json(.post, "/api/v1/stations/API-1/commands/Reset", #"{"type":"Soft"}"#)
            #expect(status == .conflict && body["title"] as? String == "Station offline")
            (status, _, _) = try await client.json(.post, "/api/v1/reservations", #"{"stationId":"API-1","idToken":"CARD-1"}"#)
            #expect(status == .conflict)
            (status, _, _) = try await client.json(.delete, "/api/v1/stations/API-1")
            #expect(status == .noContent)
        }
    }

    @Test func hostileInputIsRefusedByName() async throws {
        try await AppHarness.app().test(.router) { client in
            #expect(try await client.json(.post, "/api/v1/stations", #"{"id":"X_0=H"}"#).0 == .created)
            // Path ids are percent-decoded before they are looked up, and limits count the decoded form.
            var (status, body, headers) = try await client.json(.get, "/api/v1/stations/X_0%3DH")
            #expect(status == .ok && (body["station"] as? [String: Any])?["id"] as? String == "X_0=H")
            (status, body, _) = try await client.json(.put, "/api/v1/tokens/%5E%C2%9C", "{}")
            #expect(status == .ok && body["value"] as? String == "^\u{9c}")
            (status, _, _) = try await client.json(.put, "/api/v1/tokens/" + String(repeating: "%C3%A9", count: 36), "{}")
            #expect(status == .ok)
            (status, _, _) = try await client.json(.put, "/api/v1/tokens/" + String(repeating: "%C3%A9", count: 37), "{}")
            #expect(status == .unprocessableContent)
            (status, _, _) = try await client.json(.get, "/api/v1/stations/%FF")
            #expect(status == .badRequest)

            // U+0000 never reaches PostgreSQL: parameters get 400, body fields 422, each naming the field.
            let cases: [(HTTPRequest.Method, String, String?, HTTPResponse.Status, String)] = [
                (.get, "/api/v1/transactions?stationId=a%00b", nil, .badRequest, "stationId"),
                (.get, "/api/v1/transactions?idToken=%00", nil, .badRequest, "idToken"),
                (.get, "/api/v1/reservations?stationId=%00", nil, .badRequest, "stationId"),
                (.get, "/api/v1/stations/A%00B", nil, .badRequest, "id"),
                (.post, "/api/v1/tokens", #"{"value":"A\u0000"}"#, .unprocessableContent, "value"),
                (.post, "/api/v1/tokens", #"{"value":"A","groupId":"\u0000"}"#, .unprocessableContent, "groupId"),
                (.post, "/api/v1/tokens", #"{"value":"A","type":"\u0000"}"#, .unprocessableContent, "type"),
                (.post, "/api/v1/stations", #"{"id":"\u0000"}"#, .unprocessableContent, "id"),
                (.patch, "/api/v1/stations/X_0%3DH", #"{"password":"0123456789abcdef\u0000"}"#, .unprocessableContent, "password"),
                (.post, "/api/v1/stations/X_0%3DH/commands/DataTransfer", #"{"vendorId":"V","data":{"x":["\u0000"]}}"#, .unprocessableContent, "data.x[0]"),
            ]
            for (method, uri, json, expected, field) in cases {
                let (status, problem, _) = try await client.json(method, uri, json)
                #expect(status == expected, "\(method) \(uri)")
                #expect((problem["detail"] as? String)?.contains("'\(field)'") == true, "\(method) \(uri): \(problem)")
            }

            // Passwords are counted in Unicode scalars, as JSON Schema counts them: 16 "é" are 32 UTF-8 bytes.
            (status, _, _) = try await client.json(.patch, "/api/v1/stations/X_0%3DH", #"{"password":"\#(String(repeating: "é", count: 16))"}"#)
            #expect(status == .ok)
            (status, _, _) = try await client.json(.patch, "/api/v1/stations/X_0%3DH", #"{"password":"\#(String(repeating: "é", count: 41))"}"#)
            #expect(status == .unprocessableContent)
            (status, _, _) = try await client.json(.patch, "/api/v1/stations/X_0%3DH", #"{"password":null,"registrationStatus":null}"#)
            #expect(status == .ok)
            // A token is created only with its value.
            (status, _, _) = try await client.json(.post, "/api/v1/tokens", #"{"type":"Central"}"#)
            #expect(status == .badRequest)
            // Reservation ids are what the schema says: 1 to 2^31-1.
            for bad in ["0", "-1", "2147483648", "abc"] {
                (status, _, _) = try await client.json(.delete, "/api/v1/reservations/\(bad)")
                #expect(status == .badRequest, "\(bad)")
            }
            #expect(try await client.json(.delete, "/api/v1/reservations/2147483647").0 == .notFound)

            // A method the path lacks is 405 with Allow, not 404.
            (status, body, headers) = try await client.json(.put, "/api/v1/stations/X_0%3DH", "{}")
            #expect(status == .methodNotAllowed && headers[.allow] == "DELETE, GET, PATCH")
            (status, _, headers) = try await client.json(.delete, "/api/v1/tokens")
            #expect(status == .methodNotAllowed && headers[.allow] == "GET, POST")
            #expect(try await client.json(.get, "/api/v1/nothing-here").0 == .notFound)

            // Echoed input is cut short.
            let long = String(repeating: "Z", count: 5000)
            (status, body, _) = try await client.json(.get, "/api/v1/stations/\(long)")
            #expect(status == .notFound && ((body["detail"] as? String)?.count ?? 0) < 120)
            (status, body, _) = try await client.json(.post, "/api/v1/stations/X_0%3DH/commands/\(long)", "{}")
            #expect(status == .badRequest && ((body["detail"] as? String)?.count ?? 0) < 120)
            (status, _, _) = try await client.json(.post, "/api/v1/stations/X_0%3DH/commands/Reset", String(repeating: " ", count: 2 << 20))
            #expect(status == .contentTooLarge)
        }
    }
}

