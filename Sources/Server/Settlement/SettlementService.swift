import CSMS
import Chain
import Foundation
import PKI
#if canImport(Glibc)
import Glibc
#endif
import Logging
import OCPI
import OCPP
import ServiceLifecycle
import Settlement
import Storage

/// Settlement's workers, on every node:
/// - capture: ended held sessions, one transaction each (`SettlementRepository.settleNext`, SKIP LOCKED across nodes);
/// - lapsed holds: released back to the driver;
/// - the hold guard: a session whose cost so far reached its hold is asked to stop (RemoteStopTransaction /
///   RequestStopTransaction), on the node that holds its station;
/// - batching: receipts into Merkle batches (one batcher at a time);
/// - anchoring: batch roots on chain, by one node at a time per key (a session advisory lock), from jobs kept in
///   PostgreSQL, so that any node resumes where a dead one stopped.
struct SettlementService: Service {
    let repository: SettlementRepository
    let signer: ReceiptSigner
    let configuration: SettlementConfiguration
    let anchoring: Anchoring?
    let registry: StationRegistry
    let dispatcher: CommandDispatcher
    let databaseTimeout: Duration
    let logger: Logger
    let ready: StartupGate
    var idle: Duration = .milliseconds(250)
    var captureWorkers = 4
    /// This node's id: the hold guard looks at the sessions of the stations it holds.
    var node: String?

    struct Anchoring: Sendable {
        let store: PostgresAnchorStore
        let anchorer: Anchorer
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await ready.wait()
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await captureLoop() }
                group.addTask { await guardLoop() }
                group.addTask { await batchLoop() }
                group.addTask { await bookingLoop() }
                if let anchoring { group.addTask { await anchorLoop(anchoring) } }
            }
        }
    }

    /// Captures in `captureWorkers` parallel loops (each settles one transaction per database transaction; SKIP
    /// LOCKED keeps them, and other nodes, on different ones), and releases lapsed holds every 15 s.
    func captureLoop() async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<captureWorkers { group.addTask { await captureWorker() } }
            group.addTask {
                while !Task.isCancelled {
                    do {
                        let released = try await Deadline.run(within: databaseTimeout) { try await repository.releaseLapsedHolds() }
                        if released > 0 { logger.notice("lapsed holds released", metadata: ["count": "\(released)"]) }
                    } catch {
                        if Task.isCancelled { return }
                        logger.warning("releasing lapsed holds failed", metadata: ["error": "\(String(reflecting: error).prefix(300))"])
                    }
                    try? await Task.sleep(for: .seconds(15))
                }
            }
        }
    }

    func captureWorker() async {
        while !Task.isCancelled {
            do {
                while !Task.isCancelled {
                    let outcome = try await Deadline.run(within: databaseTimeout * 2) { try await repository.settleNext(signer: signer) }
                    guard case .captured(let tx, let receipt, let amount) = outcome else {
                        if case .idle = outcome { break }
                        continue
                    }
                    logger.debug("session captured", metadata: ["transaction.id": "\(tx)", "receipt.id": "\(receipt)", "amount": "\(amount)"])
                    CrashPoint.hit("capture.committed")
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("settlement failed; retried later", metadata: ["error": "\(String(reflecting: error).prefix(300))"])
            }
            try? await Task.sleep(for: idle)
        }
    }

    /// Sessions that reached their hold are stopped: a driver is never charged more than was held.
    func guardLoop() async {
        var cursor: Int64 = 0
        while !Task.isCancelled {
            do {
                // This node's stations, a page at a time from where the last pass stopped.
                let (node, after) = (self.node, cursor)
                let (over, last) = try await Deadline.run(within: databaseTimeout * 2) { try await repository.overspent(node: node, after: after) }
                cursor = last ?? 0
                for session in over {
                    guard let station = registry.session(session.stationId) else { continue }  // another node's, or offline
                    // Extend when configured and the driver's funds allow (by the hold's size again); else stop.
                    if configuration.holdReached == .extend,
                       try await Deadline.run(within: databaseTimeout, { try await repository.extendHold(transactionId: session.transactionId, by: session.held, from: session.held) }) {
                        logger.notice("session reached its hold; hold extended", metadata: ["transaction.id": "\(session.transactionId)", "hold": "\(session.held * 2)"])
                        continue
                    }
                    let (action, payload): (String, JSONValue) =
                        station.version == .v16
                        ? ("RemoteStopTransaction", .object(["transactionId": .number(JSONNumber(session.transactionId))]))
                        : ("RequestStopTransaction", .object(["transactionId": .string(session.uid)]))
                    try await Deadline.run(within: databaseTimeout) { try await repository.markStopRequested(transactionId: session.transactionId) }
                    logger.notice("session reached its hold; stopping it", metadata: [
                        "transaction.id": "\(session.transactionId)", "hold": "\(session.held)", "cost": "\(session.cost)",
                    ])
                    do {
                        _ = try await dispatcher.send(stationId: session.stationId, action: action, payload: payload)
                    } catch {
                        logger.warning("stop at the hold not delivered; retried", metadata: ["transaction.id": "\(session.transactionId)", "error": "\(error)"])
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("hold guard pass failed", metadata: ["error": "\(String(reflecting: error).prefix(300))"])
            }
            try? await Task.sleep(for: .seconds(2))
        }
    }

    /// Bookings: at a slot's start the station (when this node holds it) is sent ReserveNow for the expected
    /// identity; a slot that ended unused is a no-show, charged its reservation by the tariff.
    func bookingLoop() async {
        while !Task.isCancelled {
            do {
                for booking in try await Deadline.run(within: databaseTimeout, { try await repository.bookingsDue() }) {
                    guard let station = registry.session(booking.stationId) else { continue }
                    await reserve(booking, version: station.version)
                }
                for id in try await Deadline.run(within: databaseTimeout, { try await repository.noShows() }) {
                    let outcome = try await Deadline.run(within: databaseTimeout) { try await repository.endBooking(id: id, as: .noShow) }
                    logger.notice("booking not used: no-show", metadata: ["booking.id": "\(id)", "outcome": "\(outcome)"])
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("booking pass failed", metadata: ["error": "\(String(reflecting: error).prefix(300))"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    func reserve(_ b: SettlementRepository.BookingView, version: OCPPVersion) async {
        do {
            let reservation = try await Deadline.run(within: databaseTimeout) {
                try await dispatcher.repository.createReservation(stationId: b.stationId, evseId: b.evseId, idToken: b.expectedValue, expiresAt: b.end)
            }
            try await Deadline.run(within: databaseTimeout) { try await repository.markReserved(bookingId: b.id, reservationId: reservation.id) }
            // The booked identity as 2.0.1 names it; the CSMS knows an app token, an eMAID or a car's MAC address.
            let type = ["emaid": "eMAID", "mac": "MacAddress"][b.expectedType] ?? "Central"
            let call = try CommandTranslation.reserveNow(
                version: version.rawValue, evseId: b.evseId, uid: b.expectedValue, idTokenType: type, expiry: OCPIDateTime(b.end), reservationId: reservation.id
            )
            let answer = try await dispatcher.send(stationId: b.stationId, action: call.action, payload: call.payload)
            let status: String = if case .result(let r) = answer.answer { r["status"]?.stringValue ?? "Rejected" } else { "CallError" }
            try await Deadline.run(within: databaseTimeout) {
                try await dispatcher.repository.setReservationStatus(id: reservation.id, status: status == "Accepted" ? .accepted : .rejected)
            }
            logger.info("booked slot reserved at the station", metadata: ["booking.id": "\(b.id)", "reservation.id": "\(reservation.id)", "status": "\(status)"])
        } catch {
            logger.warning("ReserveNow for a booking failed; the booking still holds the EVSE", metadata: ["booking.id": "\(b.id)", "error": "\(error)"])
        }
    }

    func batchLoop() async {
        while !Task.isCancelled {
            do {
                let size = configuration.batchSize, age = configuration.batchInterval
                while let batch = try await Deadline.run(within: databaseTimeout * 4, { try await repository.batchReceipts(maxCount: size, maxAge: age) { MerkleTree(leaves: $0).root } }) {
                    logger.info("receipts batched", metadata: ["batch.id": "\(batch)"])
                    CrashPoint.hit("batch.committed")
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("batching failed; retried", metadata: ["error": "\(String(reflecting: error).prefix(300))"])
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    func anchorLoop(_ a: Anchoring) async {
        while !Task.isCancelled {
            do {
                for batch in try await Deadline.run(within: databaseTimeout, { try await repository.unanchoredBatches() }) {
                    if let job = try await Deadline.run(within: databaseTimeout, { try await a.store.enqueue(batchId: batch.id, root: batch.root, count: batch.size, uri: "voltaic:batch:\(batch.id)") }) {
                        logger.info("batch queued for anchoring", metadata: ["batch.id": "\(batch.id)", "anchor.job": "\(job.id)"])
                        CrashPoint.hit("anchor.enqueued")
                    }
                }
                _ = try await a.store.whileAnchoringLock { await a.anchorer.tick() }
            } catch {
                if Task.isCancelled { return }
                logger.warning("anchoring pass failed; retried", metadata: ["error": "\(String(reflecting: error).prefix(300))"])
            }
            try? await Task.sleep(for: configuration.chainPollInterval)
        }
    }
}

extension ReceiptSigner {
    /// The key in `path` (32 raw bytes, or 64 hex digits), made with owner-only permissions where missing.
    static func load(path: String, logger: Logger) throws -> ReceiptSigner {
        guard !path.isEmpty else { return ReceiptSigner() }
        if let signer = try read(path) { return signer }
        // Made with O_EXCL and mode 0600 from the start: no moment where another user could read it, and when two
        // nodes start at once on shared storage, one makes it and both read that one.
        let fresh = ReceiptSigner()
        let hex = fresh.rawRepresentation.map { String(format: "%02x", $0) }.joined() + "\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        if fd >= 0 {
            let written = hex.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
            close(fd)
            guard written == hex.utf8.count else { throw ConfigurationError("cannot write the receipt key file \(path)") }
            logger.notice("receipt key made", metadata: ["path": "\(path)", "key.id": "\(fresh.keyId)"])
        } else if errno != EEXIST {
            throw ConfigurationError("cannot create the receipt key file \(path): \(String(cString: strerror(errno)))")
        }
        guard let signer = try read(path) else { throw ConfigurationError("cannot read the receipt key file \(path)") }
        return signer
    }

    /// The key in `path`, nil when there is no file; a file others may read is refused.
    static func read(_ path: String) throws -> ReceiptSigner? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            try StationCA.ownerOnly(path)
        } catch {
            throw ConfigurationError("\(path): a receipt key must not be readable by others: \(error.message)")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigurationError("cannot read the receipt key file \(path)") }
        let raw: [UInt8]
        if data.count == 32 {
            raw = Array(data)
        } else if let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), let bytes = Hex.decode(text), bytes.count == 32 {
            raw = bytes
        } else if data.isEmpty {
            return nil  // another node is writing it this instant
        } else {
            throw ConfigurationError("\(path): a receipt key is 32 bytes, or 64 hex digits")
        }
        do { return try ReceiptSigner(rawRepresentation: raw) } catch { throw ConfigurationError("\(path): not an Ed25519 key") }
    }
}

struct ConfigurationError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
