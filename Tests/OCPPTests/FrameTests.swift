import Foundation
import OCPP
import Testing

@Suite struct FrameTests {
    @Test func decodesTheThreeMessageTypes() throws {
        #expect(try Frame.decode(#"[2,"a","Heartbeat",{}]"#).get() == .call(id: "a", action: "Heartbeat", payload: .object([:])))
        #expect(try Frame.decode(#"[3,"a",{"x":1}]"#).get() == .callResult(id: "a", payload: .object(["x": .number(JSONNumber(1))])))
        #expect(
            try Frame.decode(#"[4,"a","NotSupported","no",{}]"#).get()
                == .callError(id: "a", code: "NotSupported", description: "no", details: .object([:]))
        )
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let text: String
        let id: String?
        let code16: String
        let code201: String
        let answerable: Bool
        var testDescription: String { text.count > 40 ? String(text.prefix(40)) + "…" : text }
    }

    static let malformed: [Case] = [
        Case(text: #"[2,"m1","Heartbeat",{}"#, id: "m1", code16: "FormationViolation", code201: "FormatViolation", answerable: true),
        Case(text: "not json at all", id: nil, code16: "FormationViolation", code201: "RpcFrameworkError", answerable: true),
        Case(text: #"{"a":1}"#, id: nil, code16: "FormationViolation", code201: "RpcFrameworkError", answerable: true),
        Case(text: #"[2]"#, id: nil, code16: "FormationViolation", code201: "RpcFrameworkError", answerable: true),
        Case(text: #"["2","m2","Heartbeat",{}]"#, id: "m2", code16: "FormationViolation", code201: "RpcFrameworkError", answerable: true),
        Case(text: #"[9,"m3","Heartbeat",{}]"#, id: "m3", code16: "FormationViolation", code201: "MessageTypeNotSupported", answerable: true),
        Case(text: #"[2,5,"Heartbeat",{}]"#, id: nil, code16: "FormationViolation", code201: "RpcFrameworkError", answerable: true),
        Case(text: #"[2,"","Heartbeat",{}]"#, id: nil, code16: "FormationViolation", code201: "RpcFrameworkError", answerable: true),
        Case(text: "[2,\"\(String(repeating: "i", count: 37))\",\"Heartbeat\",{}]", id: String(repeating: "i", count: 37), code16: "FormationViolation", code201: "RpcFrameworkError", answerable: true),
        Case(text: #"[2,"m4",7,{}]"#, id: "m4", code16: "FormationViolation", code201: "FormatViolation", answerable: true),
        Case(text: #"[2,"m5","Heartbeat",{},1]"#, id: "m5", code16: "FormationViolation", code201: "FormatViolation", answerable: true),
        Case(text: #"[3,"m6"]"#, id: "m6", code16: "FormationViolation", code201: "FormatViolation", answerable: false),
        Case(text: #"[4,"m7","X"]"#, id: "m7", code16: "FormationViolation", code201: "FormatViolation", answerable: false),
    ]

    @Test(arguments: malformed)
    func malformedFramesMapToVersionCorrectErrors(_ c: Case) throws {
        guard case .failure(let error) = Frame.decode(c.text) else {
            Issue.record("decoded")
            return
        }
        #expect(error.messageId == c.id)
        #expect(error.answerable == c.answerable)
        if c.answerable {
            guard case .callError(let id, let code16, _, _) = error.callError(version: .v16),
                case .callError(_, let code201, _, _) = error.callError(version: .v201)
            else {
                Issue.record("no CALLERROR")
                return
            }
            #expect(id == c.id ?? "-1")
            #expect(code16 == c.code16)
            #expect(code201 == c.code201)
        } else {
            #expect(error.callError(version: .v16) == nil)
        }
    }

    @Test func serialisedFramesParseBack() throws {
        let frames: [Frame] = [
            .call(id: "x", action: "Reset", payload: .object(["type": .string("Soft")])),
            .callResult(id: "y", payload: .object(["s": .string("quote \" and \\ and \n and \u{1}")])),
            .error(id: "z", .occurrenceConstraintViolation, "missing", version: .v16),
        ]
        for f in frames { #expect(try Frame.decode(f.serialized).get() == f) }
    }

    @Test func errorCodesFollowTheNegotiatedVersion() {
        #expect(RPCErrorCode.formatViolation.wireName(for: .v16) == "FormationViolation")
        #expect(RPCErrorCode.formatViolation.wireName(for: .v201) == "FormatViolation")
        #expect(RPCErrorCode.occurrenceConstraintViolation.wireName(for: .v16) == "OccurenceConstraintViolation")
        #expect(RPCErrorCode.occurrenceConstraintViolation.wireName(for: .v201) == "OccurrenceConstraintViolation")
        #expect(RPCErrorCode.messageTypeNotSupported.wireName(for: .v201) == "MessageTypeNotSupported")
        #expect(RPCErrorCode(wireName: "OccurenceConstraintViolation") == .occurrenceConstraintViolation)
        #expect(RPCErrorCode(wireName: "OccurrenceConstraintViolation") == .occurrenceConstraintViolation)
        #expect(RPCErrorCode(wireName: "Bogus") == nil)
    }

    @Test func subprotocolNegotiationOnlyPicksWhatWasOffered() {
        #expect(OCPPVersion.negotiate(offered: ["ocpp1.6"]) == .v16)
        #expect(OCPPVersion.negotiate(offered: ["ocpp1.6, ocpp2.0.1"]) == .v201)
        #expect(OCPPVersion.negotiate(offered: ["ocpp1.6", "ocpp2.0.1"]) == .v201)
        #expect(OCPPVersion.negotiate(offered: ["OCPP1.6"]) == .v16)
        #expect(OCPPVersion.negotiate(offered: ["ocpp1.5", "ocpp2.1"]) == nil)
        #expect(OCPPVersion.negotiate(offered: []) == nil)
    }
}
