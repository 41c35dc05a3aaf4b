import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Crash tests' fault injection: with `VOLTAIC_CRASH_AT=<name>` in its environment, the process kills itself with
/// SIGKILL the first time it reaches the point of that name (nothing flushed, nothing rolled back by the process:
/// exactly a `kill -9`). Without the variable, a point costs one comparison with nil.
public enum CrashPoint {
    static let armed: String? = ProcessInfo.processInfo.environment["VOLTAIC_CRASH_AT"].flatMap { $0.isEmpty ? nil : $0 }

    public static func hit(_ name: String) {
        guard let armed, armed == name else { return }
        FileHandle.standardError.write(Data("crash point \(name): SIGKILL\n".utf8))
        kill(getpid(), SIGKILL)
    }
}
