import NIOConcurrencyHelpers

/// Runs `operation` and answers within `timeout` whatever it does.
///
/// Unlike a task group racing a sleep, this does not wait for the operation to end: a call
/// blocked on a server that stopped without closing its socket (SIGSTOP, a frozen VM) cannot be
/// cancelled, and a health check must still answer on time. The operation keeps running in an
/// unstructured task until it ends; callers bound how many they start (one per probe target).
/// - Throws: ``ClientError`` with `timeout` when the deadline passes first, or what the
///   operation throws.
public func withDeadline<Result: Sendable>(
    _ timeout: Duration, client: String, _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    let settled = NIOLockedValueBox(false)
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
        func settle(_ result: Swift.Result<Result, any Error>) {
            let first = settled.withLockedValue { done in
                defer { done = true }
                return !done
            }
            if first { continuation.resume(with: result) }
        }
        let work = Task {
            do { settle(.success(try await operation())) } catch { settle(.failure(error)) }
        }
        Task {
            try? await Task.sleep(for: timeout)
            settle(.failure(ClientError(.timeout, client: client, "no answer within \(timeout)")))
            _ = work
        }
    }
}
