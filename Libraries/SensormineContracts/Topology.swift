import Foundation

/// What a database node is in its cluster, as the FailoverOrchestrator last saw it.
public enum DatabaseNodeRole: String, Codable, Sendable {
    /// Accepts writes.
    case primary
    /// Replays the primary's WAL; read-only.
    case standby
    /// A former primary that must not acknowledge writes (read-only by default, commits wait
    /// for a standby that does not exist) until it rejoins as a standby.
    case fenced
    /// Did not answer within the probe's deadline.
    case unreachable
}

/// A change of which node is the primary, announced on `platform.topology` (key: the cluster)
/// and kept in etcd. Every pool that sees it drops its connections to `previousPrimary` at once
/// instead of waiting for their timeouts.
public struct TopologyChange: Codable, Sendable, Equatable {
    /// The cluster's name (the orchestrator's `SENSORMINE_FAILOVER_CLUSTER`).
    public var cluster: String
    /// Increases by one with every change; a consumer ignores an epoch it has already seen.
    public var epoch: Int
    /// The node now accepting writes, and its address (`host:port`).
    public var primary: String
    public var primaryAddress: String
    /// The node that was primary, and its address; absent for the first topology.
    public var previousPrimary: String?
    public var previousPrimaryAddress: String?
    /// `automatic` (the primary was lost) or `switchover` (asked for).
    public var reason: String
    public var at: Date

    /// Creates a change.
    public init(cluster: String, epoch: Int, primary: String, primaryAddress: String, previousPrimary: String?,
                previousPrimaryAddress: String?, reason: String, at: Date) {
        self.cluster = cluster
        self.epoch = epoch
        self.primary = primary
        self.primaryAddress = primaryAddress
        self.previousPrimary = previousPrimary
        self.previousPrimaryAddress = previousPrimaryAddress
        self.reason = reason
        self.at = at
    }
}
