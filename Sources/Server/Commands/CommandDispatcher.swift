import CSMS
import Foundation
import HTTPTypes
import Logging
import OCPP
import Storage

/// Sends a CSMS→station CALL to a station connected to this node, logs it, and returns the answer.
struct CommandDispatcher: Sendable {
    let registry: StationRegistry
    let repository: AdminRepository
    let callTimeout: Duration
    var metrics: ServerMetrics?
    /// The other nodes: a station held by one of them is called through it.
    var cluster: ClusterNode?

    struct Answer: Sendable {
        var version: OCPPVersion
        var answer: StationSession.CallAnswer
        /// Why the station's CALLRESULT breaks the response schema, if it does.
        var responseViolation: String?
    }

    func send(stationId: String, action: String, payload: JSONValue, forward: Bool = true) async throws(Problem) -> Answer {
        guard let session = registry.session(stationId) else {
            if forward, let cluster, let answer = try await cluster.forward(stationId: stationId, action: action, payload: payload, within: callTimeout) {
                return answer
            }
            throw Problem(.conflict, "Station offline", "station '\(stationId)' is not connected")
        }
        let version = session.version
        guard OCPPSchemas.csmsInitiated(version).contains(action), let schema = OCPPSchemas.schema(version, action: action, .request) else {
            throw Problem(.badRequest, "Unknown command", "'\(action)' is not a CSMS-initiated action of \(version.rawValue)")
        }
        if let violation = schema.validate(payload) {
            throw Problem(.unprocessableContent, "Invalid command payload", "\(action) for \(version.rawValue): \(violation.description)")
        }
        let logId = try? await repository.logCommand(stationId: stationId, action: action, request: payload)
        let began = ContinuousClock.now
        do {
            let answer = try await session.call(action: action, payload: payload, timeout: callTimeout)
            if case .error = answer { metrics?.command(action: action, outcome: "callerror", duration: .now - began) } else { metrics?.command(action: action, outcome: "answered", duration: .now - began) }
            var violation: String?
            switch answer {
            case .result(let result):
                violation = OCPPSchemas.schema(version, action: action, .response)?.validate(result)?.description
                if let logId { try? await repository.completeCommand(id: logId, outcome: violation == nil ? "Answered" : "AnsweredInvalid", response: result) }
            case .error(let code, let description, let details):
                if let logId {
                    try? await repository.completeCommand(id: logId, outcome: "CallError", response: .object(["code": .string(code), "description": .string(description), "details": details]))
                }
            }
            return Answer(version: version, answer: answer, responseViolation: violation)
        } catch is CallTimedOut {
            metrics?.command(action: action, outcome: "timeout", duration: .now - began)
            if let logId { try? await repository.completeCommand(id: logId, outcome: "TimedOut", response: nil) }
            throw Problem(.gatewayTimeout, "Station did not answer", "\(action) to '\(stationId)' timed out")
        } catch {
            metrics?.command(action: action, outcome: "disconnected", duration: .now - began)
            if let logId { try? await repository.completeCommand(id: logId, outcome: "Disconnected", response: nil) }
            throw Problem(.conflict, "Station offline", "station '\(stationId)' disconnected before answering")
        }
    }
}
