import Synchronization

/// The stations connected to this node. A new connection with the same station id replaces the old one.
public final class StationRegistry: Sendable {
    private let sessions = Mutex<[String: StationSession]>([:])

    public init() {}

    /// Registers `session`; returns the session it replaced, which the caller closes.
    func register(_ session: StationSession) -> StationSession? {
        sessions.withLock { $0.updateValue(session, forKey: session.stationId) }
    }

    enum Admission {
        case admitted(replacing: StationSession?)
        case full
    }

    /// Registers `session` unless `cap` stations are connected already; a station replacing its own
    /// connection is not one more. Checked and registered under one lock, so concurrent handshakes
    /// that all passed the early check cannot together pass the cap.
    func admit(_ session: StationSession, cap: Int) -> Admission {
        sessions.withLock { s in
            if s[session.stationId] == nil, s.count >= cap { return .full }
            return .admitted(replacing: s.updateValue(session, forKey: session.stationId))
        }
    }

    /// Removes `session` if it is still the current one for its station; true when it was.
    func remove(_ session: StationSession) -> Bool {
        sessions.withLock { s in
            guard s[session.stationId] === session else { return false }
            s[session.stationId] = nil
            return true
        }
    }

    public func session(_ stationId: String) -> StationSession? {
        sessions.withLock { $0[stationId] }
    }

    public var count: Int { sessions.withLock { $0.count } }

    public var connectedIds: Set<String> { sessions.withLock { Set($0.keys) } }
}
