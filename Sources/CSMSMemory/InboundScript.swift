public import OCPP

/// A station's side of a conversation, as the fuzzer and the replay files hold it: a first line naming the
/// version, then one WebSocket text frame per line.
///
///     2.0.1
///     [2,"1","TransactionEvent",{...}]
///     [2,"2","TransactionEvent",{...}]
///
/// Any bytes are a script: the first byte picks the version (odd, as in `1.6`, for OCPP 1.6; even, as in
/// `2.0.1`, for 2.0.1), the rest of the first line is ignored, and invalid UTF-8 is repaired as a WebSocket
/// text message would have to be valid.
public struct InboundScript: Sendable, Hashable {
    /// Frames past this many are ignored, to keep one fuzzer input cheap.
    public static let maxFrames = 16

    public var version: OCPPVersion
    public var frames: [String]

    public init(version: OCPPVersion, frames: [String]) {
        self.version = version
        self.frames = frames
    }

    public init(bytes: some Collection<UInt8>) {
        version = (bytes.first ?? 0) & 1 == 1 ? .v16 : .v201
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropFirst()
        if lines.last?.isEmpty == true { lines = lines.dropLast() }
        frames = lines.prefix(Self.maxFrames).map { String(decoding: $0, as: UTF8.self) }
    }

    public var text: String {
        ([version == .v16 ? "1.6" : "2.0.1"] + frames).joined(separator: "\n") + "\n"
    }
}
