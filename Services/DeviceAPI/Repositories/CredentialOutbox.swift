import ClientRuntime
import Foundation
import LibPQ
import Logging
import SensormineClients
import SensormineCore

/// A change to Redis or the broker that a committed credential change requires.
enum CredentialChange: Codable, Sendable, Equatable {
    /// Index an issued API key for the gateway.
    case indexKey(digest: String, entry: APIKeyIndex.Entry)
    /// Replace the keys' index entries with tombstones.
    case revokeKeys(digests: [String])
    /// Delete a device's MQTT account (the broker disconnects it).
    case removeMQTT(username: String)
}

/// The credential outbox: changes to Redis and the broker are written into `credential_changes`
/// in the transaction that makes them necessary and applied after it commits, so a commit that
/// fails leaves Redis and the broker as they were, and one that succeeds is applied however long
/// they are away. None of them carries a secret.
struct CredentialOutbox: Sendable {
    static let migrationSQL = """
        CREATE TABLE credential_changes (
            id bigserial PRIMARY KEY,
            change jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """

    /// Drains the table in order; runs as a service and is called right after each commit.
    let relay: OutboxRelay
    private let logger: Logger

    init(database: PostgresClient, index: APIKeyIndex, broker: BrokerAccounts, logger: Logger) {
        self.logger = logger
        self.relay = OutboxRelay(name: "CredentialRelay", database: database, table: "credential_changes", columns: "id, change",
                                 batchSize: 200, idleInterval: .milliseconds(250), logger: logger) { rows in
            let decoder = JSONDecoder()
            for row in rows {
                guard let text = row["change"], let change = try? decoder.decode(CredentialChange.self, from: Data(text.utf8)) else {
                    logger.error("unreadable credential change skipped", metadata: ["id": "\(row["id"] ?? "?")"])
                    continue
                }
                switch change {
                case .indexKey(let digest, let entry): try await index.store(digest: digest, entry)
                case .revokeKeys(let digests): try await index.revoke(digests: digests)
                case .removeMQTT(let username): try await broker.remove(username: username)
                }
            }
        }
    }

    /// Adds `changes` inside the caller's transaction.
    /// - Throws: ``ClientError`` from PostgreSQL.
    static func enqueue(_ changes: [CredentialChange], in session: PostgresSession) async throws {
        let encoder = JSONEncoder()
        for change in changes {
            if case .revokeKeys(let digests) = change, digests.isEmpty { continue }
            try await session.execute("INSERT INTO credential_changes (change) VALUES ($1::jsonb)", [String(decoding: try encoder.encode(change), as: UTF8.self)])
        }
    }

    /// Applies what is committed, waiting for a relay busy elsewhere, so a revoked key is refused
    /// from the next request on. When Redis or the broker is away the change stays queued and the
    /// relay retries it; the caller's change stands either way.
    func applyCommitted() async {
        do {
            try await self.relay.relayOnce(waitForLock: true)
        } catch {
            self.logger.warning("credential change committed but not yet applied; the relay retries", metadata: [LogKey.error: "\(error)"])
        }
    }
}
