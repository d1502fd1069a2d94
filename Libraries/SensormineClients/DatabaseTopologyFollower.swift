import Foundation
import LibPQ
import Logging
import NIOConcurrencyHelpers
import RdKafka
import SensormineContracts
import SensormineCore
import ServiceLifecycle

/// Ends a service's pooled PostgreSQL connections to a primary the moment the FailoverOrchestrator
/// announces its replacement on `platform.topology` (ADR 27). Without it a pool would keep
/// waiting on a primary that is stopped rather than dead (its TCP connections stay open) and a
/// fenced primary would keep its sessions until they fail one by one; with it, statements in
/// flight there fail at once and the next ones connect through the multi-host URL to the new
/// primary (`target_session_attrs=read-write`).
public final class DatabaseTopologyFollower: Service, Sendable {
    private let feed: CompactedTopicFeed
    private let logger: Logger
    private let state: NIOLockedValueBox<(clients: [PostgresClient], epochs: [String: Int])>

    /// A follower reading the topology topic of `kafka`, ending connections of `clients`.
    /// - Throws: ``ClientError`` when the consumer cannot be created.
    public init(kafka: KafkaSettings, clients: [PostgresClient], logger: Logger) throws {
        let state = NIOLockedValueBox((clients: clients, epochs: [String: Int]()))
        self.state = state
        self.logger = logger
        let decoder = ContractCoding.decoder()
        self.feed = try CompactedTopicFeed(kafka: kafka.kafka, groupPrefix: "topology", topic: kafka.topics.platformTopology, batchSize: 100, logger: logger) { messages in
            for message in messages {
                guard let change = try? decoder.decode(TopologyChange.self, from: Data(message.value)) else { continue }
                Self.apply(change, state: state, logger: logger)
            }
        }
    }

    /// Reads the topic until shutdown. A broker error is logged and retried: the service keeps
    /// serving without the follower (its pools still reconnect through the multi-host URL).
    public func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await self.feed.run()
                return
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                self.logger.warning("platform.topology unreadable; retrying", metadata: ["error": "\(error)"])
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
        }
    }

    /// Ends the connections to the old primary of a change newer than any seen for its cluster.
    static func apply(_ change: TopologyChange, state: NIOLockedValueBox<(clients: [PostgresClient], epochs: [String: Int])>, logger: Logger) {
        let clients = state.withLockedValue { state -> [PostgresClient]? in
            guard state.epochs[change.cluster].map({ change.epoch > $0 }) ?? true else { return nil }
            state.epochs[change.cluster] = change.epoch
            return state.clients
        }
        guard let clients else { return }
        for client in clients { client.prefer(address: change.primaryAddress) }
        guard let old = change.previousPrimaryAddress else { return }
        let ended = clients.reduce(0) { $0 + $1.dropConnections(to: old) }
        logger.notice("database primary replaced", metadata: [
            "topology.cluster": "\(change.cluster)", "topology.epoch": "\(change.epoch)", "topology.primary": "\(change.primaryAddress)",
            "topology.previous": "\(old)", "topology.connections_ended": "\(ended)",
        ])
    }
}

extension ServiceApplicationBuilder {
    /// Follows `platform.topology` for the given pools (see ``DatabaseTopologyFollower``).
    /// - Throws: ``ClientError`` when the consumer cannot be created.
    public mutating func followDatabaseTopology(_ kafka: KafkaSettings, clients: [PostgresClient]) throws {
        self.services.append(try DatabaseTopologyFollower(kafka: kafka, clients: clients, logger: self.observability.logger))
    }
}
