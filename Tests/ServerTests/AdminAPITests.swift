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
}
