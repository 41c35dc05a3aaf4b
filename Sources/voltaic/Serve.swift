import ArgumentParser
import Foundation
import Settlement
import Hummingbird
import Logging
import PostgresNIO
import Server
import Storage

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the CSMS: OCPP WebSocket at /ocpp/{stationId}, admin API at /api/v1, health at /health."
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Address to listen on. Env: VOLTAIC_HOST. Default: 127.0.0.1")
    var host: String?

    @Option(help: "Port to listen on (0 picks a free one). Env: VOLTAIC_PORT. Default: 8180")
    var port: Int?

    @Option(name: .customLong("admin-token"), help: "Bearer token for /api/v1. Env: VOLTAIC_ADMIN_TOKEN. Default: generated once and kept in <data-dir>/admin-token.")
    var adminToken: String?

    @Flag(help: "Apply pending migrations to an external database before starting. Env: VOLTAIC_MIGRATE=1")
    var migrate = false

    @Option(name: .customLong("database-session-url"), help: "A direct PostgreSQL URL for what needs a session of its own (LISTEN, the anchorer's and the migrator's locks) when --database-url is a pooler in transaction mode (PgBouncer). Env: VOLTAIC_DATABASE_SESSION_URL.")
    var databaseSessionURL: String?

    @Flag(name: .customLong("database-pooled"), help: "--database-url is a pooler in transaction mode (PgBouncer): statements are not kept prepared by name, and no startup parameter is sent. Needs --database-session-url. Env: VOLTAIC_DATABASE_POOLED=1")
    var databasePooled = false

    @Option(name: .customLong("max-frame-size"), help: "Largest WebSocket message in bytes; larger ones close with 1009. Env: VOLTAIC_MAX_FRAME_SIZE. Default: 1048576")
    var maxFrameSize: Int?

    @Option(name: .customLong("ping-interval"), help: "Seconds between WebSocket pings; a silent station is dropped within two. Env: VOLTAIC_PING_INTERVAL. Default: 30")
    var pingInterval: Double?

    @Option(name: .customLong("call-timeout"), help: "Seconds a CSMS→station call waits for its answer. Env: VOLTAIC_CALL_TIMEOUT. Default: 30")
    var callTimeout: Double?

    @Option(name: .customLong("heartbeat-interval"), help: "Heartbeat interval given to stations at boot, seconds. Env: VOLTAIC_HEARTBEAT_INTERVAL. Default: 300")
    var heartbeatInterval: Int?

    @Option(name: .customLong("unknown-stations"), help: "reject (handshake 404), pending (BootNotification Pending) or accept (register). Env: VOLTAIC_UNKNOWN_STATIONS. Default: reject")
    var unknownStations: String?

    @Option(name: .customLong("node-id"), help: "Name of this node in a cluster. Env: VOLTAIC_NODE_ID. Default: the host name")
    var nodeId: String?

    @Option(name: .customLong("api-timeout"), help: "Seconds an admin API request may take before it is answered 503. Env: VOLTAIC_API_TIMEOUT. Default: 5")
    var apiTimeout: Double?

    @Option(name: .customLong("idle-timeout"), help: "Seconds an idle HTTP connection is kept open. Env: VOLTAIC_IDLE_TIMEOUT. Default: 60")
    var idleTimeout: Double?

    @Option(name: .customLong("db-timeout"), help: "Seconds a station message or health check may wait for PostgreSQL before it is answered InternalError/503. Env: VOLTAIC_DB_TIMEOUT. Default: 5")
    var dbTimeout: Double?

    @Option(name: .customLong("max-unknown-stations"), help: "How many stations --unknown-stations accept|pending may register. Env: VOLTAIC_MAX_UNKNOWN_STATIONS. Default: 100")
    var maxUnknownStations: Int?

    @Option(name: .customLong("stale-transaction-after"), help: "Hours without a message after which an Active transaction is ended by policy; 0 never. Env: VOLTAIC_STALE_TRANSACTION_AFTER. Default: 72")
    var staleTransactionAfter: Double?

    @Option(name: .customLong("max-connections"), help: "Most stations connected at once; more get 503. At most the open-file limit less 512. Env: VOLTAIC_MAX_CONNECTIONS. Default: 15000, or that limit if lower")
    var maxConnections: Int?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error. Env: VOLTAIC_LOG_LEVEL. Default: info")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "text, or json (one object per line, metadata as fields). Env: VOLTAIC_LOG_FORMAT. Default: text")
    var logFormat: String?

    @Option(name: .customLong("public-url"), help: "The scheme, host and port OCPI partners reach this server at (behind a proxy, the proxy's), e.g. https://cpo.example.com. Env: VOLTAIC_PUBLIC_URL. Default: http://<host>:<port>")
    var publicURL: String?

    @Option(name: .customLong("ocpi-party"), help: "The CPO's OCPI country code and party id, e.g. NL-VOL. Env: VOLTAIC_OCPI_PARTY. Default: NL-VOL")
    var ocpiParty: String?

    @Option(name: .customLong("ocpi-name"), help: "The CPO's business name in OCPI credentials. Env: VOLTAIC_OCPI_NAME. Default: Voltaic")
    var ocpiName: String?

    @Option(name: .customLong("ocpi-partner-timeout"), help: "Seconds one call to an OCPI partner may take. Env: VOLTAIC_OCPI_PARTNER_TIMEOUT. Default: 10")
    var ocpiPartnerTimeout: Double?

    @Option(name: .customLong("ocpi-push-attempts"), help: "Attempts of one OCPI push before it is a dead letter (listed, and replayed, under /api/v1/ocpi/pushes). Env: VOLTAIC_OCPI_PUSH_ATTEMPTS. Default: 15")
    var ocpiPushAttempts: Int?

    @Option(name: .customLong("ocpi-push-backoff"), help: "Seconds before the first retry of a failed OCPI push; each further one doubles it, with jitter. Env: VOLTAIC_OCPI_PUSH_BACKOFF. Default: 2")
    var ocpiPushBackoff: Double?

    @Option(name: .customLong("ocpi-push-backoff-max"), help: "The longest wait between two attempts of an OCPI push, in seconds. Env: VOLTAIC_OCPI_PUSH_BACKOFF_MAX. Default: 600")
    var ocpiPushBackoffMax: Double?

    @Flag(name: .customLong("no-open-data"), help: "Do not serve the published locations without a token at /ocpi/open/locations. Env: VOLTAIC_OPEN_DATA=0")
    var noOpenData = false

    @Option(name: .customLong("ocpi-session-updates"), help: "Seconds between two pushes of a charging session's progress (energy, periods, cost so far) to its eMSP. Env: VOLTAIC_OCPI_SESSION_UPDATES. Default: 60")
    var ocpiSessionUpdates: Double?

    @Option(name: .customLong("receipt-key-file"), help: "The Ed25519 key that signs receipts (64 hex digits); made, owner-only, where missing. Every node must use the same one. Env: VOLTAIC_RECEIPT_KEY_FILE. Default: <data-dir>/receipt.key")
    var receiptKeyFile: String?

    @Option(name: .customLong("hold-minutes"), help: "Minutes of charging at the EVSE's power that a funds hold covers, priced by its tariff. Env: VOLTAIC_HOLD_MINUTES. Default: 60")
    var holdMinutes: Int?

    @Option(name: .customLong("hold-cap"), help: "The most one funds hold blocks, in the tariff's currency (e.g. 50.00); none by default. Env: VOLTAIC_HOLD_CAP")
    var holdCap: String?

    @Option(name: .customLong("hold-reached"), help: "When a session's cost reaches its hold: stop (RemoteStop/RequestStop), or extend (double the hold while the driver's funds allow, then stop). Env: VOLTAIC_HOLD_REACHED. Default: stop")
    var holdReached: String?

    @Option(name: .customLong("batch-size"), help: "Receipts per Merkle batch at most. Env: VOLTAIC_BATCH_SIZE. Default: 1000")
    var batchSize: Int?

    @Option(name: .customLong("batch-interval"), help: "Seconds the oldest receipt waits before its batch is closed anyway. Env: VOLTAIC_BATCH_INTERVAL. Default: 60")
    var batchInterval: Double?

    @Option(name: .customLong("chain-rpc"), help: "JSON-RPC URL of the anchoring chain. Without it, batches and roots are recorded and anchoring waits. Env: VOLTAIC_CHAIN_RPC")
    var chainRPC: String?

    @Option(name: .customLong("chain-key-file"), help: "File with the anchoring key (64 hex digits), readable by its owner only. Env: VOLTAIC_CHAIN_KEY_FILE")
    var chainKeyFile: String?

    @Option(name: .customLong("chain-contract"), help: "Address of the anchor contract (voltaic chain deploy). Env: VOLTAIC_CHAIN_CONTRACT")
    var chainContract: String?

    @Option(name: .customLong("chain-confirmations"), help: "Confirmations that make an anchor final where the node has no finalized tag. Env: VOLTAIC_CHAIN_CONFIRMATIONS. Default: 3")
    var chainConfirmations: UInt64?

    @Option(name: .customLong("chain-poll-interval"), help: "Seconds between two looks at the chain. Env: VOLTAIC_CHAIN_POLL_INTERVAL. Default: 2")
    var chainPollInterval: Double?

    @Option(name: .customLong("tls-port"), help: "Port of the wss:// (TLS) listener, for security profiles 2 and 3; needs --tls-certificate and --tls-key. Env: VOLTAIC_TLS_PORT")
    var tlsPort: Int?

    @Option(name: .customLong("tls-certificate"), help: "The server certificate chain (PEM, leaf first); reloaded on SIGHUP. Env: VOLTAIC_TLS_CERTIFICATE")
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: "The server key (PEM), readable by its owner only; reloaded on SIGHUP. Env: VOLTAIC_TLS_KEY")
    var tlsKey: String?

    @Option(name: .customLong("client-ca"), help: "A PEM file of roots that station client certificates (profile 3) may chain to, besides the station CA (repeat for several). Env: VOLTAIC_CLIENT_CA (comma-separated)")
    var clientCA: [String] = []

    @Option(name: .customLong("operator-organization"), help: "The O that station certificates and CSRs must carry (A00.FR.404). Env: VOLTAIC_OPERATOR_ORGANIZATION")
    var operatorOrganization: String?

    @Flag(name: .customLong("no-plain"), help: "Turn the plain listener (ws://, http://) off: only the TLS listener runs. Env: VOLTAIC_PLAIN=0")
    var noPlain = false

    @Option(name: .customLong("station-ca-certificate"), help: "The station CA's certificate (PEM): it signs stations' CSRs, and profile 3 trusts it. Env: VOLTAIC_STATION_CA_CERTIFICATE")
    var stationCACertificate: String?

    @Option(name: .customLong("station-ca-key"), help: "The station CA's key (PEM), readable by its owner only. Env: VOLTAIC_STATION_CA_KEY")
    var stationCAKey: String?

    @Option(name: .customLong("certificate-days"), help: "Days a signed station certificate is valid. Env: VOLTAIC_CERTIFICATE_DAYS. Default: 365")
    var certificateDays: Int?

    @Option(name: .customLong("renew-before-days"), help: "Days before its end that a station certificate is renewed (the station is asked for a CSR). Env: VOLTAIC_RENEW_BEFORE_DAYS. Default: 30")
    var renewBeforeDays: Double?

    @Option(name: .customLong("renewal-interval"), help: "Seconds between two looks for certificates to renew. Env: VOLTAIC_RENEWAL_INTERVAL. Default: 3600")
    var renewalInterval: Double?

    @Option(name: .customLong("contract-root"), help: "A PEM file of V2G or mobility-operator roots (and sub-CAs) for Plug & Charge contracts (repeat for several). Env: VOLTAIC_CONTRACT_ROOT (comma-separated)")
    var contractRoot: [String] = []

    @Option(name: .customLong("firmware-root"), help: "A PEM file of manufacturer roots that firmware signing certificates must chain to; a signed update is sent only once its image verifies (repeat for several). Env: VOLTAIC_FIRMWARE_ROOT (comma-separated)")
    var firmwareRoot: [String] = []

    @Option(name: .customLong("contract-pool-url"), help: "The contract certificate pool that answers the car's certificate installation (Get15118EVCertificate), as JSON over HTTP. Env: VOLTAIC_CONTRACT_POOL_URL")
    var contractPoolURL: String?

    @Flag(name: .customLong("ocsp"), help: "Ask contract certificates' OCSP responders (after the local status list), and relay GetCertificateStatus. Env: VOLTAIC_OCSP=1")
    var ocsp = false

    /// Every station holds a descriptor: the cap stays below the file limit (raised to its hard value).
    /// Default 15,000 or what the limit allows; `--max-connections` may go up to the limit.
    static func stationCap(_ flag: Int?, env: [String: String]) throws -> Int {
        let fileCap = FileLimit.stationCap(forLimit: FileLimit.raise())
        guard let n = try flag ?? env["VOLTAIC_MAX_CONNECTIONS"].map({ text in
            guard let n = Int(text) else { throw ValidationError("VOLTAIC_MAX_CONNECTIONS is not valid: \(text)") }
            return n
        }) else { return min(15_000, fileCap) }
        guard (1...fileCap).contains(n) else {
            throw ValidationError("--max-connections is 1 to \(fileCap) here (the open-file limit less \(FileLimit.reserve)); raise the limit (ulimit -n) for more")
        }
        return n
    }

    func validate() throws {
        _ = try Self.stationCap(maxConnections, env: ProcessInfo.processInfo.environment)
        if let f = logFormat ?? ProcessInfo.processInfo.environment["VOLTAIC_LOG_FORMAT"], !["text", "json"].contains(f) {
            throw ValidationError("--log-format is text or json, not '\(f)'")
        }
        if let l = logLevel ?? ProcessInfo.processInfo.environment["VOLTAIC_LOG_LEVEL"], Logger.Level(rawValue: l) == nil {
            throw ValidationError("--log-level is trace, debug, info, notice, warning, error or critical, not '\(l)'")
        }
    }

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        if (logFormat ?? env["VOLTAIC_LOG_FORMAT"]) == "json" {
            LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        }
        let logger = makeLogger(logLevel)
        // The embedded cluster is stopped on shutdown, also when an earlier crash left it running.
        let (location, _) = try await database.open(logger: logger)
        let embedded = database.isEmbedded ? try EmbeddedPostgres(dataDirectory: database.resolvedDataDirectory + "/postgres", logger: logger) : nil
        defer { embedded?.stop() }
        var config = ServerConfiguration(
            database: location, migrationsDirectory: try database.migrations(),
            adminToken: try resolveAdminToken(env: env)
        )
        /// A flag wins over its environment variable, which wins over the default.
        func setting<T: LosslessStringConvertible>(_ flag: T?, _ variable: String) throws -> T? {
            if let flag { return flag }
            guard let text = env[variable] else { return nil }
            guard let value = T(text) else { throw ValidationError("\(variable) is not valid: \(text)") }
            return value
        }
        config.host = try setting(host, "VOLTAIC_HOST") ?? config.host
        config.port = try setting(port, "VOLTAIC_PORT") ?? config.port
        config.migrate = migrate || database.isEmbedded || env["VOLTAIC_MIGRATE"] == "1"
        config.pooledDatabase = databasePooled || env["VOLTAIC_DATABASE_POOLED"] == "1"
        if let session = databaseSessionURL ?? env["VOLTAIC_DATABASE_SESSION_URL"] {
            config.sessionDatabase = .url(session)
            _ = try DatabaseLocation.url(session).clientConfiguration()
        }
        if config.pooledDatabase, config.sessionDatabase == nil {
            throw ValidationError("--database-pooled needs --database-session-url: LISTEN and the session locks cannot run through a pooler in transaction mode")
        }
        config.maxFrameSize = try setting(maxFrameSize, "VOLTAIC_MAX_FRAME_SIZE") ?? config.maxFrameSize
        if let s: Double = try setting(pingInterval, "VOLTAIC_PING_INTERVAL") { config.pingInterval = .milliseconds(Int(s * 1000)) }
        if let s: Double = try setting(callTimeout, "VOLTAIC_CALL_TIMEOUT") { config.callTimeout = .milliseconds(Int(s * 1000)) }
        config.heartbeatInterval = try setting(heartbeatInterval, "VOLTAIC_HEARTBEAT_INTERVAL") ?? config.heartbeatInterval
        if let p: String = try setting(unknownStations, "VOLTAIC_UNKNOWN_STATIONS") {
            guard let policy = UnknownStationPolicy(rawValue: p) else { throw ValidationError("--unknown-stations is reject, pending or accept") }
            config.unknownStations = policy
        }
        config.nodeId = try setting(nodeId, "VOLTAIC_NODE_ID") ?? config.nodeId
        if let s: Double = try setting(apiTimeout, "VOLTAIC_API_TIMEOUT") {
            guard s > 0, s <= 3600 else { throw ValidationError("--api-timeout is more than 0 and at most 3600 seconds") }
            config.apiTimeout = .milliseconds(Int(s * 1000))
        }
        if let s: Double = try setting(idleTimeout, "VOLTAIC_IDLE_TIMEOUT") {
            guard s > 0 else { throw ValidationError("--idle-timeout is more than 0 seconds") }
            config.idleTimeout = .milliseconds(Int(s * 1000))
        }
        if let s: Double = try setting(dbTimeout, "VOLTAIC_DB_TIMEOUT") {
            guard s >= 0.1, s <= 600 else { throw ValidationError("--db-timeout is at least 0.1 and at most 600 seconds") }
            config.databaseTimeout = .milliseconds(Int(s * 1000))
        }
        if let n: Int = try setting(maxUnknownStations, "VOLTAIC_MAX_UNKNOWN_STATIONS") {
            guard n >= 0 else { throw ValidationError("--max-unknown-stations is 0 or more") }
            config.maxUnknownStations = n
        }
        if let h: Double = try setting(staleTransactionAfter, "VOLTAIC_STALE_TRANSACTION_AFTER") {
            guard h >= 0, h <= 24 * 365 else { throw ValidationError("--stale-transaction-after is 0 (never) to 8760 hours") }
            config.staleTransactionAfter = h == 0 ? nil : .seconds(Int(h * 3600))
        }
        config.maxConnections = try Self.stationCap(maxConnections, env: env)
        if let url: String = try setting(publicURL, "VOLTAIC_PUBLIC_URL") {
            let lower = url.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), url.count <= 200, !url.contains(" ") else {
                throw ValidationError("--public-url is an http(s) URL of at most 200 characters, not '\(url)'")
            }
            config.ocpi.publicBaseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        if let party: String = try setting(ocpiParty, "VOLTAIC_OCPI_PARTY") {
            let parts = party.split(separator: "-")
            let alnum: (Substring) -> Bool = { $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } }
            guard parts.count == 2, parts[0].count == 2, parts[1].count == 3, alnum(parts[0]), alnum(parts[1]) else {
                throw ValidationError("--ocpi-party is a country code and a party id, e.g. NL-VOL, not '\(party)'")
            }
            config.ocpi.countryCode = parts[0].uppercased()
            config.ocpi.partyId = parts[1].uppercased()
        }
        if let name: String = try setting(ocpiName, "VOLTAIC_OCPI_NAME") {
            guard (1...100).contains(name.count) else { throw ValidationError("--ocpi-name is 1 to 100 characters") }
            config.ocpi.businessName = name
        }
        if let s: Double = try setting(ocpiPartnerTimeout, "VOLTAIC_OCPI_PARTNER_TIMEOUT") {
            guard s >= 0.1, s <= 300 else { throw ValidationError("--ocpi-partner-timeout is at least 0.1 and at most 300 seconds") }
            config.ocpi.partnerTimeout = .milliseconds(Int(s * 1000))
        }
        if let n: Int = try setting(ocpiPushAttempts, "VOLTAIC_OCPI_PUSH_ATTEMPTS") {
            guard (1...1000).contains(n) else { throw ValidationError("--ocpi-push-attempts is 1 to 1000") }
            config.ocpi.pushAttempts = n
        }
        if let s: Double = try setting(ocpiPushBackoff, "VOLTAIC_OCPI_PUSH_BACKOFF") {
            guard s >= 0.01, s <= 3600 else { throw ValidationError("--ocpi-push-backoff is at least 0.01 and at most 3600 seconds") }
            config.ocpi.pushBackoff = .milliseconds(Int(s * 1000))
        }
        if let s: Double = try setting(ocpiPushBackoffMax, "VOLTAIC_OCPI_PUSH_BACKOFF_MAX") {
            guard s >= 0.01, s <= 86_400 else { throw ValidationError("--ocpi-push-backoff-max is at least 0.01 and at most 86400 seconds") }
            config.ocpi.pushBackoffMax = .milliseconds(Int(s * 1000))
        }
        if noOpenData || env["VOLTAIC_OPEN_DATA"] == "0" { config.ocpi.openData = false }
        if let s: Double = try setting(ocpiSessionUpdates, "VOLTAIC_OCPI_SESSION_UPDATES") {
            guard s >= 0.5, s <= 86_400 else { throw ValidationError("--ocpi-session-updates is at least 0.5 and at most 86400 seconds") }
            config.ocpi.sessionUpdateInterval = .milliseconds(Int(s * 1000))
        }
        guard config.ocpi.pushBackoffMax >= config.ocpi.pushBackoff else {
            throw ValidationError("--ocpi-push-backoff-max must not be below --ocpi-push-backoff")
        }
        guard config.maxFrameSize >= 1024 else { throw ValidationError("--max-frame-size must be at least 1024") }
        config.settlement.receiptKeyFile = receiptKeyFile ?? env["VOLTAIC_RECEIPT_KEY_FILE"] ?? database.resolvedDataDirectory + "/receipt.key"
        if let n: Int = try setting(holdMinutes, "VOLTAIC_HOLD_MINUTES") {
            guard (1...10_080).contains(n) else { throw ValidationError("--hold-minutes is 1 to 10080") }
            config.settlement.holdMinutes = n
        }
        if let text = holdCap ?? env["VOLTAIC_HOLD_CAP"] {
            do { config.settlement.holdCap = try Amounts.parse(text) } catch { throw ValidationError("--hold-cap: \(error)") }
        }
        if let text = holdReached ?? env["VOLTAIC_HOLD_REACHED"] {
            guard let value = SettlementConfiguration.HoldReached(rawValue: text) else { throw ValidationError("--hold-reached is stop or extend, not '\(text.prefix(20))'") }
            config.settlement.holdReached = value
        }
        if let n: Int = try setting(batchSize, "VOLTAIC_BATCH_SIZE") {
            guard (1...100_000).contains(n) else { throw ValidationError("--batch-size is 1 to 100000") }
            config.settlement.batchSize = n
        }
        if let s: Double = try setting(batchInterval, "VOLTAIC_BATCH_INTERVAL") {
            guard s >= 0.1, s <= 86_400 else { throw ValidationError("--batch-interval is at least 0.1 and at most 86400 seconds") }
            config.settlement.batchInterval = .milliseconds(Int(s * 1000))
        }
        config.settlement.chainRPC = chainRPC ?? env["VOLTAIC_CHAIN_RPC"]
        config.settlement.chainKeyFile = chainKeyFile ?? env["VOLTAIC_CHAIN_KEY_FILE"]
        config.settlement.chainContract = chainContract ?? env["VOLTAIC_CHAIN_CONTRACT"]
        if let n: UInt64 = try setting(chainConfirmations, "VOLTAIC_CHAIN_CONFIRMATIONS") {
            guard (1...1000).contains(n) else { throw ValidationError("--chain-confirmations is 1 to 1000") }
            config.settlement.chainConfirmations = n
        }
        if let s: Double = try setting(chainPollInterval, "VOLTAIC_CHAIN_POLL_INTERVAL") {
            guard s >= 0.05, s <= 3600 else { throw ValidationError("--chain-poll-interval is at least 0.05 and at most 3600 seconds") }
            config.settlement.chainPollInterval = .milliseconds(Int(s * 1000))
        }

        try applySecurity(to: &config, env: env)
        let app = try await buildApplication(config, logger: logger)
        try await app.runService()
    }

    private func applySecurity(to config: inout ServerConfiguration, env: [String: String]) throws {
        func list(_ flag: [String], _ key: String) -> [String] { flag.isEmpty ? (env[key]?.split(separator: ",").map(String.init) ?? []) : flag }
        func setting<T: LosslessStringConvertible>(_ flag: T?, _ variable: String) throws -> T? {
            if let flag { return flag }
            guard let text = env[variable] else { return nil }
            guard let value = T(text) else { throw ValidationError("\(variable) is not valid: \(text)") }
            return value
        }
        let port: Int? = try setting(tlsPort, "VOLTAIC_TLS_PORT")
        let certificate = tlsCertificate ?? env["VOLTAIC_TLS_CERTIFICATE"]
        let key = tlsKey ?? env["VOLTAIC_TLS_KEY"]
        switch (port, certificate, key) {
        case (nil, nil, nil): break
        case (let port?, let certificate?, let key?):
            guard (0...65535).contains(port) else { throw ValidationError("--tls-port is 0 to 65535") }
            var tls = TLSSettings(port: port, certificateFile: certificate, keyFile: key)
            tls.clientRootFiles = list(clientCA, "VOLTAIC_CLIENT_CA")
            tls.organization = operatorOrganization ?? env["VOLTAIC_OPERATOR_ORGANIZATION"]
            config.tls = tls
        default:
            throw ValidationError("--tls-port, --tls-certificate and --tls-key go together")
        }
        if noPlain || env["VOLTAIC_PLAIN"] == "0" {
            guard config.tls != nil else { throw ValidationError("--no-plain needs the TLS listener (--tls-port, --tls-certificate, --tls-key)") }
            config.plainListener = false
        }
        config.certificates.caCertificateFile = stationCACertificate ?? env["VOLTAIC_STATION_CA_CERTIFICATE"]
        config.certificates.caKeyFile = stationCAKey ?? env["VOLTAIC_STATION_CA_KEY"]
        if let n: Int = try setting(certificateDays, "VOLTAIC_CERTIFICATE_DAYS") {
            guard (1...3650).contains(n) else { throw ValidationError("--certificate-days is 1 to 3650") }
            config.certificates.validityDays = n
        }
        if let d: Double = try setting(renewBeforeDays, "VOLTAIC_RENEW_BEFORE_DAYS") {
            guard d >= 0, d <= 3650 else { throw ValidationError("--renew-before-days is 0 to 3650") }
            config.certificates.renewBefore = .milliseconds(Int(d * 86_400_000))
        }
        if let s: Double = try setting(renewalInterval, "VOLTAIC_RENEWAL_INTERVAL") {
            guard s >= 0.1, s <= 86400 else { throw ValidationError("--renewal-interval is 0.1 to 86400 seconds") }
            config.certificates.renewalInterval = .milliseconds(Int(s * 1000))
        }
        config.certificates.contractRootFiles = list(contractRoot, "VOLTAIC_CONTRACT_ROOT")
        config.certificates.ocsp = ocsp || env["VOLTAIC_OCSP"] == "1"
        config.certificates.firmwareRootFiles = list(firmwareRoot, "VOLTAIC_FIRMWARE_ROOT")
        if let url = contractPoolURL ?? env["VOLTAIC_CONTRACT_POOL_URL"] {
            guard let u = URL(string: url), ["http", "https"].contains(u.scheme?.lowercased() ?? "") else { throw ValidationError("--contract-pool-url is an http(s) URL") }
            config.certificates.contractPoolURL = url
        }
    }

    /// The admin token: flag, environment, or `<data-dir>/admin-token`, created (and printed once) on first run.
    private func resolveAdminToken(env: [String: String]) throws -> String {
        if let t = adminToken ?? env["VOLTAIC_ADMIN_TOKEN"] {
            guard t.count >= 16 else { throw ValidationError("the admin token must be at least 16 characters") }
            return t
        }
        let dir = database.resolvedDataDirectory
        let path = dir + "/admin-token"
        if let existing = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !existing.isEmpty {
            return existing
        }
        var bytes = [UInt8](repeating: 0, count: 24)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = rng.next() }
        let token = bytes.map { String(format: "%02x", $0) }.joined()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write the admin token to \(path)")
        }
        print("Admin API token (kept in \(path); shown only this once): \(token)")
        fflush(nil)  // all streams: the token must show before the server logs anything else
        return token
    }
}
