import CSMS
import Foundation
import Logging
import ServiceLifecycle

/// Periodic upkeep, through the same runner and domain service as everything else: transactions with no
/// message for `staleAfter` are ended by policy (their stations lost the Stop), and replies kept for
/// replays are dropped once past their window. Safe on many nodes at once (rows are taken with SKIP LOCKED).
struct Maintenance: Service {
    let runner: any TransactionRunner
    let service: ChargingService
    let staleAfter: Duration?
    let replyWindow: Duration
    let interval: Duration
    let logger: Logger

    func run() async throws {
        // Graceful shutdown cancels the wait between passes, so the service stops at once.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await runOnce(now: Date())
            }
        }
    }

    func runOnce(now: Date) async {
        do {
            let window = replyWindow
            let purged = try await runner.perform { uow in try await uow.purgeReplies(before: now.addingTimeInterval(-window.seconds)) }
            if purged > 0 { logger.debug("replay replies purged", metadata: ["count": "\(purged)"]) }
            if let staleAfter {
                let service = service
                let ended = try await runner.perform { uow in
                    try await service.endStaleTransactions(uow, before: now.addingTimeInterval(-staleAfter.seconds), now: now)
                }
                for tx in ended {
                    logger.notice("stale transaction ended by policy", metadata: ["ocpp.station.id": "\(tx.stationId)", "transaction.id": "\(tx.id)"])
                }
            }
        } catch {
            logger.warning("maintenance pass failed; next pass retries", metadata: ["error": "\(error)"])
        }
    }
}
