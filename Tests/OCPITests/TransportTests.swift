import Foundation
import OCPI
import Testing

@Suite struct TransportTests {
    @Test func tokensAreReadBase64FirstThenRaw() {
        // The spec's own example encodes a trailing newline: it is dropped.
        #expect(AuthorizationToken.candidates("Token ZXhhbXBsZS10b2tlbgo=") == ["example-token", "ZXhhbXBsZS10b2tlbgo="])
        #expect(AuthorizationToken.candidates("Token ZXhhbXBsZS10b2tlbg==") == ["example-token", "ZXhhbXBsZS10b2tlbg=="])
        // A raw token that is not Base64 is tried as it is; the scheme is read without case.
        #expect(AuthorizationToken.candidates("token raw-token-123") == ["raw-token-123"])
        #expect(AuthorizationToken.candidates("Bearer abc").isEmpty)
        #expect(AuthorizationToken.candidates("Token ").isEmpty)
        #expect(AuthorizationToken.candidates(nil).isEmpty)
        #expect(AuthorizationToken.header("example-token", version: .v221) == "Token ZXhhbXBsZS10b2tlbg==")
        #expect(AuthorizationToken.header("example-token", version: .v211) == "Token example-token")
    }

    @Test func credentialsOfBothVersions() throws {
        let v221 = #"{"token":"B","url":"https://emsp.example/ocpi/versions","roles":[{"role":"EMSP","party_id":"ems","country_code":"de","business_details":{"name":"E"}}]}"#
        let c = try JSONDecoder().decode(Credentials.self, from: Data(v221.utf8))
        #expect(c.roles == [CredentialsRole(role: .emsp, businessDetails: BusinessDetails(name: "E"), partyId: "EMS", countryCode: "DE")])
        let v211 = #"{"token":"B","url":"https://emsp.example/ocpi/versions","party_id":"EMS","country_code":"DE","business_details":{"name":"E"}}"#
        #expect(try JSONDecoder().decode(Credentials.self, from: Data(v211.utf8)).roles == c.roles)
        let twice = v221.replacingOccurrences(of: "[{", with: #"[{"role":"EMSP","party_id":"EMS","country_code":"DE","business_details":{"name":"F"}},{"#)
        #expect(throws: OCPIFieldError(path: "roles[1]", reason: "repeats a role, country_code and party_id")) {
            try JSONDecoder().decode(Credentials.self, from: Data(twice.utf8))
        }
        let spaced = v221.replacingOccurrences(of: #""token":"B""#, with: #""token":"B B""#)
        #expect(throws: OCPIFieldError.self) { try JSONDecoder().decode(Credentials.self, from: Data(spaced.utf8)) }
    }

    @Test func pagesReadTheirQueryAndLinkTheNext() throws {
        let page = try PageRequest(query: ["offset": "10", "limit": "500", "date_from": "2026-01-01T00:00:00Z"], maxLimit: 100)
        #expect(page.offset == 10 && page.limit == 100, "a limit above the server's is lowered")
        #expect(page.dateFrom == OCPIDateTime(string: "2026-01-01T00:00:00Z"))
        let cursor = PageRequest.Cursor(createdAt: OCPIDateTime(seconds: 1_800_000_000, nanoseconds: 123_456_000), id: "LOC%41 1/&x=y:z")
        let next = page.nextQuery(returned: 100, last: cursor)
        #expect(next.hasPrefix("offset=110&limit=100&date_from=2026-01-01T00:00:00Z&after="))
        // The cursor travels percent-encoded (its & and = cannot break the query) and comes back as it was.
        let parts = next.split(separator: "&")
        #expect(parts.count == 4)
        let after = try #require(parts.first { $0.hasPrefix("after=") }).dropFirst(6)
        #expect(try PageRequest(query: ["after": String(after).removingPercentEncoding!], maxLimit: 100).after == cursor)
        for (name, value) in [("limit", "-1"), ("offset", "x"), ("date_to", "yesterday"), ("after", "garbage")] {
            #expect(throws: OCPIFieldError.self, "\(name)=\(value)") { try PageRequest(query: [name: value], maxLimit: 100) }
        }
    }

    @Test func versionDetailsFindTheirModules() throws {
        let text = #"{"version":"2.2.1","endpoints":[{"identifier":"credentials","role":"sender","url":"https://e/cred"},{"identifier":"locations","role":"RECEIVER","url":"https://e/loc"},{"identifier":"nltnm-tokens","role":"SENDER","url":"https://e/x"}]}"#
        let d = try JSONDecoder().decode(VersionDetails.self, from: Data(text.utf8))
        #expect(d.url(of: .credentials, role: nil) == "https://e/cred")
        #expect(d.url(of: .locations, role: .receiver) == "https://e/loc")
        #expect(d.url(of: .locations, role: .sender) == nil)
        #expect(d.url(of: .tokens, role: nil) == nil, "a custom module is not tokens")
    }

    @Test func envelopesAlwaysCarryStatusAndUTC() throws {
        let reply = OCPIResponse(data: NoPayload?.none, statusCode: .unknownLocation, statusMessage: "no location", timestamp: OCPIDateTime(seconds: 0))
        let text = String(decoding: try JSONEncoder().encode(reply), as: UTF8.self)
        #expect(text.contains(#""status_code":2003"#) && text.contains(#""timestamp":"1970-01-01T00:00:00Z""#) && !text.contains("data"))
    }
}
