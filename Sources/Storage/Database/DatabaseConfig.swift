public import PostgresNIO
import Foundation
import NIOSSL

/// Where the database is: a `postgres://` URL, or the unix socket of the embedded cluster.
public enum DatabaseLocation: Sendable, Hashable {
    case url(String)
    case socket(directory: String, port: Int, user: String, database: String)

    /// A postgres-nio client configuration for this location.
    public func clientConfiguration(database override: String? = nil) throws -> PostgresClient.Configuration {
        switch self {
        case .socket(let directory, let port, let user, let database):
            var c = PostgresClient.Configuration(unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: user, password: nil, database: override ?? database)
            c.options.maximumConnections = 16
            return c
        case .url(let text):
            guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? ""), let host = url.host, !host.isEmpty else {
                throw DatabaseConfigError(reason: "the database URL must look like postgres://user:password@host:5432/database")
            }
            let sslmode = url.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
            let tls: PostgresClient.Configuration.TLS =
                switch sslmode {
                case "disable": .disable
                case "require", "verify-ca", "verify-full": .require(.makeClientConfiguration())
                default: .prefer(.makeClientConfiguration())
                }
            let path = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
            var c = PostgresClient.Configuration(
                host: host, port: url.port ?? 5432, username: url.user?.removingPercentEncoding ?? "postgres",
                password: url.password?.removingPercentEncoding, database: override ?? (path.isEmpty ? nil : path), tls: tls
            )
            c.options.maximumConnections = 16
            return c
        }
    }
}

public struct DatabaseConfigError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
