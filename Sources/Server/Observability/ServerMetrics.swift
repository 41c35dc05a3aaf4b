import Foundation
import OCPP
public import Prometheus
import Synchronization

/// What `/metrics` shows, in the Prometheus text format. Labels only carry known values (OCPP actions of
/// the schemas, CALLERROR codes, versions), so that no station can grow the series without bound.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]
    static let commandBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
        .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]
    static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256]

    private let outboxBacklog: Gauge
    private let livenessBacklog: Gauge
    private let pushesPending: Gauge
    private let pushesDead: Gauge
    private let batchSize: ValueHistogram
    private let batchWait: DurationHistogram
    private let batchesIsolated: Counter

    public init() {
        outboxBacklog = registry.makeGauge(descriptor: .init(namespace: "voltaic", metricName: "outbox_backlog", unitName: "", helpText: "Outbox events not yet processed"))
        let pushes = MetricNameDescriptor(namespace: "voltaic", metricName: "ocpi_pushes", unitName: "", helpText: "OCPI pushes waiting to be delivered (pending) and given up (dead)")
        pushesPending = registry.makeGauge(descriptor: pushes, labels: [("state", "pending")])
        pushesDead = registry.makeGauge(descriptor: pushes, labels: [("state", "dead")])
        livenessBacklog = registry.makeGauge(descriptor: .init(namespace: "voltaic", metricName: "liveness_backlog", unitName: "", helpText: "Stations whose last-seen time waits to be written"))
        batchSize = registry.makeValueHistogram(descriptor: .init(namespace: "voltaic", metricName: "commit_batch_size", unitName: "items", helpText: "Items per group commit"), buckets: Self.batchBuckets)
        batchWait = registry.makeDurationHistogram(descriptor: .init(namespace: "voltaic", metricName: "commit_wait", unitName: "seconds", helpText: "Time the oldest item of a batch waited for a worker"), buckets: Self.latencyBuckets)
        batchesIsolated = registry.makeCounter(descriptor: .init(namespace: "voltaic", metricName: "commit_batches_isolated", unitName: "total", helpText: "Batches run again with a savepoint per item because an item failed"))
        for version in OCPPVersion.supported { connections(version).set(to: 0) }
    }

    func connections(_ version: OCPPVersion) -> Gauge {
        registry.makeGauge(
            descriptor: .init(namespace: "voltaic", metricName: "ocpp_connections", unitName: "", helpText: "Connected stations by OCPP version"),
            labels: [("version", version.rawValue)]
        )
    }

    /// One CALL from a station, answered: `result` is `ok`, `replayed` or the CALLERROR code.
    func call(action: String, version: OCPPVersion, result: String, duration: Duration) {
        let action = OCPPSchemas.schema(version, action: action, .request) == nil ? "unknown" : action
        registry.makeCounter(
            descriptor: .init(namespace: "voltaic", metricName: "ocpp_calls", unitName: "total", helpText: "CALLs from stations by action and result"),
            labels: [("action", action), ("result", result)]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: .init(namespace: "voltaic", metricName: "ocpp_call_duration", unitName: "seconds", helpText: "Time from a CALL's arrival to its answer"),
            labels: [("action", action)], buckets: Self.latencyBuckets
        ).record(duration)
    }

    /// One CSMS→station command: `outcome` is `answered`, `callerror`, `timeout` or `disconnected`.
    func command(action: String, outcome: String, duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: .init(namespace: "voltaic", metricName: "command_round_trip", unitName: "seconds", helpText: "CSMS-to-station command round trips"),
            labels: [("action", action), ("outcome", outcome)], buckets: Self.commandBuckets
        ).record(duration)
    }

    func handshakeRefused(status: Int) {
        registry.makeCounter(
            descriptor: .init(namespace: "voltaic", metricName: "ocpp_handshakes_refused", unitName: "total", helpText: "WebSocket handshakes refused, by HTTP status"),
            labels: [("status", String(status))]
        ).increment()
    }

    func batch(size: Int, wait: Duration, isolated: Bool) {
        batchSize.record(Int64(size))
        batchWait.record(wait)
        if isolated { batchesIsolated.increment() }
    }

    func setBacklogs(outbox: Int?, liveness: Int, pushes: (pending: Int, dead: Int)? = nil) {
        if let outbox { outboxBacklog.set(Int64(outbox)) }
        if let pushes {
            pushesPending.set(Int64(pushes.pending))
            pushesDead.set(Int64(pushes.dead))
        }
        livenessBacklog.set(Int64(liveness))
    }
}
