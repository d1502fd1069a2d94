import Foundation
import Hummingbird

/// One dependency the service needs to serve traffic, checked by GET /health/ready.
public struct ReadinessCheck: Sendable {
    /// Name shown in the readiness answer, e.g. "postgres.metadata", "redis", "kafka".
    public let name: String
    /// Throws when the dependency does not answer.
    public let check: @Sendable () async throws -> Void

    /// Creates a check.
    public init(name: String, check: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.check = check
    }
}

/// The readiness answer.
public struct ReadinessReport: ResponseCodable, Sendable, Equatable {
    /// "ready" or "not-ready".
    public var status: String
    /// Each dependency: "up" or the error.
    public var checks: [String: String]
}

/// GET /health (liveness: the process serves HTTP) and GET /health/ready (readiness: every
/// dependency answers within the timeout; otherwise 503 problem+json naming the ones that failed).
public struct HealthController: Sendable {
    let checks: [ReadinessCheck]
    let timeout: Duration

    /// Creates the controller.
    public init(checks: [ReadinessCheck], timeout: Duration = .seconds(2)) {
        self.checks = checks
        self.timeout = timeout
    }

    /// Adds the two routes.
    public func addRoutes(to router: Router<SensormineRequestContext>) {
        router.get("/health") { _, _ in ["status": "up"] }
        router.get("/health/ready") { _, _ in
            let report = await self.evaluate()
            guard report.status == "ready" else {
                let failed = report.checks.filter { $0.value != "up" }.keys.sorted()
                let reasons = failed.map { "\($0): \(report.checks[$0] ?? "")" }.joined(separator: "; ")
                throw APIError.serviceUnavailable("dependency \(failed.joined(separator: ", ")) not available (\(reasons))", checks: report.checks)
            }
            return report
        }
    }

    /// Runs every check concurrently, each bounded by the timeout.
    public func evaluate() async -> ReadinessReport {
        let timeout = self.timeout
        let results = await withTaskGroup(of: (String, String).self) { group in
            for check in self.checks {
                group.addTask {
                    let outcome = await withTaskGroup(of: String?.self) { inner in
                        inner.addTask {
                            do {
                                try await check.check()
                                return "up"
                            } catch {
                                return "\(error)"
                            }
                        }
                        inner.addTask {
                            try? await Task.sleep(for: timeout)
                            return Task.isCancelled ? nil : "no answer within \(timeout)"
                        }
                        defer { inner.cancelAll() }
                        while let value = await inner.next() {
                            if let value { return value }
                        }
                        return "no answer"
                    }
                    return (check.name, outcome)
                }
            }
            var results: [String: String] = [:]
            for await (name, outcome) in group { results[name] = outcome }
            return results
        }
        let ready = results.values.allSatisfy { $0 == "up" }
        return ReadinessReport(status: ready ? "ready" : "not-ready", checks: results)
    }
}
