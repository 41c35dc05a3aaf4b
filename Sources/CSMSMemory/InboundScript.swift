public import CSMS
public import OCPP

/// A station's side of a conversation, as the fuzzer and the replay files hold it: a first line naming the
/// version (and, optionally, `pending` or `rejected`: the station's registration when it connects), then
/// one WebSocket text frame per line.
///
///     2.0.1
///     [2,"1","TransactionEvent",{...}]
///     #reconnect
///     [2,"1","TransactionEvent",{...}]
///
/// A line that is exactly one of `Directive`'s names is not sent: it acts on the world instead (reconnect,
/// let time pass, run the maintenance pass).
///
/// Any bytes are a script: the first byte picks the version (odd, as in `1.6`, for OCPP 1.6; even, as in
/// `2.0.1`, for 2.0.1), and invalid UTF-8 is repaired as a WebSocket text message would have to be valid.
public struct InboundScript: Sendable, Hashable {
    /// Lines past this many are ignored, to keep one fuzzer input cheap.
    public static let maxFrames = 16

    public var version: OCPPVersion
    public var registration: RegistrationStatus
    public var frames: [String]

    /// What a line of a script can do besides sending a frame.
    public enum Directive: String, Sendable, CaseIterable {
        /// The connection drops and the station connects again: the session's reply cache is gone, the
        /// registration is read from the station row again, and only the database's replay guard remains.
        case reconnect = "#reconnect"
        /// A minute passes (inside the 900 s replay window).
        case soon = "#soon"
        /// 73 hours pass: past the replay window and past the default stale-transaction policy (72 h).
        case later = "#later"
        /// What Server's Maintenance does once: purge replies past the window, end stale transactions.
        case maintenance = "#maintenance"
    }

    public init(version: OCPPVersion, registration: RegistrationStatus = .accepted, frames: [String]) {
        self.version = version
        self.registration = registration
        self.frames = frames
    }

    public init(bytes: some Collection<UInt8>) {
        let lines = Self.lines(Array(bytes))
        let header = lines.first ?? ""
        version = (bytes.first ?? 0) & 1 == 1 ? .v16 : .v201
        registration = header.contains("pending") ? .pending : header.contains("rejected") ? .rejected : .accepted
        frames = Array(lines.dropFirst().prefix(Self.maxFrames))
    }

    /// The header (lowercased) and the lines after it, up to one past `maxFrames`; a last empty line is no line.
    private static func lines(_ bytes: [UInt8]) -> [String] {
        var out: [String] = []
        bytes.withUnsafeBufferPointer { buffer in
            var start = 0
            for i in buffer.indices where buffer[i] == UInt8(ascii: "\n") {
                out.append(String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<i]), as: UTF8.self))
                start = i + 1
                if out.count > maxFrames { return }
            }
            if start < buffer.count { out.append(String(decoding: UnsafeBufferPointer(rebasing: buffer[start...]), as: UTF8.self)) }
        }
        if !out.isEmpty { out[0] = out[0].lowercased() }
        return out
    }

    public var text: String {
        let header = (version == .v16 ? "1.6" : "2.0.1") + (registration == .accepted ? "" : " " + registration.rawValue.lowercased())
        return ([header] + frames).joined(separator: "\n") + "\n"
    }
}
