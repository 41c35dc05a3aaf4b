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
        version = (bytes.first ?? 0) & 1 == 1 ? .v16 : .v201
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let header = lines.first.map { String(decoding: $0, as: UTF8.self).lowercased() } ?? ""
        registration = header.contains("pending") ? .pending : header.contains("rejected") ? .rejected : .accepted
        if !lines.isEmpty { lines.removeFirst() }
        if lines.last?.isEmpty == true { lines.removeLast() }
        frames = lines.prefix(Self.maxFrames).map { String(decoding: $0, as: UTF8.self) }
    }

    public var text: String {
        let header = (version == .v16 ? "1.6" : "2.0.1") + (registration == .accepted ? "" : " " + registration.rawValue.lowercased())
        return ([header] + frames).joined(separator: "\n") + "\n"
    }
}
