import Foundation
import SensormineClients
import SensormineCore

/// FailoverOrchestrator's settings, read once at start-up; see `FailoverOrchestrator --help` for every key.
struct FailoverOrchestratorConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// The ApiGateway's token, whose identity headers the switchover route trusts.
    var callers: TrustedCallers
    /// Where the topology is announced.
    var kafka: KafkaSettings
    var etcdEndpoints: [String]
    /// This replica's name in the election (default: host name and process id).
    var identity: String
    var leaseTTL: Duration
    var nodes: [PostgresNode]
    var sentinels: [(host: String, port: Int)]
    var redisMasterName: String
    var controller: FailoverController.Settings

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: FailoverOrchestratorService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.callers = try TrustedCallers(reader: reader)
        self.kafka = try KafkaSettings(reader: reader)
        self.etcdEndpoints = try reader.list("SENSORMINE_FAILOVER_ETCD_ENDPOINTS", default: ["http://127.0.0.1:2379"]).map { endpoint in
            guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ConfigurationError(key: "SENSORMINE_FAILOVER_ETCD_ENDPOINTS", problem: "\(endpoint) is not an http(s) URL")
            }
            return endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        }
        self.identity = try reader.string("SENSORMINE_FAILOVER_IDENTITY", default: "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)")
        self.leaseTTL = try reader.duration("SENSORMINE_FAILOVER_LEASE_TTL", default: .seconds(1))
        guard self.leaseTTL >= .seconds(1) else { throw ConfigurationError(key: "SENSORMINE_FAILOVER_LEASE_TTL", problem: "etcd grants whole seconds: at least 1s") }
        self.nodes = try Self.nodes(try reader.list("SENSORMINE_FAILOVER_POSTGRES_NODES", default: []))
        self.sentinels = try reader.list("SENSORMINE_FAILOVER_SENTINELS", default: []).map { address in
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port), colon > address.startIndex else {
                throw ConfigurationError(key: "SENSORMINE_FAILOVER_SENTINELS", problem: "\(address) is not host:port")
            }
            return (String(address[..<colon]), port)
        }
        self.redisMasterName = try reader.string("SENSORMINE_FAILOVER_REDIS_MASTER", default: "sensormine")
        var controller = FailoverController.Settings(cluster: try reader.string("SENSORMINE_FAILOVER_CLUSTER", default: "sensormine"))
        guard controller.cluster.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), !controller.cluster.isEmpty else {
            throw ConfigurationError(key: "SENSORMINE_FAILOVER_CLUSTER", problem: "letters, digits, - and _ only")
        }
        controller.interval = try reader.duration("SENSORMINE_FAILOVER_HEALTH_INTERVAL", default: controller.interval)
        controller.probeTimeout = try reader.duration("SENSORMINE_FAILOVER_PROBE_TIMEOUT", default: controller.probeTimeout)
        controller.grace = try reader.duration("SENSORMINE_FAILOVER_GRACE", default: controller.grace)
        controller.automatic = try reader.bool("SENSORMINE_FAILOVER_AUTOMATIC", default: true)
        controller.synchronous = try reader.string("SENSORMINE_FAILOVER_REPLICATION", default: "synchronous") != "asynchronous"
        controller.degradeGrace = try reader.duration("SENSORMINE_FAILOVER_DEGRADE_GRACE", default: controller.degradeGrace)
        controller.maximumSwitchoverLagBytes = Int64(try reader.int("SENSORMINE_FAILOVER_MAX_LAG_BYTES", default: 16 * 1024 * 1024, range: 0...(1 << 40)))
        guard controller.interval >= .milliseconds(20), controller.probeTimeout >= .milliseconds(50) else {
            throw ConfigurationError(key: "SENSORMINE_FAILOVER_HEALTH_INTERVAL", problem: "the interval is at least 20ms and the probe timeout at least 50ms")
        }
        self.controller = controller
    }

    /// `name@region=url`, one per node; the name is also the node's application_name and slot
    /// as a standby, which synchronous_standby_names lists.
    static func nodes(_ specs: [String]) throws -> [PostgresNode] {
        let key = "SENSORMINE_FAILOVER_POSTGRES_NODES"
        let nodes = try specs.map { spec -> PostgresNode in
            guard let equals = spec.firstIndex(of: "=") else { throw ConfigurationError(key: key, problem: "\(spec.prefix(40)) is not name@region=url") }
            let label = spec[..<equals]
            let url = String(spec[spec.index(after: equals)...])
            let parts = label.split(separator: "@", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } }),
                  parts[0].allSatisfy({ $0 != "-" }) else {
                throw ConfigurationError(key: key, problem: "\(label) is not name@region (a name is letters, digits and _, as application_name wants)")
            }
            guard let parsed = URLComponents(string: url), ["postgresql", "postgres"].contains(parsed.scheme ?? ""), let host = parsed.host, !host.isEmpty else {
                throw ConfigurationError(key: key, problem: "the URL of \(parts[0]) is not a single-host postgresql:// URL")
            }
            return PostgresNode(name: parts[0], region: parts[1], url: url, address: "\(host):\(parsed.port ?? 5432)")
        }
        guard Set(nodes.map(\.name)).count == nodes.count else { throw ConfigurationError(key: key, problem: "node names must differ") }
        return nodes
    }
}
