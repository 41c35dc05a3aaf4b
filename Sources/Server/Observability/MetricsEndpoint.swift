import Foundation
import Hummingbird
import NIOCore
import Prometheus
import Storage

/// `GET /metrics`: the registry in Prometheus' text format, with the backlogs read at scrape time (the
/// outbox count bounded to half a second: a slow database leaves the last value rather than the scrape).
struct MetricsEndpoint: Sendable {
    let metrics: ServerMetrics
    let repository: AdminRepository
    let liveness: LivenessRecorder
    let pushes: PushRepository

    func response() async -> Response {
        let repository = repository
        let outbox = try? await Deadline.run(within: .milliseconds(500)) { try await repository.outboxBacklog() }
        let pushes = pushes
        let pending = try? await Deadline.run(within: .milliseconds(500)) { try await pushes.backlog() }
        metrics.setBacklogs(outbox: outbox, liveness: liveness.backlog, pushes: pending)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 * 1024)
        metrics.registry.emit(into: &bytes)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}
