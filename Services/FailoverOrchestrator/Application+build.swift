import Curl
import Foundation
import Hummingbird
import RdKafka
import SensormineClients
import SensormineContracts
import SensormineCore

/// FailoverOrchestrator: replicas elect a leader in etcd; every replica watches the PostgreSQL
/// nodes and the Redis Sentinels, and the leader fails the primary over, fences a former primary
/// and keeps replication synchronous while a standby streams (ADR 27).
enum FailoverOrchestratorService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "FailoverOrchestrator",
        summary: "Watches the PostgreSQL primary/replica and Redis, and promotes and re-points on failure.",
        defaultPort: 8089
    )

    static let configurationHelp = [
        ConfigurationHelp.kafka,
        ConfigurationHelp.gatewayToken,
        """
        Cluster:
          SENSORMINE_FAILOVER_ETCD_ENDPOINTS  etcd's client URLs, comma-separated (default http://127.0.0.1:2379)
          SENSORMINE_FAILOVER_CLUSTER         the cluster's name: the etcd key prefix and the topology's key (default sensormine)
          SENSORMINE_FAILOVER_IDENTITY        this replica's name in the election (default host name and pid)
          SENSORMINE_FAILOVER_LEASE_TTL       the leader's etcd lease (default 1s; etcd must allow it: see the README)
          SENSORMINE_FAILOVER_POSTGRES_NODES  name@region=postgresql://superuser@host:port/postgres, comma-separated (secret);
                                              the name is the node's application_name and slot as a standby
          SENSORMINE_FAILOVER_SENTINELS       Redis Sentinels, host:port, comma-separated (none: Redis not watched)
          SENSORMINE_FAILOVER_REDIS_MASTER    the master name the Sentinels monitor (default sensormine)

        Failover:
          SENSORMINE_FAILOVER_HEALTH_INTERVAL  how often every node is probed (default 200ms)
          SENSORMINE_FAILOVER_PROBE_TIMEOUT    a probe not answered in this time counts as a failure (default 400ms)
          SENSORMINE_FAILOVER_GRACE            how long the primary must be unreachable before failover (default 800ms)
          SENSORMINE_FAILOVER_AUTOMATIC        fail over by itself (default true; false: only on POST /api/v1/failover/{region})
          SENSORMINE_FAILOVER_REPLICATION      synchronous (default) or asynchronous
          SENSORMINE_FAILOVER_DEGRADE_GRACE    without a streaming standby this long, synchronous replication is suspended (default 2s)
          SENSORMINE_FAILOVER_MAX_LAG_BYTES    a switchover refuses a target lagging more, unless forced (default 16777216)
        """,
    ].joined(separator: "\n")

    static func buildApplication(_ configuration: FailoverOrchestratorConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        let logger = observability.logger
        let http = builder.addHTTPClient(configuration: .init(timeout: .milliseconds(500), connectTimeout: .milliseconds(300), maximumRetries: 0, name: "etcd"))
        let etcd = EtcdClient(endpoints: configuration.etcdEndpoints, http: http, timeout: .milliseconds(500))
        builder.readinessChecks.append(ReadinessCheck(name: "etcd") { try await etcd.health() })
        let producer = try builder.addKafkaProducer(configuration.kafka)
        let topic = configuration.kafka.topics.platformTopology
        let nodes = PostgresNodes(nodes: configuration.nodes, probeTimeout: configuration.controller.probeTimeout)
        let sentinels = configuration.sentinels.isEmpty ? nil
            : SentinelView(masterName: configuration.redisMasterName, sentinels: configuration.sentinels, timeout: configuration.controller.probeTimeout)
        let election = LeaderElection(identity: configuration.identity, etcd: etcd, key: FailoverController.electionKey(cluster: configuration.controller.cluster),
                                      ttl: configuration.leaseTTL, logger: logger)
        let controller = FailoverController(settings: configuration.controller, nodes: nodes, election: election, etcd: etcd, sentinels: sentinels,
                                            announce: { change in
                                                let value = try ContractCoding.encoder().encode(change)
                                                _ = try await producer.send(KafkaRecord(topic: topic, key: Array(change.cluster.utf8), value: Array(value)))
                                            }, logger: logger)
        builder.services.append(election)
        builder.services.append(controller)
        builder.services.append(ClosingService("postgres-nodes") {
            await nodes.shutdown()
            await sentinels?.shutdown()
        })
        builder.openAPIPaths = FailoverOrchestratorOpenAPI.paths
        builder.openAPISchemas = FailoverOrchestratorOpenAPI.schemas
        let routes = FailoverRoutes(controller: controller)
        return builder.build { router in routes.addRoutes(to: router, callers: configuration.callers) }
    }
}
