/// FailoverOrchestrator's own paths in its OpenAPI document.
enum FailoverOrchestratorOpenAPI {
    static let paths = """
          /status:
            get:
              summary: 'The clusters'' topology as this replica sees it: regions, each node''s role, WAL positions, lag and sync state, the leader, the last failover and its steps (inside the cluster; not routed by the gateway).'
              operationId: getStatus
              responses:
                '200': { description: The topology., content: { application/json: { schema: { $ref: '#/components/schemas/ClusterStatus' } } } }
          /api/v1/failover/status:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
            get:
              summary: The same topology through the gateway (platform-admin).
              operationId: getFailoverStatus
              responses:
                '200': { description: The topology., content: { application/json: { schema: { $ref: '#/components/schemas/ClusterStatus' } } } }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
          /api/v1/failover/{region}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: region, in: path, required: true, description: 'The region whose standby becomes the primary; `redis` asks the Sentinels for a Redis failover.', schema: { type: string, minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9_-]+$' } }
              - { name: force, in: query, description: Switch even when the target lags beyond the configured bound., schema: { type: boolean, default: false } }
            post:
              summary: 'Manual switchover (platform-admin): the old primary is fenced, the target catches up to its last flushed position, then it is promoted; only the leader acts.'
              operationId: switchover
              responses:
                '200': { description: The completed switchover with its steps., content: { application/json: { schema: { $ref: '#/components/schemas/FailoverRecord' } } } }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
                '503': { $ref: '#/components/responses/Problem' }
        """

    static let schemas = """
            ClusterStatus:
              type: object
              required: [cluster, instance, isLeader, automaticFailover, epoch, replication, regions]
              properties:
                cluster: { type: string }
                instance: { type: string, description: This replica's identity. }
                leader: { type: string, description: The leader's identity as last read from etcd. }
                isLeader: { type: boolean }
                automaticFailover: { type: boolean }
                epoch: { type: integer, description: Increases with every change of primary. }
                primary: { type: string }
                replication: { type: string, enum: [synchronous, asynchronous, degraded, unknown] }
                regions:
                  type: array
                  items:
                    type: object
                    required: [name, nodes]
                    properties:
                      name: { type: string }
                      nodes: { type: array, items: { $ref: '#/components/schemas/NodeStatus' } }
                failoverHeld:
                  type: string
                  description: Why an automatic failover is held back; set while the primary does not answer the orchestrator but a standby still receives from it (a partition of the orchestrator, not a lost primary).
                lastFailover: { $ref: '#/components/schemas/FailoverRecord' }
                lastFencing:
                  type: object
                  description: The last former primary found acting as a primary, fenced (read-only, commits held) and shut down.
                  required: [node, at, stopped]
                  properties:
                    node: { type: string }
                    at: { type: string, format: date-time }
                    stopped: { type: boolean }
                    error: { type: string }
                redis:
                  type: object
                  required: [masterName, sentinelsAnswering, sentinels]
                  properties:
                    masterName: { type: string }
                    master: { type: string, description: 'host:port' }
                    sentinelsAnswering: { type: integer }
                    sentinels: { type: integer }
                    lastSwitch: { type: string, format: date-time }
                    error: { type: string }
            NodeStatus:
              type: object
              required: [name, region, address, role]
              properties:
                name: { type: string }
                region: { type: string }
                address: { type: string }
                role: { type: string, enum: [primary, standby, fenced, unreachable] }
                timeline: { type: integer }
                walPosition: { type: string, description: 'The primary''s flushed WAL position or a standby''s last received, X/Y.' }
                replayPosition: { type: string }
                lagBytes: { type: integer }
                lagSeconds: { type: number }
                syncState: { type: string }
                lastSeen: { type: string, format: date-time }
                error: { type: string }
            FailoverRecord:
              type: object
              required: [reason, from, to, epoch, startedAt, synchronous, possibleLossBytes, steps]
              properties:
                reason: { type: string, enum: [automatic, switchover] }
                from: { type: string }
                to: { type: string }
                epoch: { type: integer }
                startedAt: { type: string, format: date-time }
                completedAt: { type: string, format: date-time }
                durationMilliseconds: { type: number }
                synchronous: { type: boolean, description: 'Replication was synchronous: no acknowledged write can be lost.' }
                lsnBefore: { type: string }
                lsnAfter: { type: string }
                possibleLossBytes: { type: integer, description: 'Under asynchronous replication, WAL the old primary had flushed that the new one had not received.' }
                steps:
                  type: array
                  items:
                    type: object
                    required: [at, step, detail]
                    properties:
                      at: { type: string, format: date-time }
                      step: { type: string }
                      detail: { type: string }
                failure: { type: string }
        """
}
