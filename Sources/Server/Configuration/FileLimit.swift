import Glibc

/// The process's open-file limit. Every station holds a socket, and so does every HTTP client, database
/// connection and file, so the station cap must stay below it: at the limit, accept() fails and a
/// server spins on it. `raise()` lifts the soft limit to the hard one, as servers do at start.
public enum FileLimit {
    /// Descriptors kept for everything that is not a station: HTTP clients, the database pool, files.
    public static let reserve = 512

    /// Raises the soft limit to the hard one (where allowed) and returns the soft limit then in force.
    @discardableResult
    public static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur > rlim_t(Int32.max) ? Int(Int32.max) : Int(limit.rlim_cur)
    }

    /// The most stations a process with `limit` descriptors can hold.
    public static func stationCap(forLimit limit: Int) -> Int { max(limit - reserve, 1) }
}
