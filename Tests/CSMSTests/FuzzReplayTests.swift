import CSMS
import CSMSMemory
import Foundation
import OCPP
import Testing

/// Tests/Fuzz, read by file name so that each file is its own test case.
enum FuzzFiles {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func names(_ folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)) ?? []
        return names.filter { $0.hasSuffix(".ocpp") }.sorted()
    }

    static func script(_ folder: String, _ name: String) throws -> InboundScript {
        InboundScript(bytes: try Data(contentsOf: root.appendingPathComponent(folder).appendingPathComponent(name)))
    }
}

/// Replays the fuzzer's seeds and every input it has broken the server with through what the fuzzer plays
/// them on (CSMSMemory's InboundReplay: the server's InboundDispatcher over the in-memory store), without libFuzzer.
@Suite struct FuzzReplayTests {
    /// Seeds are valid CALLs: each passes its request schema and is answered cleanly, with a CALLRESULT,
    /// or NotSupported for an action Voltaic does not apply.
    @Test(arguments: FuzzFiles.names("seeds"))
    func seedIsAnsweredCleanly(_ name: String) async throws {
        let script = try FuzzFiles.script("seeds", name)
        #expect(!script.frames.isEmpty)
        for frame in script.frames where InboundScript.Directive(rawValue: frame) == nil {
            guard case .success(.call(_, let action, let payload)) = Frame.decode(frame) else {
                Issue.record("\(name): a seed frame that is not a CALL")
                continue
            }
            let violation = OCPPSchemas.schema(script.version, action: action, .request)?.validate(payload)
            #expect(violation == nil, "\(name): \(violation?.description ?? "")")
        }
        for step in await InboundReplay.run(script) {
            #expect(step.problems.isEmpty, "\(name): \(step.problems)")
            guard let outcome = step.outcome else { continue }
            guard let reply = outcome.reply, case .success(let frame) = Frame.decode(reply) else {
                Issue.record("\(name): no readable reply to \(step.frame.prefix(80))")
                continue
            }
            switch frame {
            case .callResult: break
            case .callError(_, let code, _, _): #expect(code == "NotSupported", "\(name): \(reply.prefix(300))")
            case .call: Issue.record("\(name): a CALL as reply")
            }
        }
    }

    /// The scenario seeds do what they are named for, on the store (not only in their replies).
    @Test func scenarioSeedsReachTheStore() async throws {
        let replay = InboundReplay.database()
        let steps = await InboundReplay.run(try FuzzFiles.script("seeds", "16-scenario-replay-after-reconnect.ocpp"), on: replay)
        // Applied once, replayed from inbound_replies within the window, applied again past it.
        #expect(replay.stationEventKinds.filter { $0 == "DataTransfer" }.count == 2)
        let boots = steps.filter { $0.frame.contains("BootNotification") }.compactMap { $0.outcome?.reply }
        #expect(boots.count == 4 && boots[0] == boots[1] && boots[1] == boots[2] && boots[2] != boots[3], "\(boots)")

        let corrections = InboundReplay.database()
        _ = await InboundReplay.run(try FuzzFiles.script("seeds", "16-scenario-corrections.ocpp"), on: corrections)
        // 3100 corrects 3000; 11 contradicts 10 in the same call, and 12 corrects it later.
        #expect(corrections.correctionCount == 3)
        #expect(corrections.transactions.first?.suspectReasons.contains("corrected reading") == true)
        #expect(corrections.stationEventKinds.contains("MeterValues.suspect"))

        let stale = InboundReplay.database()
        _ = await InboundReplay.run(try FuzzFiles.script("seeds", "201-scenario-stale-transaction.ocpp"), on: stale)
        let tx = try #require(stale.transactions.first)
        #expect(tx.state == .ended && tx.stopReason == "Stale")
        #expect(tx.suspectReasons.contains("ended by the stale-transaction policy") && tx.suspectReasons.contains("readings after end"))
    }

    /// Both versions have a minimal and a maximal seed for every station-initiated action.
    @Test func everyStationActionHasSeeds() {
        let names = Set(FuzzFiles.names("seeds"))
        for (prefix, actions) in [("16", OCPP16.stationInitiated), ("201", OCPP201.stationInitiated)] {
            for action in actions {
                #expect(names.contains("\(prefix)-\(action)-min.ocpp") && names.contains("\(prefix)-\(action)-max.ocpp"), "\(prefix) \(action)")
            }
        }
    }

    /// Every saved failing input, each in a child process: one that traps or hangs again fails its own
    /// case and the rest still run.
    @Test(arguments: FuzzFiles.names("regressions"))
    func regressionIsAnsweredCleanly(_ name: String) async throws {
        let path = FuzzFiles.root.appendingPathComponent("regressions").appendingPathComponent(name).path
        await #expect(processExitsWith: .success, "\(name)") { [path = path as String] in
            // A hang is a failure too: give up after 20 seconds.
            DispatchQueue.global().asyncAfter(deadline: .now() + 20) {
                FileHandle.standardError.write(Data("\(path): no answer after 20 s\n".utf8))
                exit(124)
            }
            let script = InboundScript(bytes: try Data(contentsOf: URL(fileURLWithPath: path)))
            let steps = await InboundReplay.run(script)
            let problems = steps.flatMap(\.problems)
            for problem in problems { FileHandle.standardError.write(Data("\(path): \(problem)\n".utf8)) }
            exit(problems.isEmpty ? 0 : 1)
        }
    }
}
