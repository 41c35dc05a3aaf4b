import Crypto
import Foundation

/// One `Migrations/NNNN_name.sql` file.
public struct Migration: Sendable, Hashable {
    public let version: Int
    public let name: String
    public let sql: String
    /// SHA-256 of the file's bytes, hex.
    public let checksum: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Loads every `NNNN_name.sql` in `directory`, in version order. Two files with one number are refused.
    public static func load(directory: String) throws -> [Migration] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sql") }.sorted()
        var seen: Set<Int> = []
        return try files.map { file in
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]), version > 0 else {
                throw MigrationError("\(file): migration files are named NNNN_name.sql")
            }
            guard seen.insert(version).inserted else { throw MigrationError("two migrations are numbered \(version)") }
            let sql = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            return Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql)
        }
    }

    /// Finds the Migrations directory: `VOLTAIC_MIGRATIONS_DIR`, then `Migrations/` in the working
    /// directory or beside or above the executable (a checkout's `.build/<config>/voltaic`).
    public static func defaultDirectory() -> String? {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["VOLTAIC_MIGRATIONS_DIR"] { return dir }
        var starts = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        starts.append(URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent())
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0..<6 {
                let candidate = dir.appendingPathComponent("Migrations")
                if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("0001_core.sql").path) { return candidate.path }
                dir.deleteLastPathComponent()
            }
        }
        return nil
    }

    /// Splits a SQL script into statements, respecting quotes, dollar quoting and comments.
    static func statements(_ sql: String) -> [String] {
        var result: [String] = []
        var current = ""
        let chars = Array(sql)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "-", i + 1 < chars.count, chars[i + 1] == "-" {
                while i < chars.count, chars[i] != "\n" { i += 1 }
                continue
            }
            if c == "/", i + 1 < chars.count, chars[i + 1] == "*" {
                i += 2
                while i + 1 < chars.count, !(chars[i] == "*" && chars[i + 1] == "/") { i += 1 }
                i += 2
                continue
            }
            if c == "'" || c == "\"" {
                current.append(c)
                i += 1
                while i < chars.count {
                    current.append(chars[i])
                    if chars[i] == c {
                        if i + 1 < chars.count, chars[i + 1] == c { current.append(c); i += 2; continue }
                        i += 1
                        break
                    }
                    i += 1
                }
                continue
            }
            if c == "$", let close = chars[(i + 1)...].firstIndex(of: "$"), chars[(i + 1)..<close].allSatisfy({ $0.isLetter || $0 == "_" }) {
                let tag = String(chars[i...close])
                current += tag
                i = close + 1
                let rest = String(chars[i...])
                if let end = rest.range(of: tag) {
                    current += rest[..<end.upperBound]
                    i += rest.distance(from: rest.startIndex, to: end.upperBound)
                } else {
                    current += rest
                    i = chars.count
                }
                continue
            }
            if c == ";" {
                let s = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !s.isEmpty { result.append(s) }
                current = ""
                i += 1
                continue
            }
            current.append(c)
            i += 1
        }
        let s = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !s.isEmpty { result.append(s) }
        return result
    }
}

public struct MigrationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
