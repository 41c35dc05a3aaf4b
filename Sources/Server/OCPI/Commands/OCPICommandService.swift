import CSMS
import Foundation
import HTTPTypes
import Logging
import OCPI
import OCPP
import ServiceLifecycle
import Storage

/// Sends the OCPI commands whose stations this node holds, each once, and records their results (which the push
/// queue POSTs to the partner's `response_url`). Any node expires commands nobody could send in time (TIMEOUT).
struct OCPICommandService: Service {
    let store: CommandRepository
    let registry: StationRegistry
    let dispatcher: CommandDispatcher
    let databaseTimeout: Duration
    let logger: Logger
    let ready: StartupGate
    /// Where a RESERVE_NOW's booking is ended when the station refuses the reservation.
    var settlements: SettlementRepository?
    var idle: Duration = .milliseconds(200)

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await ready.wait()
            while !Task.isCancelled {
                await runOnce()
                try? await Task.sleep(for: idle)
            }
        }
    }

    func runOnce() async {
        do {
            let expired = try await Deadline.run(within: databaseTimeout) { try await store.expire() }
            if expired > 0 { logger.notice("OCPI commands timed out unanswered", metadata: ["count": "\(expired)"]) }
            let pending = try await Deadline.run(within: databaseTimeout) { try await store.pending() }
            let mine = pending.filter { registry.session($0.stationId) != nil }
            await withTaskGroup(of: Void.self) { group in
                for command in mine { group.addTask { await send(command) } }
            }
        } catch {
            if Task.isCancelled { return }
            logger.warning("OCPI command pass failed; retrying", metadata: ["error": "\(error)"])
        }
    }

    func send(_ command: CommandRepository.Pending) async {
        let name = command.profile?.rawValue ?? command.command?.rawValue ?? "?"
        let metadata: Logger.Metadata = ["ocpp.station.id": "\(command.stationId)", "ocpi.command": "\(name)", "ocpi.command.id": "\(command.id)"]
        do {
            // Marked sent before the CALL goes: whatever happens next, it never goes twice.
            guard try await Deadline.run(within: databaseTimeout, { try await store.claim(id: command.id) }) else { return }
        } catch {
            logger.warning("OCPI command not claimed; retried on the next pass", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            return
        }
        if let profile = command.profile {
            await send(profile, command, metadata: metadata)
            return
        }
        guard let type = command.command else { return }
        let result: CommandResult
        do {
            let answer = try await dispatcher.send(stationId: command.stationId, action: command.action, payload: command.payload)
            switch answer.answer {
            case .result(let payload): result = CommandTranslation.result(type, answer: payload)
            case .error(let code, _, _): result = CommandTranslation.result(callError: code)
            }
        } catch let problem {
            result = problem.status == .gatewayTimeout
                ? CommandResult(result: .timeout, message: "the charger did not answer in time")
                : CommandResult(result: .failed, message: problem.detail ?? problem.title)
        }
        logger.info("OCPI command answered", metadata: metadata.merging(["ocpi.command.result": "\(result.result.rawValue)"]) { $1 })
        if command.command == .reserveNow, case .number(let n)? = command.payload["reservationId"] ?? command.payload["id"], let id = n.int64Value.map(Int.init) {
            await settleReservation(id, accepted: result.result == .accepted, metadata: metadata)
        }
        do {
            try await Deadline.run(within: databaseTimeout) { try await store.complete(id: command.id, result) }
        } catch {
            // The deadline turns it into TIMEOUT; the station's answer is in the command log.
            logger.warning("OCPI command result not recorded", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
    }

    /// A charging profile request: the station's answer (a CALLERROR or none as REJECTED) becomes the module's result.
    func send(_ profile: ChargingProfileRequest, _ command: CommandRepository.Pending, metadata: Logger.Metadata) async {
        var outcome: (ChargingProfileResultType, JSONValue) = (.rejected, .object(["result": .string(ChargingProfileResultType.rejected.rawValue)]))
        if let answer = try? await dispatcher.send(stationId: command.stationId, action: command.action, payload: command.payload),
           case .result(let payload) = answer.answer {
            outcome = ProfileTranslation.result(profile, answer: payload)
        }
        logger.info("OCPI charging profile request answered", metadata: metadata.merging(["ocpi.command.result": "\(outcome.0.rawValue)"]) { $1 })
        do {
            try await Deadline.run(within: databaseTimeout) { [outcome] in try await store.complete(id: command.id, profile: outcome.0, body: outcome.1) }
        } catch {
            logger.warning("OCPI charging profile result not recorded", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
    }

    /// The station's word on a RESERVE_NOW: the reservation is Accepted or Rejected; a refused one frees its booking.
    func settleReservation(_ id: Int, accepted: Bool, metadata: Logger.Metadata) async {
        do {
            try await Deadline.run(within: databaseTimeout) { try await dispatcher.repository.setReservationStatus(id: id, status: accepted ? .accepted : .rejected) }
            if !accepted, let settlements, let booking = try await Deadline.run(within: databaseTimeout, { try await settlements.openBooking(reservationId: id) }) {
                _ = try await Deadline.run(within: databaseTimeout) { try await settlements.endBooking(id: booking, as: .cancelled) }
            }
        } catch {
            logger.warning("the reservation's outcome was not recorded", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
    }

}
