public import PostgresNIO
import Foundation
import NIOSSL

/// Where the database is: a `postgres://` URL, or the unix socket of the embedded cluster.
public enum DatabaseLocation: Sendable, Hashable {
    case url(String)
    case socket(directory: String, port: Int, user: String, database: String)

    /// A postgres-nio client configuration for this location.
    /// `pooled`: the URL is a pooler in transaction mode (PgBouncer), which refuses startup parameters it does not know.
    public func clientConfiguration(database override: String? = nil, pooled: Bool = false) throws -> PostgresClient.Configuration {
        var c = try configuration(database: override)
        if pooled { c.options.additionalStartupParameters = [] }
        return c
    }

    private func configuration(database override: String?) throws -> PostgresClient.Configuration {
        switch self {
        case .socket(let directory, let port, let user, let database):
            var c = PostgresClient.Configuration(unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: user, password: nil, database: override ?? database)
            Self.tune(&c)
            return c
        case .url(let text):
            guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
                throw DatabaseConfigError(reason: "the database URL must look like postgres://user:password@host:5432/database")
            }
            let query = url.queryItems ?? []
            let path = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
            // libpq's form for a unix socket: postgres://user@/database?host=/run/postgresql (the socket's directory).
            if let socket = query.first(where: { $0.name == "host" })?.value, socket.hasPrefix("/") {
                var c = PostgresClient.Configuration(
                    unixSocketPath: "\(socket)/.s.PGSQL.\(url.port ?? 5432)", username: url.user?.removingPercentEncoding ?? "postgres",
                    password: url.password?.removingPercentEncoding, database: override ?? (path.isEmpty ? nil : path)
                )
                Self.tune(&c)
                return c
            }
            guard let host = url.host, !host.isEmpty else {
                throw DatabaseConfigError(reason: "the database URL must look like postgres://user:password@host:5432/database (or ?host=/socket/directory)")
            }
            let tls = try DatabaseTLS(
                sslmode: query.first { $0.name == "sslmode" }?.value, sslrootcert: query.first { $0.name == "sslrootcert" }?.value
            )
            var c = PostgresClient.Configuration(
                host: host, port: url.port ?? 5432, username: url.user?.removingPercentEncoding ?? "postgres",
                password: url.password?.removingPercentEncoding, database: override ?? (path.isEmpty ? nil : path), tls: tls.postgresTLS()
            )
            Self.tune(&c)
            return c
        }
    }

    /// The pool, and how its sessions plan. The hot statements are prepared once per connection; left to
    /// itself PostgreSQL would keep planning them afresh on every execution (a custom plan each time, which
    /// a profile showed as most of its CPU per message), so sessions use the generic plan, which for these
    /// statements (primary keys, unique indexes, unnested arrays) is the same plan.
    static func tune(_ c: inout PostgresClient.Configuration) {
        c.options.maximumConnections = 16
        c.options.additionalStartupParameters = [("plan_cache_mode", "force_generic_plan")]
    }
}

/// The TLS of a database URL, with libpq's meanings of `sslmode` and `sslrootcert`:
///
/// | sslmode | TLS | chain verified | host name verified |
/// |---|---|---|---|
/// | `disable` | no | | |
/// | `allow`, `prefer` (the default) | tried, plain if the server has none | no | no |
/// | `require` | required | no (yes, as verify-ca, when `sslrootcert` is given) | no |
/// | `verify-ca` | required | yes | no |
/// | `verify-full` | required | yes | yes |
///
/// `sslrootcert` names a PEM file of trusted roots (`system` means the system's roots, the default).
public struct DatabaseTLS: Sendable, Hashable {
    public enum Negotiation: String, Sendable, Hashable {
        case disable, prefer, require
    }

    public var negotiation: Negotiation
    public var verifiesChain: Bool
    public var verifiesHostname: Bool
    /// A PEM file of trusted roots; nil for the system's.
    public var rootCertificatePath: String?

    public init(sslmode: String?, sslrootcert: String? = nil) throws {
        let roots = sslrootcert.flatMap { $0.isEmpty || $0 == "system" ? nil : $0 }
        if let roots, !FileManager.default.isReadableFile(atPath: roots) {
            throw DatabaseConfigError(reason: "sslrootcert '\(roots)' is not a readable file")
        }
        self.rootCertificatePath = roots
        switch sslmode ?? "prefer" {
        case "disable": (negotiation, verifiesChain, verifiesHostname) = (.disable, false, false)
        case "allow", "prefer": (negotiation, verifiesChain, verifiesHostname) = (.prefer, false, false)
        // libpq: "if a root CA file exists, the behavior of sslmode=require will be the same as that of verify-ca".
        case "require": (negotiation, verifiesChain, verifiesHostname) = (.require, roots != nil, false)
        case "verify-ca": (negotiation, verifiesChain, verifiesHostname) = (.require, true, false)
        case "verify-full": (negotiation, verifiesChain, verifiesHostname) = (.require, true, true)
        case let other:
            throw DatabaseConfigError(reason: "unknown sslmode '\(other)'; use disable, allow, prefer, require, verify-ca or verify-full")
        }
    }

    /// The NIOSSL client configuration: what is verified, against which roots.
    public func tlsConfiguration() -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = verifiesHostname ? .fullVerification : verifiesChain ? .noHostnameVerification : .none
        if let rootCertificatePath { tls.trustRoots = .file(rootCertificatePath) }
        return tls
    }

    public func postgresTLS() -> PostgresClient.Configuration.TLS {
        switch negotiation {
        case .disable: .disable
        case .prefer: .prefer(tlsConfiguration())
        case .require: .require(tlsConfiguration())
        }
    }
}

public struct DatabaseConfigError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
