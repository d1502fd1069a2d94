import ClientRuntime
import Foundation
import LibPQ
import Logging
import SensormineClients
import SensormineCore

/// Usage of one provider and model in a period.
struct AIUsageLine: Codable, Sendable, Equatable {
    var provider: String
    var model: String
    var calls: Int
    var successful: Int
    var tokensIn: Int
    var tokensOut: Int
    var costUSD: Double
    var averageDurationMs: Double
}

/// A tenant's AI usage in a period.
struct AIUsageSummary: Codable, Sendable, Equatable {
    var tenantId: UUID
    var from: Date
    var to: Date
    var calls: Int
    var successful: Int
    var tokensIn: Int
    var tokensOut: Int
    var costUSD: Double
    var byModel: [AIUsageLine]
}

/// Every tenant's AI usage in a period.
struct AIUsageReport: Codable, Sendable {
    var from: Date
    var to: Date
    var tenants: [AIUsageSummary]
}

/// Metered AI calls in PostgreSQL, under row-level security.
struct AIUsageRepository: Sendable {
    let database: PostgresClient
    let logger: Logger
    static let serviceScope = CallerIdentity(subject: "schema-registry", tenantID: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), roles: [.platformAdmin])

    /// Stores one call; metering must never fail the request it measures, so errors are logged.
    func record(_ usage: AIUsageRecord) async {
        do {
            _ = try await self.database.withCaller(Self.serviceScope) { session in
                try await session.execute(
                    "INSERT INTO ai_usage (tenant_id, provider, model, tokens_in, tokens_out, cost_usd, duration_ms, success) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    [usage.tenantID, usage.provider, usage.model, usage.tokensIn, usage.tokensOut, usage.costUSD,
                     Int(usage.duration.milliseconds), usage.success]
                )
            }
        } catch {
            self.logger.error("could not meter an AI call", metadata: [LogKey.error: "\(error)", "tenant": "\(usage.tenantID)"])
        }
    }

    /// The current calendar month (UTC).
    static func currentMonth(now: Date = Date()) -> (Date, Date) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .gmt
        let start = calendar.date(from: calendar.dateComponents([.year, .month], from: now)) ?? now
        return (start, calendar.date(byAdding: .month, value: 1, to: start) ?? now)
    }

    /// Per tenant and model, in `[from, to)`; `tenantID` nil for every tenant the caller sees.
    func summaries(tenantID: UUID?, from: Date, to: Date, caller: CallerIdentity) async throws -> [AIUsageSummary] {
        let rows = try await self.database.withCaller(caller) { session in
            try await session.query(
                """
                SELECT tenant_id, provider, model, count(*) AS calls, count(*) FILTER (WHERE success) AS successful,
                       sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, sum(cost_usd)::float8 AS cost, avg(duration_ms)::float8 AS duration
                FROM ai_usage WHERE created_at >= $1 AND created_at < $2 AND ($3::uuid IS NULL OR tenant_id = $3)
                GROUP BY tenant_id, provider, model ORDER BY tenant_id, provider, model
                """,
                [from, to, tenantID]
            ).all
        }
        var summaries: [UUID: AIUsageSummary] = [:]
        for row in rows {
            guard let tenant = row["tenant_id"].flatMap(UUID.init(uuidString:)) else { continue }
            let line = AIUsageLine(provider: row["provider"] ?? "", model: row["model"] ?? "", calls: row.int("calls") ?? 0, successful: row.int("successful") ?? 0,
                                   tokensIn: row.int("tokens_in") ?? 0, tokensOut: row.int("tokens_out") ?? 0, costUSD: row.double("cost") ?? 0,
                                   averageDurationMs: row.double("duration") ?? 0)
            var summary = summaries[tenant] ?? AIUsageSummary(tenantId: tenant, from: from, to: to, calls: 0, successful: 0, tokensIn: 0, tokensOut: 0, costUSD: 0, byModel: [])
            summary.calls += line.calls
            summary.successful += line.successful
            summary.tokensIn += line.tokensIn
            summary.tokensOut += line.tokensOut
            summary.costUSD += line.costUSD
            summary.byModel.append(line)
            summaries[tenant] = summary
        }
        if let tenantID, summaries[tenantID] == nil {
            summaries[tenantID] = AIUsageSummary(tenantId: tenantID, from: from, to: to, calls: 0, successful: 0, tokensIn: 0, tokensOut: 0, costUSD: 0, byModel: [])
        }
        return summaries.values.sorted { $0.tenantId.uuidString < $1.tenantId.uuidString }
    }
}
