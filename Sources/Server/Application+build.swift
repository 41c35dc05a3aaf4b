import AsyncHTTPClient
import CSMS
import Chain
import Settlement
import NIOCore
import NIOWebSocket
import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
public import Logging
import OCPP
import PostgresNIO
import ServiceLifecycle
import Storage
import Synchronization
import PKI

/// Builds the whole system on one listener: the OCPP WebSocket at `/ocpp/{stationId}`, the admin API
/// under `/api/v1` and `/health`. Tests build the same application.
public func buildApplication(_ config: ServerConfiguration, logger: Logger) async throws -> some ApplicationProtocol {
    let client = PostgresClient(configuration: try config.database.clientConfiguration(pooled: config.pooledDatabase), backgroundLogger: logger)
    // Behind a pooler in transaction mode: LISTEN and the session locks on a direct session of their own, and no
    // statement kept prepared by name (a transaction may run on another server session than the last).
    HotStatements.sendUnnamed(config.pooledDatabase)
    let sessionClient = try config.sessionDatabase.map { PostgresClient(configuration: try $0.clientConfiguration(), backgroundLogger: logger) }
    let migrator = Migrator(migrations: try Migration.load(directory: config.migrationsDirectory), logger: logger)
    let metrics = ServerMetrics()
    let committer = GroupCommitter(client: client, logger: logger, deadline: config.databaseTimeout) { size, wait, isolated in
        metrics.batch(size: size, wait: wait, isolated: isolated)
    }
    let repository = AdminRepository(client: client, logger: logger)
    let registry = StationRegistry()
    let signer = try ReceiptSigner.load(path: config.settlement.receiptKeyFile, logger: logger)
    let holdPolicy = HoldPolicy(minutes: config.settlement.holdMinutes, cap: config.settlement.holdCap)
    var service = ChargingService(heartbeatInterval: config.heartbeatInterval, funds: FundsService(policy: holdPolicy))
    let security = SecurityRepository(client: client, logger: logger)
    let pki = try PKISetup.load(config, security: security, logger: logger)
    service.certificates = pki.port
    service.realTime = OCPIRealTimeAuthorizer(
        reads: RealTimeAuthorizationRepository(client: client, logger: logger), partners: PartnerRepository(client: client, logger: logger),
        client: PartnerClient(http: .shared, timeout: config.ocpi.partnerTimeout), logger: logger
    )
    let settlements = SettlementRepository(client: client, logger: logger)
    let chain = try ChainSetup.load(config.settlement, client: client, sessionClient: sessionClient, logger: logger)
    let dispatcher = InboundDispatcher(
        runner: committer,
        adapters: [.v16: OCPP16Adapter(service: service), .v201: OCPP201Adapter(service: service)]
    )
    let liveness = LivenessRecorder(client: client, logger: logger, deadline: config.databaseTimeout)
    let processor = InboundProcessor(dispatcher: dispatcher, liveness: liveness, metrics: metrics)
    let maintenance = Maintenance(
        runner: committer, service: service, staleAfter: config.staleTransactionAfter, replyWindow: dispatcher.replayWindow,
        interval: .seconds(60), logger: logger
    )
    let schemaReady = StartupGate()
    let pushService = OCPIPushService(
        pushes: PushRepository(client: client, logger: logger), catalog: CatalogRepository(client: client, logger: logger),
        sessions: SessionRepository(client: client, logger: logger), commands: CommandRepository(client: client, logger: logger),
        sender: PushSender(http: .shared, timeout: config.ocpi.partnerTimeout, countryCode: config.ocpi.countryCode, partyId: config.ocpi.partyId),
        policy: PushPolicy(maxAttempts: config.ocpi.pushAttempts, backoff: config.ocpi.pushBackoff, maxBackoff: config.ocpi.pushBackoffMax),
        databaseTimeout: config.databaseTimeout, logger: logger, ready: schemaReady, sessionUpdates: config.ocpi.sessionUpdateInterval
    )
    let cluster = ClusterNode(
        id: config.nodeInstance, name: config.nodeId, repository: ClusterRepository(client: client, logger: logger, listenClient: sessionClient), registry: registry,
        databaseTimeout: config.databaseTimeout, logger: logger, ready: schemaReady
    )
    var commands = CommandDispatcher(registry: registry, repository: repository, callTimeout: config.callTimeout, metrics: metrics)
    commands.cluster = cluster
    cluster.dispatcher.withLock { [commands] in $0 = commands }

    let commandService = OCPICommandService(
        store: CommandRepository(client: client, logger: logger), registry: registry, dispatcher: commands,
        databaseTimeout: config.databaseTimeout, logger: logger, ready: schemaReady, settlements: SettlementRepository(client: client, logger: logger)
    )
    let router = buildRouter(
        client: client, registry: registry, repository: repository, commands: commands, runner: committer, service: service,
        adminToken: config.adminToken, logger: logger, metrics: MetricsEndpoint(metrics: metrics, repository: repository, liveness: liveness, pushes: PushRepository(client: client, logger: logger)),
        ocpi: config.ocpi, baseURL: config.ocpi.publicBaseURL ?? "http://\(config.host):\(config.port)", signer: signer,
        chain: chain.map { SettlementController.ChainInfo(rpc: $0.anchorer.rpc, contract: $0.anchorer.contract) },
        firmware: FirmwareGate(roots: pki.firmwareRoots, http: .shared, timeout: config.certificates.firmwareTimeout, maxBytes: config.certificates.firmwareMaxBytes)
    )
    var settlementService = SettlementService(
        repository: settlements, signer: signer, configuration: config.settlement, anchoring: chain, registry: registry, dispatcher: commands,
        databaseTimeout: config.databaseTimeout, logger: logger, ready: schemaReady
    )
    settlementService.node = config.nodeInstance
    let wsRouter = Router(context: OCPPUpgradeContext.self)
    let revocations = RevocationList()
    var endpoint = OCPPEndpoint(
        configuration: config, registry: registry, repository: repository, processor: processor, passwords: PasswordVerifier(), metrics: metrics, presence: liveness,
        budget: InflightBudget(limit: config.inflightFrameBudget), logger: logger
    )
    endpoint.revocations = revocations
    endpoint.addRoutes(to: wsRouter)

    let certificateService = CertificateService(
        repository: security, issuer: pki.issuer, organization: config.tls?.organization, dispatcher: commands, settings: config.certificates, logger: logger,
        ready: schemaReady
    )
    let material = try config.tls.map { try TLSMaterial(settings: $0, stationCAFile: config.certificates.caCertificateFile, logger: logger) }
    var tlsMaintenance = TLSMaintenance(
        material: material, revoked: revocations, load: { try await security.revokedFingerprints() }, interval: .seconds(5), logger: logger
    )
    tlsMaintenance.ready = schemaReady
    // A station connected here with a certificate that was just revoked is disconnected; it cannot come back with it.
    tlsMaintenance.onRevoked = { [registry] fingerprints in
        guard let ids = try? await security.stations(usingCertificates: fingerprints) else { return }
        for id in ids {
            guard let session = registry.session(id) else { continue }
            logger.notice("closing a connection whose client certificate was revoked", metadata: ["ocpp.station.id": "\(id)"])
            await session.close(code: .policyViolation, reason: "client certificate revoked")
        }
    }

    let wsResponder = wsRouter.buildResponder()
    let wsConfiguration = HTTP1WebSocketUpgradeChannel.Configuration(
        http1: .init(additionalChannelHandlers: [HandshakeRejectionHandler()], idleTimeout: TimeAmount(config.idleTimeout)),
        ws: .init(maxFrameSize: config.maxFrameSize, autoPing: .enabled(timePeriod: config.pingInterval), closeTimeout: .seconds(5), validateUTF8: true)
    )
    // A command waits for its station up to the call timeout; the API deadline leaves it room to say 504.
    let httpRouter = DeadlineRouter(
        inner: router, limit: config.apiTimeout, stationWait: config.callTimeout, partnerWait: config.ocpi.partnerTimeout,
        firmwareWait: config.certificates.firmwareTimeout
    )
    @Sendable func plain(_ responder: @escaping HTTPChannelHandler.Responder) -> MalformedRequestGuard<HTTP1WebSocketUpgradeChannel> {
        MalformedRequestGuard(
            inner: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: wsResponder, configuration: wsConfiguration),
            firstRequestTimeout: TimeAmount(config.idleTimeout)
        )
    }
    var services: [any Service] = [client, committer, liveness, maintenance, pushService, commandService, settlementService, cluster, certificateService, tlsMaintenance]
    if let sessionClient { services.insert(sessionClient, at: 1) }
    let mainServer: HTTPServerBuilder
    let mainPort: Int
    if let material, let tls = config.tls {
        let check = ClientCertificateCheck(material: material, revoked: revocations, metrics: metrics, logger: logger)
        let secure = HTTPServerBuilder { responder in StationTLSChannel(base: plain(responder), material: material, check: check) }
        if config.plainListener {
            // The same routes on a second listener, with TLS (and the plain one as it was).
            services.append(
                Application(router: httpRouter, server: secure, configuration: .init(address: .hostname(config.host, port: tls.port), serverName: "voltaic"), logger: logger)
            )
            mainServer = HTTPServerBuilder { responder in plain(responder) }
            mainPort = config.port
        } else {
            mainServer = secure
            mainPort = tls.port
        }
    } else {
        mainServer = HTTPServerBuilder { responder in plain(responder) }
        mainPort = config.port
    }
    var app = Application(
        router: httpRouter, server: mainServer, configuration: .init(address: .hostname(config.host, port: mainPort), serverName: "voltaic"),
        services: services, logger: logger
    )
    app.beforeServerStarts {
        if config.migrate {
            try await migrator.migrate(sessionClient ?? client)
        } else {
            let pending = try await migrator.pending(sessionClient ?? client)
            if !pending.isEmpty {
                throw MigrationError(
                    "the database has \(pending.count) pending migration(s) (\(pending.map { "\($0.version)_\($0.name)" }.joined(separator: ", "))); run 'voltaic migrate' or start with --migrate"
                )
            }
        }
        // The lease first: a node that holds stations is one the others see alive. What an earlier process of this
        // node held is swept once its lease lapses.
        try await cluster.join()
        // The revocation list before the first client certificate is looked at (until then none is accepted).
        revocations.replace(with: try await security.revokedFingerprints())
        schemaReady.open()
    }
    return app
}

/// The HTTP side: `/health` and the admin API under `/api/v1`, behind API keys with roles and the audit log.
func buildRouter(
    client: PostgresClient, registry: StationRegistry, repository: AdminRepository, commands: CommandDispatcher,
    runner: any TransactionRunner, service: ChargingService, adminToken: String, logger: Logger, metrics: MetricsEndpoint? = nil,
    ocpi: OCPIConfiguration = OCPIConfiguration(), baseURL: String = "http://127.0.0.1:8180", signer: ReceiptSigner = ReceiptSigner(),
    chain: SettlementController.ChainInfo? = nil, firmware: FirmwareGate? = nil
) -> Router<AdminContext> {
    let router = Router(context: AdminContext.self)
    let routes = RouteTable()
    router.add(middleware: ProblemMiddleware())
    router.add(middleware: MethodNotAllowedMiddleware(routes: routes))
    let health = HealthProbe(client: client, logger: logger)
    router.get("/health") { _, _ -> Response in
        let up = await health.databaseUp()
        let body = #"{"status":"\#(up ? "ok" : "degraded")","database":"\#(up ? "ok" : "down")","stationsConnected":\#(registry.count)}"#
        return Response(status: up ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
    // Liveness: the process answers. Readiness (/health) also needs the database; an orchestrator that restarted
    // every node when PostgreSQL is down would drop every charger for nothing.
    router.get("/health/live") { _, _ -> Response in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
    }
    let access = AccessRepository(client: client, logger: logger)
    if let metrics {
        // Any valid API key may scrape (viewer is enough); the numbers say how big the fleet is.
        router.group("/metrics").add(middleware: AccessMiddleware(bootstrap: BootstrapToken(adminToken), access: access)).get { _, _ in
            await metrics.response()
        }
    }
    let api = router.group("/api/v1")
        .add(middleware: AccessMiddleware(bootstrap: BootstrapToken(adminToken), access: access))
        .add(middleware: InputGuardMiddleware())
    var admin = AdminController(repository: repository, registry: registry, commands: commands, runner: runner, service: service)
    admin.firmware = firmware
    admin.addRoutes(to: api)
    AccessController(access: access).addRoutes(to: api)
    let catalog = CatalogRepository(client: client, logger: logger)
    let partners = PartnerRepository(client: client, logger: logger)
    CatalogController(catalog: catalog, runner: runner).addRoutes(to: api)
    let ocpiController = OCPIController(
        partners: partners, catalog: catalog, configuration: ocpi, baseURL: baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL,
        client: PartnerClient(http: .shared, timeout: ocpi.partnerTimeout), runner: runner, sessions: SessionRepository(client: client, logger: logger),
        commandStore: CommandRepository(client: client, logger: logger), commandTimeout: commands.callTimeout,
        settlements: SettlementRepository(client: client, logger: logger), reservations: repository
    )
    PartnerController(partners: partners, versionsURL: ocpiController.versionsURL).addRoutes(to: api)
    PushController(pushes: PushRepository(client: client, logger: logger)).addRoutes(to: api)
    ocpiController.addAdminRoutes(to: api)
    ocpiController.addRoutes(to: router)
    let settlement = SettlementController(
        repository: SettlementRepository(client: client, logger: logger), signer: signer,
        anchors: chain == nil ? nil : PostgresAnchorStore(client: client, logger: logger), chain: chain,
        baseURL: (ocpi.publicBaseURL ?? baseURL).hasSuffix("/") ? String((ocpi.publicBaseURL ?? baseURL).dropLast()) : (ocpi.publicBaseURL ?? baseURL),
        runner: runner, bookingService: BookingService(policy: service.funds?.policy ?? HoldPolicy())
    )
    settlement.addRoutes(to: api)
    CertificateController(security: SecurityRepository(client: client, logger: logger), commands: commands, repository: repository, firmware: firmware).addRoutes(to: api)
    settlement.addPublicRoutes(to: router)
    routes.load(router.routes.map { (path: $0.path.description, method: $0.method) })
    return router
}
