public import Foundation
public import Storage

/// What to do with a station id the CSMS does not know when it connects.
public enum UnknownStationPolicy: String, Sendable, CaseIterable {
    /// Refuse at the handshake (HTTP 404). The default: stations are added by an operator.
    case reject
    /// Accept the socket and answer BootNotification with Pending until an operator accepts it.
    case pending
    /// Register the station on first connect and accept it.
    case accept
}

/// Everything `voltaic serve` can be told, from flags or `VOLTAIC_*` variables.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8180
    public var database: DatabaseLocation
    /// A direct session for LISTEN and the session advisory locks (anchorer, migrator), where `database` is a pooler
    /// in transaction mode; nil: `database` itself.
    public var sessionDatabase: DatabaseLocation?
    /// `database` is a pooler in transaction mode: no statement is kept prepared by name, no startup parameter is sent.
    public var pooledDatabase = false
    /// Applies pending migrations at start even on an external database.
    public var migrate = false
    public var migrationsDirectory: String
    /// Bearer token for `/api/v1`.
    public var adminToken: String
    /// The largest WebSocket message accepted; larger ones close the socket with 1009.
    public var maxFrameSize = 1 << 20
    /// WebSocket ping period; a station that does not answer is dropped within two periods.
    public var pingInterval: Duration = .seconds(30)
    /// How long a CSMS→station CALL waits for its answer.
    public var callTimeout: Duration = .seconds(30)
    public var heartbeatInterval = 300
    public var unknownStations: UnknownStationPolicy = .reject
    /// This node's name in a cluster (`--node-id`).
    public var nodeId: String
    /// This process among the nodes: the name and a random suffix, so that two processes never share one (co-hosted
    /// nodes share a host name). It is what `stations.connected_node` and the `nodes` lease hold.
    public let instanceId: String = (0..<4).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    public var nodeInstance: String { "\(nodeId.prefix(80))-\(instanceId)" }
    /// The most stations connected at once; more are refused with 503. `voltaic serve` derives it from the
    /// open-file limit (`FileLimit`) unless `--max-connections` says less.
    public var maxConnections = 15_000
    /// The longest an admin API request may take; past it the answer is a 503 problem.
    public var apiTimeout: Duration = .seconds(5)
    /// An HTTP/1 connection with no request in flight is closed after this long.
    public var idleTimeout: Duration = .seconds(60)

    // Hardening of the OCPP side
    /// The longest a station's CALL waits for its COMMIT; past it the station gets InternalError.
    public var databaseTimeout: Duration = .seconds(5)
    /// An Active transaction with no message for this long is ended by policy (reason Stale); nil: never.
    public var staleTransactionAfter: Duration? = .seconds(72 * 3600)
    /// The most stations that `--unknown-stations accept|pending` may register.
    public var maxUnknownStations = 100
    /// Bytes of received frames being processed at once, across all stations; a frame beyond it is
    /// answered InternalError ("send it again") at once instead of being held.
    public var inflightFrameBudget = 256 << 20

    /// The `wss://` listener (security profiles 2 and 3); nil: none.
    public var tls: TLSSettings?
    /// Whether the plain listener (`ws://`, HTTP) runs at `port`; with TLS it may be turned off.
    public var plainListener = true
    /// The station CA, its certificate lifetime and the renewal window.
    public var certificates = CertificateSettings()

    /// The OCPI side: who Voltaic is to its roaming partners, and where they reach it.
    public var ocpi = OCPIConfiguration()
    public var settlement = SettlementConfiguration()

    public init(database: DatabaseLocation, migrationsDirectory: String, adminToken: String, nodeId: String = ProcessInfo.processInfo.hostName) {
        self.database = database
        self.migrationsDirectory = migrationsDirectory
        self.adminToken = adminToken
        self.nodeId = nodeId
    }
}

/// Who Voltaic is on OCPI, and the URL partners reach it at.
public struct OCPIConfiguration: Sendable {
    /// The scheme, host and port partners use, as seen from outside (behind a proxy: the proxy's). Nil: the
    /// listener's own address. `/ocpi/versions` is appended.
    public var publicBaseURL: String?
    /// The CPO party: ISO 3166 alpha-2 country code and party id, as in eMI3 ids.
    public var countryCode = "NL"
    public var partyId = "VOL"
    public var businessName = "Voltaic"
    /// The most objects of a list page (`X-Limit`).
    public var pageLimit = 100
    /// How long a call to a partner (its versions, details, pushes) may take.
    public var partnerTimeout: Duration = .seconds(10)
    /// Pushes: attempts before a dead letter, the first retry's wait (doubling, with jitter) and the longest wait.
    public var pushAttempts = 15
    public var pushBackoff: Duration = .seconds(2)
    public var pushBackoffMax: Duration = .seconds(600)
    /// Whether `/ocpi/open/locations` serves the published locations to anyone, without a token.
    public var openData = true
    /// How often a charging session's progress is pushed to its eMSP.
    public var sessionUpdateInterval: Duration = .seconds(60)

    public init() {}
}

/// Settlement: funds holds, capture into receipts, batches and their anchoring.
public struct SettlementConfiguration: Sendable {
    /// The Ed25519 receipt key (32 raw bytes, or 64 hex digits). Made, readable by its owner only, where missing.
    /// Every node of one system must use the same file. Empty: a key for this process only, never written (tests);
    /// `voltaic serve` always names a file (`<data-dir>/receipt.key` by default).
    public var receiptKeyFile = ""
    /// A hold covers this many minutes of charging at the EVSE's power, estimated by the tariff.
    public var holdMinutes = 60
    /// The most one hold blocks; nil for none.
    public var holdCap: Decimal?
    /// What happens when a session's cost reaches its hold: it is stopped, or its hold is doubled while the driver's
    /// funds allow (and stopped when they do not).
    public var holdReached: HoldReached = .stop

    public enum HoldReached: String, Sendable, CaseIterable { case stop, extend }
    /// A receipt batch is closed at this many receipts, or when its oldest receipt waited `batchInterval`.
    public var batchSize = 1000
    public var batchInterval: Duration = .seconds(60)
    /// The anchoring chain; without an RPC URL, batches and roots are recorded and anchoring waits.
    public var chainRPC: String?
    /// The key that signs anchor transactions: a file of 64 hex digits (an optional 0x), readable by its owner only.
    public var chainKeyFile: String?
    /// The anchor contract (`voltaic chain deploy` deploys one).
    public var chainContract: String?
    /// Confirmations that make an anchor final where the node has no `finalized` tag.
    public var chainConfirmations: UInt64 = 3
    /// How often the anchorer looks at the chain.
    public var chainPollInterval: Duration = .seconds(2)

    public init() {}
}

/// Station certificates and Plug & Charge.
public struct CertificateSettings: Sendable {
    /// Voltaic's station CA (certificate and key PEM files; the key readable by its owner only). Without it a
    /// SignCertificate is answered Rejected, unless an external CA is configured.
    public var caCertificateFile: String?
    public var caKeyFile: String?
    /// How long a signed station certificate is valid.
    public var validityDays = 365
    /// A certificate that ends within this window is renewed: the station is asked for a new CSR.
    public var renewBefore: Duration = .seconds(30 * 86400)
    /// How often the renewal worker looks, and how long it waits before asking a station again.
    public var renewalInterval: Duration = .seconds(3600)
    /// The V2G and mobility-operator roots that contract certificates (Plug & Charge) must chain to.
    public var contractRootFiles: [String] = []
    /// Ask the OCSP responders that contract certificates name, after the local status list.
    public var ocsp = false
    /// The contract certificate pool that answers Get15118EVCertificate (JSON over HTTP); nil: none, the car is told Failed.
    public var contractPoolURL: String?
    /// How long an OCSP responder or the contract pool may take.
    public var ocspTimeout: Duration = .seconds(5)
    /// The manufacturer roots that firmware signing certificates must chain to; without one, signed updates are refused.
    public var firmwareRootFiles: [String] = []
    /// Fetching a firmware image to check its signature: the longest it may take, and the largest image.
    public var firmwareTimeout: Duration = .seconds(120)
    public var firmwareMaxBytes = 512 << 20

    public init() {}
}
