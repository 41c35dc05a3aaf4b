import Foundation
import OCPP
public import Logging
import Synchronization

/// One JSON object per line on standard error (`--log-format json`): `ts`, `level`, `logger`, `message`,
/// and every metadata key as a field (`ocpp.station.id`, `ocpp.msg.id`, …), for a log shipper to index.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    private static let output = Mutex(())

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (k, v) in metadataProvider?.get() ?? [:] { fields[k] = "\(v)" }
        for (k, v) in metadata { fields[k] = "\(v)" }
        for (k, v) in event.metadata ?? [:] { fields[k] = "\(v)" }
        fields["ts"] = Self.timestamp()
        fields["level"] = event.level.rawValue
        fields["logger"] = label
        fields["message"] = "\(event.message)"
        if event.level >= .warning { fields["source"] = "\(event.file):\(event.line)" }
        let line = "{" + fields.keys.sorted().map { Self.quote($0) + ":" + Self.quote(fields[$0]!) }.joined(separator: ",") + "}\n"
        Self.output.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// UTC, milliseconds, `Z`.
    static func timestamp() -> String { OCPPDateTime.format(Date()) }

    /// A JSON string literal, escaped as the wire's own serialiser escapes it.
    static func quote(_ s: String) -> String { JSONValue.string(s).serialized }
}
