import Dispatch
import HTTPTypes
import Hummingbird
import Metrics
import Synchronization

/// Hummingbird's request metrics (the same names and dimensions: `hb.requests`,
/// `http.server.request.duration`, `hb.request.errors`), recorded
/// when the handler returns its response rather than after the body is written. Hummingbird's
/// own middleware wraps every body in a post-write closure, which turns a response held in one
/// buffer into a streamed one (head, body and end written apart, three system calls instead of
/// one) and cost the gateway a third of its throughput. A streamed body's time is therefore not
/// in the duration. Hummingbird's gauge of requests in flight is left out: two updates of one
/// shared gauge per request cost the gateway another sixth, and no dashboard or alert reads it.
public struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let cache = RequestMetricsCache()

    /// Creates the middleware.
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let response = try await next(request, context)
            let metrics = self.cache.endpoint(.init(route: context.endpointPath ?? "Unknown", method: request.method, status: response.status.code))
            metrics.requests.increment()
            metrics.duration.recordNanoseconds(Int64(clamping: DispatchTime.now().uptimeNanoseconds &- start))
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            let metrics = self.cache.endpoint(.init(route: context.endpointPath ?? "NotFound", method: request.method, status: status.code))
            metrics.requests.increment()
            metrics.errors.increment()
            throw error
        }
    }
}

/// The metric handles per route, method and status, made once each.
public final class RequestMetricsCache: Sendable {
    /// Creates an empty cache.
    public init() {}

    /// Counts one answered request and its duration, as the middleware does (for requests
    /// answered outside the router: the gateway's event-loop path); `failed` when the answer is
    /// the server's own refusal, what the middleware counts as an error.
    public func record(route: String, method: HTTPRequest.Method, status: Int, nanoseconds: Int64, failed: Bool) {
        let metrics = self.endpoint(.init(route: route, method: method, status: status))
        metrics.requests.increment()
        metrics.duration.recordNanoseconds(nanoseconds)
        if failed { metrics.errors.increment() }
    }

    struct EndpointID: Hashable {
        var route: String
        var method: HTTPRequest.Method
        var status: Int
    }

    struct Endpoint: Sendable {
        let requests: Counter
        let duration: Metrics.Timer
        let errors: Counter
    }

    private let endpoints = Mutex<[EndpointID: Endpoint]>([:])

    func endpoint(_ id: EndpointID) -> Endpoint {
        self.endpoints.withLock { endpoints in
            if let endpoint = endpoints[id] { return endpoint }
            let dimensions = [("http.route", id.route), ("http.request.method", id.method.rawValue), ("http.response.status_code", String(id.status))]
            let endpoint = Endpoint(
                requests: Counter(label: "hb.requests", dimensions: dimensions),
                duration: Metrics.Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds),
                errors: Counter(label: "hb.request.errors", dimensions: [("http.route", id.route), ("http.request.method", id.method.rawValue),
                                                                        ("error.type", String(id.status))]))
            endpoints[id] = endpoint
            return endpoint
        }
    }
}
