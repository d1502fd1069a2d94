// swift-tools-version:6.1
import PackageDescription

/// One set of settings for every target: Swift 6 language mode (strict concurrency) and the
/// upcoming features the house style asks for.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// The service executables, each with its own folder under Services/.
let serviceNames = [
    "ApiGateway", "DeviceAPI", "SchemaRegistry", "QueryAPI", "Ingestion",
    "EdgeGateway", "StreamProcessing", "Alerts", "Billing", "FailoverOrchestrator", "Console",
]

let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioConcurrency = Target.Dependency.product(name: "NIOConcurrencyHelpers", package: "swift-nio")
let serviceLifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")

let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")

/// What each service is built from, so the manifest shows the layering: every service sits on
/// SensormineCore and SensormineClients; only the services that speak to another service or a
/// broker name the contracts and the client wrappers they use.
let serviceDependencies: [String: [Target.Dependency]] = [
    "ApiGateway": ["SensormineCore", "SensormineClients", "SensormineContracts", "SensormineAuth", "SensormineJSON", "ClientRuntime", "Curl", "Hiredis", "RdKafka",
                   crypto, hummingbird, logging, metrics, nioConcurrency, serviceLifecycle,
                   // The proxy hop (ADR 30): pooled keep-alive connections on the server's own event loops.
                   .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                   .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"), nioPosix,
                   .product(name: "NIOSSL", package: "swift-nio-ssl")],
    "DeviceAPI": ["SensormineCore", "SensormineClients", "SensormineContracts", "SensormineAuth", "ClientRuntime", "LibPQ", "Hiredis", "Mosquitto",
                  hummingbird, logging, serviceLifecycle],
    "SchemaRegistry": ["SensormineCore", "SensormineClients", "SensormineAuth", "SensormineJSON", "JSONSchema", "ClientRuntime", "LibPQ", "Hiredis", "Curl",
                       crypto, hummingbird, logging],
    "QueryAPI": ["SensormineCore", "SensormineClients", "SensormineContracts", "SensormineTelemetry", "ClientRuntime", "LibPQ", "RdKafka", hummingbird],
    "Ingestion": ["SensormineCore", "SensormineClients", "SensormineContracts", "SensormineTelemetry", "TelemetryIntake", "SensormineJSON", "JSONSchema", "ClientRuntime",
                  "LibPQ", "RdKafka", "Curl", hummingbird, logging, metrics, nioConcurrency, serviceLifecycle],
    "EdgeGateway": ["SensormineCore", "SensormineClients", "SensormineContracts", "SensormineTelemetry", "SensormineJSON", "ClientRuntime", "RdKafka",
                    "MQTTWire", "Curl", hummingbird, logging, metrics, nioConcurrency, serviceLifecycle],
    "StreamProcessing": ["SensormineCore", "SensormineClients", "SensormineContracts", "SensormineTelemetry", "SensormineJSON", "TelemetryIntake", "ClientRuntime",
                         "LibPQ", "RdKafka", "ONNXRuntime", crypto, hummingbird, logging, metrics, nioConcurrency, serviceLifecycle],
    "Alerts": ["SensormineCore", "SensormineClients", "SensormineContracts", "SensormineAuth", "SensormineJSON", "ClientRuntime", "LibPQ", "RdKafka", "Curl", "CCurl",
               crypto, hummingbird, logging, metrics, nioConcurrency, serviceLifecycle, .product(name: "Mustache", package: "swift-mustache")],
    "Billing": ["SensormineCore", "SensormineClients", "SensormineContracts", "SensormineAuth", "SensormineJSON", "ClientRuntime", "LibPQ", "Hiredis", "RdKafka", "Curl", hummingbird,
                logging, metrics, nioConcurrency, serviceLifecycle],
    "Console": ["SensormineCore", crypto, hummingbird, logging],
    "FailoverOrchestrator": ["SensormineCore", "SensormineClients", "SensormineContracts", "ClientRuntime", "LibPQ", "Hiredis", "RdKafka", "Curl", hummingbird,
                             logging, metrics, nioConcurrency, serviceLifecycle],
]

let package = Package(
    name: "Sensormine",
    platforms: [.macOS(.v14)],
    products: serviceNames.map { .executable(name: $0, targets: [$0]) },
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", "2.101.2"..<"2.102.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", exact: "5.8.0"),
        // jwt-kit 5.8 needs swift-crypto >= 4.1.
        .package(url: "https://github.com/apple/swift-crypto.git", "4.1.0"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", exact: "2.1.1"),
        // Already in the graph through Hummingbird (its test client and its stream helpers).
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", exact: "1.1.4"),
        // Already in the graph through async-http-client; the gateway's own proxy client speaks TLS with it.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
    ],
    targets: [
        // System libraries: a module map and a shim header each, nothing else.
        .systemLibrary(name: "CLibPQ", path: "Libraries/CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CRdKafka", path: "Libraries/CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CMosquitto", path: "Libraries/CMosquitto", providers: [.apt(["libmosquitto-dev"])]),
        // hiredis' .pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM rejects on every build: leave pkgConfig off.
        .systemLibrary(name: "CHiredis", path: "Libraries/CHiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CCurl", path: "Libraries/CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Plumbing shared by the client wrappers: connection pool, backoff, blocking executor.
        .target(
            name: "ClientRuntime",
            dependencies: [logging, metrics, nioPosix, nioConcurrency, serviceLifecycle],
            path: "Libraries/ClientRuntime", swiftSettings: swiftSettings
        ),
        // Thin Swift wrappers over the C clients; no C type crosses their public API.
        .target(name: "LibPQ", dependencies: ["CLibPQ", "ClientRuntime", logging, metrics, nioConcurrency], path: "Libraries/LibPQ", swiftSettings: swiftSettings),
        .target(name: "RdKafka", dependencies: ["CRdKafka", "ClientRuntime", logging, metrics, serviceLifecycle, nioConcurrency], path: "Libraries/RdKafka", swiftSettings: swiftSettings),
        // The MQTT intake's own subscriber (SwiftNIO): it acknowledges a message only once it is safe.
        .target(name: "MQTTWire", dependencies: ["ClientRuntime", logging, metrics, nioConcurrency, serviceLifecycle, .product(name: "NIOCore", package: "swift-nio"), nioPosix],
                path: "Libraries/MQTTWire", swiftSettings: swiftSettings),
        .target(name: "Mosquitto", dependencies: ["CMosquitto", "ClientRuntime", logging, metrics, nioConcurrency], path: "Libraries/Mosquitto", swiftSettings: swiftSettings),
        .target(name: "Hiredis", dependencies: ["CHiredis", "ClientRuntime", logging, metrics, nioConcurrency], path: "Libraries/Hiredis", swiftSettings: swiftSettings),
        .target(name: "Curl", dependencies: ["CCurl", "ClientRuntime", logging, metrics, nioConcurrency, .product(name: "NIOCore", package: "swift-nio")], path: "Libraries/Curl", swiftSettings: swiftSettings),

        // Cross-service plumbing: configuration, observability, errors, health, the app builder.
        .target(
            name: "SensormineCore",
            dependencies: [
                hummingbird, logging, metrics, serviceLifecycle, "ClientRuntime", "SensormineJSON", crypto,
                .product(name: "NIOFoundationCompat", package: "swift-nio"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Libraries/SensormineCore", swiftSettings: swiftSettings
        ),
        // JSON values and a fast parser; the JSON Schema 2020-12 validator built on them.
        // ONNX Runtime through its C API, loaded at run time (ADR 23): the header from Debian 13's
        // libonnxruntime-dev, which `make deps` puts under .stack/onnxruntime.
        .target(name: "CONNXRuntime", path: "Libraries/CONNXRuntime", cSettings: [.headerSearchPath("../../.stack/onnxruntime/include")],
                linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "ONNXRuntime", dependencies: ["CONNXRuntime", nioConcurrency], path: "Libraries/ONNXRuntime", swiftSettings: swiftSettings),
        .target(name: "SensormineJSON", path: "Libraries/SensormineJSON", swiftSettings: swiftSettings),
        // The JSON services send each other (HTTP bodies, Kafka events, the API-key index): one
        // Codable home, depending on nothing but Foundation.
        .target(name: "SensormineContracts", path: "Libraries/SensormineContracts", swiftSettings: swiftSettings),
        .target(name: "JSONSchema", dependencies: ["SensormineJSON"], path: "Libraries/JSONSchema", swiftSettings: swiftSettings),
        // The telemetry envelope on device.telemetry and how payloads become points.
        .target(name: "SensormineTelemetry", dependencies: ["SensormineJSON"], path: "Libraries/SensormineTelemetry", swiftSettings: swiftSettings),
        // What makes a telemetry message acceptable (schema lookup and validation, event-time
        // bounds): one decision for Ingestion and StreamProcessing.
        .target(
            name: "TelemetryIntake",
            dependencies: ["SensormineClients", "SensormineContracts", "SensormineCore", "SensormineTelemetry", "SensormineJSON", "JSONSchema", "ClientRuntime", "Curl",
                           nioConcurrency],
            path: "Libraries/TelemetryIntake", swiftSettings: swiftSettings
        ),
        // Access tokens: what DeviceAPI signs and the ApiGateway verifies.
        .target(
            name: "SensormineAuth",
            dependencies: [
                "SensormineCore", "ClientRuntime", "SensormineJSON", nioConcurrency, .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            path: "Libraries/SensormineAuth", swiftSettings: swiftSettings
        ),
        // Typed settings and readiness checks for each client, so services wire them in one line.
        .target(
            name: "SensormineClients",
            dependencies: ["SensormineCore", "SensormineContracts", "LibPQ", "RdKafka", "Mosquitto", "Hiredis", "Curl", logging, metrics, nioConcurrency, serviceLifecycle],
            path: "Libraries/SensormineClients", swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "SensormineBench",
            dependencies: ["SensormineClients", "SensormineCore", "SensormineAuth", "SensormineContracts", "SensormineTelemetry", "ClientRuntime", "LibPQ", "RdKafka", "Mosquitto", "Hiredis",
                           "Curl", "JSONSchema", "SensormineJSON", logging, hummingbird, nioConcurrency, serviceLifecycle],
            path: "Benchmarks/SensormineBench", swiftSettings: swiftSettings
        ),
        // A fleet of simulated devices registered through the API and publishing telemetry.
        .executableTarget(
            name: "DeviceSimulator",
            dependencies: ["Curl", "Mosquitto", "MQTTWire", "SensormineJSON", "SensormineTelemetry", nioConcurrency, logging,
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/DeviceSimulator", swiftSettings: swiftSettings
        ),

        // libFuzzer targets for the readers of untrusted bytes (`make fuzz`).
        .executableTarget(
            name: "SensormineFuzz", dependencies: ["SensormineJSON", "JSONSchema", "SensormineTelemetry"],
            path: "Tests/Fuzz", swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ClientRuntimeTests", dependencies: ["ClientRuntime"], swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "JSONSchemaTests", dependencies: ["JSONSchema", "SensormineJSON"], swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SensormineCoreTests",
            dependencies: ["SensormineCore", "SensormineContracts", .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ClientIntegrationTests",
            dependencies: ["SensormineClients", "LibPQ", "RdKafka", "Mosquitto", "Hiredis", "Curl", "SensormineCore", "TestSupport", hummingbird, nioConcurrency,
                           serviceLifecycle],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DeviceAPITests",
            dependencies: ["DeviceAPI", "SensormineCore", "SensormineClients", "SensormineContracts", "SensormineAuth", "LibPQ", "RdKafka", "Mosquitto", "Hiredis", "ClientRuntime",
                           "TelemetryIntake", "Curl",
                           nioConcurrency, crypto, .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        // Shared by test targets: child processes started the way services are deployed.
        .testTarget(
            name: "MQTTWireTests", dependencies: ["MQTTWire", "Mosquitto", "ClientRuntime", nioConcurrency, logging, .product(name: "NIOCore", package: "swift-nio"),
                                                 .product(name: "NIOEmbedded", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .target(name: "TestSupport", dependencies: ["SensormineCore", "SensormineJSON", "SensormineContracts", "Curl", crypto, nioConcurrency, hummingbird, logging,
                                                    .product(name: "HummingbirdTesting", package: "hummingbird")],
                path: "Tests/TestSupport", swiftSettings: swiftSettings),
        .testTarget(
            name: "SensormineTelemetryTests",
            dependencies: ["SensormineTelemetry", "SensormineJSON"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EdgeGatewayTests",
            dependencies: ["EdgeGateway", "SensormineTelemetry", logging],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FailoverTests",
            dependencies: ["FailoverOrchestrator", "SensormineClients", "SensormineContracts", "SensormineCore", "ClientRuntime", "LibPQ", "RdKafka", "Hiredis", "Curl", "TestSupport",
                           logging, nioConcurrency],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PipelineTests",
            dependencies: ["Alerts", "Billing", "StreamProcessing", "FailoverOrchestrator", "Console", "TelemetryIntake", "SensormineContracts", "ApiGateway", "DeviceAPI", "SchemaRegistry", "QueryAPI", "Ingestion", "EdgeGateway", "SensormineAuth", "SensormineCore", "ClientRuntime",
                           "SensormineClients", "SensormineJSON", "SensormineTelemetry", "Curl", "Mosquitto", "RdKafka", "LibPQ", "TestSupport", hummingbird, serviceLifecycle, logging,
                           nioConcurrency],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ApiGatewayTests",
            dependencies: ["ApiGateway", "DeviceAPI", "SensormineAuth", "SensormineCore", "SensormineClients", "SensormineContracts", "SensormineJSON", "Curl", "Hiredis", "RdKafka",
                           "TestSupport", hummingbird, nioConcurrency, nioPosix, .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "JWTKit", package: "jwt-kit"), .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "CryptoExtras", package: "swift-crypto"),
                           .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SchemaRegistryTests",
            dependencies: ["SchemaRegistry", "SensormineCore", "SensormineJSON", "JSONSchema", "LibPQ", "Hiredis", "SensormineClients", "TestSupport",
                           .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AlertsTests",
            dependencies: ["Alerts", "SensormineAuth", "SensormineCore", "SensormineClients", "SensormineContracts", "SensormineJSON", "LibPQ", "RdKafka", "Curl", "TestSupport", logging,
                           crypto, nioConcurrency, hummingbird, .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BillingTests",
            dependencies: ["Billing", "SensormineAuth", "SensormineCore", "SensormineClients", "SensormineContracts", "SensormineJSON", "LibPQ", "RdKafka", "TestSupport", logging,
                           hummingbird, .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StreamProcessingTests",
            dependencies: ["StreamProcessing", "SensormineCore", "SensormineClients", "SensormineContracts", "SensormineTelemetry", "SensormineJSON", "LibPQ", "RdKafka",
                           "ONNXRuntime", "TestSupport", logging, nioConcurrency],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConsoleTests",
            dependencies: ["Console", "SensormineCore", "TestSupport", hummingbird, .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServiceSmokeTests",
            dependencies: ["SensormineCore", "Curl", "ClientRuntime", "TestSupport"],
            swiftSettings: swiftSettings
        ),
    ] + serviceNames.map { name in
        .executableTarget(name: name, dependencies: serviceDependencies[name] ?? [], path: "Services/\(name)",
                          exclude: name == "Console" ? ["Assets"] : [], swiftSettings: swiftSettings)
    }
)
