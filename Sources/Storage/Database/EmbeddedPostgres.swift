import Foundation
public import Logging

/// A private PostgreSQL cluster in a data directory, started from the server binaries on the machine.
///
/// initdb and postgres refuse to run as root, so when Voltaic runs as root the cluster is owned by
/// and run as the unprivileged `postgres` user (through `runuser`); as an ordinary user it runs as
/// that user. The cluster listens on a unix socket only, inside its own directory, so it cannot
/// collide with anything else on the machine.
public struct EmbeddedPostgres: Sendable {
    public let dataDirectory: String
    public let port: Int
    public let user = "voltaic"
    public let database: String
    let binDirectory: String
    let runAs: String?
    let logger: Logger

    public init(dataDirectory: String, database: String = "voltaic", port: Int = 5432, logger: Logger) throws {
        self.dataDirectory = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        self.database = database
        self.port = port
        self.logger = logger
        self.binDirectory = try Self.findBinaries()
        self.runAs = getuid() == 0 ? "postgres" : nil
    }

    public var socketDirectory: String { dataDirectory + "/run" }

    public var location: DatabaseLocation {
        .socket(directory: socketDirectory, port: port, user: user, database: database)
    }

    /// Creates the cluster if needed and starts it unless it is already running (as after a crash of
    /// the server, which leaves the cluster up). Returns when it accepts connections.
    public func start() throws {
        let fm = FileManager.default
        guard socketDirectory.utf8.count + 20 < 108 else {
            throw EmbeddedPostgresError("the data directory path is too long for a unix socket; choose a shorter --data-dir")
        }
        if !fm.fileExists(atPath: dataDirectory + "/PG_VERSION") {
            // Parents get ordinary permissions (the cluster's user must traverse them); the cluster itself 0700.
            try fm.createDirectory(atPath: (dataDirectory as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if !fm.fileExists(atPath: dataDirectory) { try fm.createDirectory(atPath: dataDirectory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700]) }
            try handOver(dataDirectory)
            logger.info("creating embedded PostgreSQL cluster", metadata: ["db.data_dir": "\(dataDirectory)"])
            try run("initdb", ["-D", dataDirectory, "-U", user, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
        }
        if !fm.fileExists(atPath: socketDirectory) {
            try fm.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try handOver(socketDirectory)
        }
        if isRunning() { return }
        let options = "-p \(port) -k \(socketDirectory) -c listen_addresses='' -c max_connections=200 -c fsync=on"
        try run("pg_ctl", ["-D", dataDirectory, "-l", dataDirectory + "/postgres.log", "-o", options, "-w", "-t", "60", "start"])
    }

    public func stop() {
        guard isRunning() else { return }
        do {
            try run("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "stop"])
        } catch {
            logger.warning("stopping embedded PostgreSQL failed", metadata: ["error": "\(error)"])
        }
    }

    public func isRunning() -> Bool {
        (try? run("pg_ctl", ["-D", dataDirectory, "status"], quiet: true)) != nil
    }

    /// Gives a directory to the user the cluster runs as.
    private func handOver(_ path: String) throws {
        guard let runAs else { return }
        guard let pw = getpwnam(runAs) else {
            throw EmbeddedPostgresError("running as root needs the unprivileged '\(runAs)' user (apt-get install postgresql creates it)")
        }
        guard chown(path, pw.pointee.pw_uid, pw.pointee.pw_gid) == 0 else {
            throw EmbeddedPostgresError("cannot give \(path) to the '\(runAs)' user")
        }
        // The user must be able to reach the directory through every parent.
        var parent = URL(fileURLWithPath: path).deletingLastPathComponent()
        while parent.path != "/" {
            var st = stat()
            if stat(parent.path, &st) == 0, st.st_uid != pw.pointee.pw_uid, st.st_mode & 0o001 == 0 {
                throw EmbeddedPostgresError("\(parent.path) is not searchable by the '\(runAs)' user; choose a --data-dir elsewhere (for example under /var/lib or /tmp)")
            }
            parent.deleteLastPathComponent()
        }
    }

    @discardableResult
    private func run(_ tool: String, _ arguments: [String], quiet: Bool = false) throws -> String {
        let executable = binDirectory + "/" + tool
        let result =
            if let runAs { try ChildProcess.run("/usr/sbin/runuser", ["-u", runAs, "--", executable] + arguments) } else { try ChildProcess.run(executable, arguments) }
        guard result.status == 0 else {
            if !quiet { logger.error("\(tool) failed", metadata: ["output": "\(result.output)"]) }
            throw EmbeddedPostgresError("\(tool) failed (exit \(result.status)): \(result.output.suffix(500))")
        }
        return result.output
    }

    /// The PostgreSQL server binaries: `pg_config --bindir`, then Debian's /usr/lib/postgresql/<v>/bin.
    static func findBinaries() throws -> String {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["VOLTAIC_PG_BINDIR"] { candidates.append(env) }
        if let r = try? ChildProcess.run("/usr/bin/env", ["pg_config", "--bindir"]), r.status == 0 {
            candidates.append(r.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted(by: >)
        candidates += versions.map { "/usr/lib/postgresql/\($0)/bin" }
        for dir in candidates where FileManager.default.isExecutableFile(atPath: dir + "/initdb") && FileManager.default.isExecutableFile(atPath: dir + "/pg_ctl") {
            return dir
        }
        throw EmbeddedPostgresError(
            "no PostgreSQL server binaries found (initdb, pg_ctl). Install them with 'apt-get install postgresql' (Debian/Ubuntu), or point Voltaic at an existing server with --database-url / VOLTAIC_DATABASE_URL."
        )
    }
}

public struct EmbeddedPostgresError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
