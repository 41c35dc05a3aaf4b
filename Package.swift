// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "voltaic",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "voltaic", targets: ["voltaic"]),
        .library(name: "OCPP", targets: ["OCPP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket.git", from: "1.6.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    ],
    targets: [
        // OCPP-J wire format, generated message types and schema validation. Pure.
        .target(name: "OCPP", swiftSettings: swiftSettings),
        // Debian's libsecp256k1 (with its recovery module), for EVM signing.
        .systemLibrary(name: "CSecp256k1", pkgConfig: "libsecp256k1", providers: [.apt(["libsecp256k1-dev"])]),
        // EVM anchoring: Keccak-256, RLP, secp256k1 signing, EIP-155/1559 transactions, the anchor ABI,
        // JSON-RPC, the anchoring state machine, RFC 6962 Merkle trees and proof bundles.
        .target(
            name: "Chain",
            dependencies: [
                "CSecp256k1",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            exclude: ["Contract/Anchor.vy", "Contract/Anchor.json"],
            swiftSettings: swiftSettings
        ),
        // OCPI 2.2.1 (and 2.1.1) objects with their field rules, and the OCPI DateTime. Pure, Foundation only.
        .target(name: "OCPI", swiftSettings: swiftSettings),
        // Settlement: the exact tariff pricing engine (and, later, holds, the ledger and receipts). Pure.
        .target(name: "Settlement", dependencies: ["OCPI", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: swiftSettings),
        // Station and contract certificates: the station CA (CSR checks and signing), chain checks against a set of
        // roots with Voltaic's revocation list, ISO 15118 certificate ids, and the status sources. Pure but for OCSP.
        .target(
            name: "PKI",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The version-neutral domain: stations, EVSEs, tokens, transactions and the rules over them.
        .target(name: "CSMS", dependencies: ["OCPP", "OCPI", "Settlement"], swiftSettings: swiftSettings),
        // An in-memory UnitOfWork with the PostgreSQL schema's keys, conflicts and column ranges, and the
        // inbound pipeline (frame to reply) over any TransactionRunner: for the fuzzer and replay tests.
        .target(name: "CSMSMemory", dependencies: ["CSMS", "OCPP", "OCPI"], swiftSettings: swiftSettings),
        // PostgreSQL: repositories, migrations, the embedded cluster launcher.
        .target(
            name: "Storage",
            dependencies: [
                "CSMS", "OCPI", "Settlement", "Chain", "PKI",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // Transport: Hummingbird application, OCPP WebSocket endpoint, admin API.
        .target(
            name: "Server",
            dependencies: [
                "OCPP", "OCPI", "CSMS", "Storage", "Settlement", "Chain", "PKI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "voltaic",
            dependencies: [
                "Server", "Storage", "CSMS", "OCPP", "Chain", "OCPI", "Settlement", "PKI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The libFuzzer harness over the inbound path. A plain build makes a replay tool (inputs as arguments);
        // Scripts/fuzz builds it with -sanitize=fuzzer -DVOLTAIC_LIBFUZZER into the fuzzer.
        .executableTarget(name: "voltaic-fuzz", dependencies: ["CSMSMemory", "CSMS", "OCPP"], path: "Sources/VoltaicFuzz", swiftSettings: swiftSettings),
        // Test support: one embedded PostgreSQL cluster per test process, a fresh database per test.
        .target(
            name: "TestSupport",
            dependencies: ["Storage", .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "OCPPTests", dependencies: ["OCPP"], swiftSettings: swiftSettings),
        // Storage only for ChildProcess, which starts the test EVM as it starts PostgreSQL.
        .testTarget(name: "ChainTests", dependencies: ["Chain", "Storage"], exclude: ["Vectors"], swiftSettings: swiftSettings),
        .testTarget(name: "OCPITests", dependencies: ["OCPI"], swiftSettings: swiftSettings),
        .testTarget(name: "PKITests", dependencies: ["PKI", .product(name: "SwiftASN1", package: "swift-asn1"), .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto")], swiftSettings: swiftSettings),
        .testTarget(name: "SettlementTests", dependencies: ["Settlement", "OCPI"], swiftSettings: swiftSettings),
        .testTarget(name: "CSMSTests", dependencies: ["CSMS", "OCPP", "OCPI", "CSMSMemory"], swiftSettings: swiftSettings),
        .testTarget(
            name: "StorageTests",
            dependencies: ["Storage", "CSMS", "OCPP", "OCPI", "Settlement", "TestSupport", .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Storage", "CSMS", "OCPP", "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "WSClient", package: "swift-websocket"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
