import Foundation
import OCPP
import Testing

@Suite struct JSONParserTests {
    @Test(arguments: [
        #"{"a":[1,2.5,-3e2,true,false,null,"x"]}"#, #"[]"#, #"{}"#, #""\u00e9\ud83d\ude00""#, " [ 1 , 2 ] ", "0", "-0.5",
    ])
    func acceptsValidJSON(_ text: String) throws {
        _ = try JSONParser.parse(text)
    }

    @Test(arguments: [
        "", "[", "[1,]", "{\"a\"}", "{\"a\":1,}", "01", "1.", ".5", "-", "[1 2]", "\"\\x\"", "\"\u{01}\"", "tru", "nul", "[1]]",
        "{\"a\":1,\"a\":2}", "\"\\ud800\"", String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ])
    func rejectsInvalidJSON(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func rejectsInvalidUTF8InsideStrings() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
    }

    @Test func keepsNumberLiteralsExact() throws {
        let v = try JSONParser.parse(#"[12345678901234567890, 0.1, 3, 3.0]"#)
        guard case .array(let a) = v, case .number(let big) = a[0], case .number(let tenth) = a[1], case .number(let three) = a[2], case .number(let threeDot) = a[3] else {
            Issue.record("shape")
            return
        }
        #expect(big.text == "12345678901234567890")
        #expect(tenth.decimalValue?.description == "0.1")
        #expect(three.isInteger && !threeDot.isInteger)
    }

    /// Property: whatever bytes arrive, the decoder answers (a frame or an error) and never traps.
    @Test func arbitraryBytesNeverCrashTheFrameDecoder() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array(#"[]{}",:0123456789.-eE truefalsn\u"#.utf8) + [0xFF, 0xC3, 0x00]
        let seeds = [#"[2,"a","Heartbeat",{}]"#, #"[3,"a",{}]"#, #"[4,"a","X","y",{}]"#]
        for i in 0..<5_000 {
            var bytes = Array(seeds[i % seeds.count].utf8)
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let p = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[p] = alphabet.randomElement(using: &rng)!
                case 1: bytes.insert(alphabet.randomElement(using: &rng)!, at: p)
                default: if bytes.count > 1 { bytes.remove(at: p) }
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            switch Frame.decode(text) {
            case .success(let f): #expect(!f.id.isEmpty)
            case .failure(let e): #expect(!e.reason.isEmpty)
            }
        }
    }
}
