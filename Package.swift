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
    "EdgeGateway", "StreamProcessing", "Alerts", "Billing", "FailoverOrchestrator",
]

let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioConcurrency = Target.Dependency.product(name: "NIOConcurrencyHelpers", package: "swift-nio")
let serviceLifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")

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
        .target(name: "LibPQ", dependencies: ["CLibPQ", "ClientRuntime", logging, metrics], path: "Libraries/LibPQ", swiftSettings: swiftSettings),
        .target(name: "RdKafka", dependencies: ["CRdKafka", "ClientRuntime", logging, metrics, serviceLifecycle, nioConcurrency], path: "Libraries/RdKafka", swiftSettings: swiftSettings),
        .target(name: "Mosquitto", dependencies: ["CMosquitto", "ClientRuntime", logging, metrics, nioConcurrency], path: "Libraries/Mosquitto", swiftSettings: swiftSettings),
        .target(name: "Hiredis", dependencies: ["CHiredis", "ClientRuntime", logging, metrics, nioConcurrency], path: "Libraries/Hiredis", swiftSettings: swiftSettings),
        .target(name: "Curl", dependencies: ["CCurl", "ClientRuntime", logging, metrics, nioConcurrency, .product(name: "NIOCore", package: "swift-nio")], path: "Libraries/Curl", swiftSettings: swiftSettings),

        // Cross-service plumbing: configuration, observability, errors, health, the app builder.
        .target(
            name: "SensormineCore",
            dependencies: [
                hummingbird, logging, metrics, serviceLifecycle, "ClientRuntime", "SensormineJSON",
                .product(name: "NIOFoundationCompat", package: "swift-nio"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Libraries/SensormineCore", swiftSettings: swiftSettings
        ),
        // JSON values and a fast parser; the JSON Schema 2020-12 validator built on them.
        .target(name: "SensormineJSON", path: "Libraries/SensormineJSON", swiftSettings: swiftSettings),
        .target(name: "JSONSchema", dependencies: ["SensormineJSON"], path: "Libraries/JSONSchema", swiftSettings: swiftSettings),
        // The telemetry envelope on device.telemetry and how payloads become points.
        .target(name: "SensormineTelemetry", dependencies: ["SensormineJSON"], path: "Libraries/SensormineTelemetry", swiftSettings: swiftSettings),
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
            dependencies: ["SensormineCore", "LibPQ", "RdKafka", "Mosquitto", "Hiredis", "Curl", logging, metrics, nioConcurrency, serviceLifecycle],
            path: "Libraries/SensormineClients", swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "SensormineBench",
            dependencies: ["SensormineClients", "SensormineCore", "SensormineAuth", "ClientRuntime", "LibPQ", "RdKafka", "Mosquitto", "Hiredis", "Curl",
                           "JSONSchema", "SensormineJSON", logging, hummingbird, serviceLifecycle],
            path: "Benchmarks/SensormineBench", swiftSettings: swiftSettings
        ),
        // A fleet of simulated devices registered through the API and publishing telemetry.
        .executableTarget(
            name: "DeviceSimulator",
            dependencies: ["Curl", "Mosquitto", "SensormineJSON", "SensormineTelemetry", nioConcurrency, logging, .product(name: "ArgumentParser", package: "swift-argument-parser")],
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
            dependencies: ["SensormineCore", .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ClientIntegrationTests",
            dependencies: ["SensormineClients", "LibPQ", "RdKafka", "Mosquitto", "Hiredis", "Curl", "SensormineCore", hummingbird, nioConcurrency, serviceLifecycle],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DeviceAPITests",
            dependencies: ["DeviceAPI", "SensormineCore", "SensormineClients", "SensormineAuth", "LibPQ", "RdKafka", "Mosquitto", "Hiredis", "ClientRuntime",
                           nioConcurrency, .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        // Shared by test targets: child processes started the way services are deployed.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: swiftSettings),
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
            name: "PipelineTests",
            dependencies: ["ApiGateway", "DeviceAPI", "SchemaRegistry", "QueryAPI", "Ingestion", "EdgeGateway", "SensormineAuth", "SensormineCore", "ClientRuntime",
                           "SensormineClients", "SensormineJSON", "SensormineTelemetry", "Curl", "Mosquitto", "RdKafka", "LibPQ", "TestSupport", hummingbird, serviceLifecycle, logging,
                           nioConcurrency],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ApiGatewayTests",
            dependencies: ["ApiGateway", "DeviceAPI", "SensormineAuth", "SensormineCore", "SensormineClients", "SensormineJSON", "Curl", "Hiredis", hummingbird, nioConcurrency,
                           .product(name: "JWTKit", package: "jwt-kit"), .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "CryptoExtras", package: "swift-crypto"),
                           .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SchemaRegistryTests",
            dependencies: ["SchemaRegistry", "SensormineCore", "SensormineJSON", "JSONSchema", "LibPQ", "Hiredis", "SensormineClients",
                           .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServiceSmokeTests",
            dependencies: ["SensormineCore", "Curl", "ClientRuntime", "TestSupport"],
            swiftSettings: swiftSettings
        ),
    ] + serviceNames.map { name in
        .executableTarget(
            name: name,
            dependencies: ["SensormineCore", "SensormineClients", "SensormineAuth", "ClientRuntime", "LibPQ", "RdKafka", "Mosquitto", "Hiredis", "Curl",
                           "JSONSchema", "SensormineJSON", "SensormineTelemetry", .product(name: "Crypto", package: "swift-crypto"),
                           hummingbird, logging, metrics, serviceLifecycle],
            path: "Services/\(name)",
            swiftSettings: swiftSettings
        )
    }
)
