// swift-tools-version:6.1
// The bare WebSocket echo that Benchmarks/ocpp_bench.py measures Voltaic against: the same HTTP/WebSocket
// stack (Hummingbird 2, hummingbird-websocket, at the versions Voltaic's Package.swift names), the same
// WebSocket settings, and the least an OCPP server must do per CALL: parse the frame, answer a CALLRESULT.
// No database. Build: `flock /tmp/voltaic-build.lock swift build -c release` in this folder.
import PackageDescription

let package = Package(
    name: "voltaic-echo",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "voltaic-echo", targets: ["VoltaicEcho"])],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", exact: "2.8.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "VoltaicEcho",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
            ]
        )
    ]
)
