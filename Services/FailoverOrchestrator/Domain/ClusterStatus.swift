import Foundation
import SensormineContracts

/// One node in `/status`.
struct NodeStatus: Codable, Sendable, Equatable {
    var name: String
    var region: String
    var address: String
    var role: DatabaseNodeRole
    var timeline: Int?
    /// The primary's flushed WAL position, or a standby's last received.
    var walPosition: LogSequenceNumber?
    var replayPosition: LogSequenceNumber?
    /// A standby's lag behind the primary, from the primary's `pg_stat_replication`.
    var lagBytes: Int64?
    var lagSeconds: Double?
    /// `sync`, `potential` or `async` for a standby; nil for the primary.
    var syncState: String?
    var lastSeen: Date?
    var error: String?
}

/// A region and its nodes.
struct RegionStatus: Codable, Sendable, Equatable {
    var name: String
    var nodes: [NodeStatus]
}

/// One step of a failover, with when it ended.
struct FailoverStep: Codable, Sendable, Equatable {
    var at: Date
    var step: String
    var detail: String
}

/// A failover or switchover: what happened, in order, and what it may have cost.
struct FailoverRecord: Codable, Sendable, Equatable {
    /// `automatic` or `switchover`.
    var reason: String
    var from: String
    var to: String
    var epoch: Int
    var startedAt: Date
    var completedAt: Date?
    var durationMilliseconds: Double?
    /// Whether replication was synchronous when the primary was lost: then nothing acknowledged is lost.
    var synchronous: Bool
    /// The old primary's last known flushed position and the promoted node's last received one.
    var lsnBefore: LogSequenceNumber?
    var lsnAfter: LogSequenceNumber?
    /// Acknowledged bytes that may be lost (asynchronous replication only): measured, not hidden.
    var possibleLossBytes: UInt64
    var steps: [FailoverStep]
    /// Set when the failover could not complete.
    var failure: String?
}

/// The cluster as `/status` shows it.
struct ClusterStatus: Codable, Sendable, Equatable {
    var cluster: String
    /// This replica's identity, the current leader's, and whether they are the same.
    var instance: String
    var leader: String?
    var isLeader: Bool
    var automaticFailover: Bool
    var epoch: Int
    var primary: String?
    /// `synchronous`, `asynchronous` (chosen), or `degraded` (synchronous wanted, no standby to wait for).
    var replication: String
    var regions: [RegionStatus]
    /// Why an automatic failover is held back (the primary lost to the orchestrator, not to its standbys).
    var failoverHeld: String?
    var lastFailover: FailoverRecord?
    /// The last former primary found acting as a primary, fenced and shut down.
    var lastFencing: FencingRecord?
    var redis: RedisStatus?
}

/// A node fenced because it acted as a primary while another was recorded as one.
struct FencingRecord: Codable, Sendable, Equatable {
    var node: String
    var at: Date
    /// Whether it was also shut down (it was reachable to be told).
    var stopped: Bool
    var error: String?
}

/// Redis as the Sentinels report it.
struct RedisStatus: Codable, Sendable, Equatable {
    var masterName: String
    /// `host:port` of the master according to the first Sentinel that answered.
    var master: String?
    var sentinelsAnswering: Int
    var sentinels: Int
    /// When the master address last changed as the orchestrator saw it.
    var lastSwitch: Date?
    var error: String?
}

/// The topology kept in etcd, so a new leader continues where the last one stopped.
struct StoredTopology: Codable, Sendable, Equatable {
    var epoch: Int
    var primary: String
}
