import ClientRuntime
import Foundation
import Logging
import HTTPTypes
import Hummingbird

/// An RFC 9457 problem document.
public struct ProblemDetails: Codable, Sendable, Equatable {
    /// A URI naming the problem type (`urn:sensormine:problem:<slug>`).
    public var type: String
    /// Short, stable summary of the type.
    public var title: String
    /// The HTTP status code.
    public var status: Int
    /// Explanation of this occurrence, written for the client.
    public var detail: String?
    /// The request path it concerns.
    public var instance: String?
    /// The request id, to quote when reporting the problem.
    public var requestId: String?
    /// Field-level validation failures.
    public var errors: [FieldError]?
    /// Per-dependency state, for readiness failures.
    public var checks: [String: String]?

    /// One invalid field.
    public struct FieldError: Codable, Sendable, Equatable {
        /// JSON pointer or parameter name of the field.
        public var pointer: String
        /// What is wrong with it.
        public var detail: String

        /// Creates a field error.
        public init(pointer: String, detail: String) {
            self.pointer = pointer
            self.detail = detail
        }
    }
}

/// The one error family services throw at their HTTP edge; rendered as problem+json.
public struct APIError: Error, HTTPResponseError, Sendable {
    /// HTTP status.
    public var status: HTTPResponse.Status
    /// Problem type slug, e.g. "validation-failed".
    public var slug: String
    /// Short summary.
    public var title: String
    /// Explanation for the client.
    public var detail: String?
    /// Field errors.
    public var errors: [ProblemDetails.FieldError]?
    /// Dependency states (readiness).
    public var checks: [String: String]?
    /// Extra response headers (Retry-After, WWW-Authenticate).
    public var headers: HTTPFields

    /// Creates an error.
    public init(status: HTTPResponse.Status, slug: String, title: String, detail: String? = nil,
                errors: [ProblemDetails.FieldError]? = nil, checks: [String: String]? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = errors
        self.checks = checks
        self.headers = headers
    }

    /// 400: the request is malformed.
    public static func badRequest(_ detail: String, errors: [ProblemDetails.FieldError]? = nil) -> APIError {
        APIError(status: .badRequest, slug: "bad-request", title: "Bad request", detail: detail, errors: errors)
    }
    /// 422: well-formed but invalid.
    public static func validationFailed(_ detail: String, errors: [ProblemDetails.FieldError]) -> APIError {
        APIError(status: .unprocessableContent, slug: "validation-failed", title: "Validation failed", detail: detail, errors: errors)
    }
    /// 404: no such resource.
    public static func notFound(_ detail: String) -> APIError {
        APIError(status: .notFound, slug: "not-found", title: "Not found", detail: detail)
    }
    /// 409: conflicts with the current state.
    public static func conflict(_ detail: String) -> APIError {
        APIError(status: .conflict, slug: "conflict", title: "Conflict", detail: detail)
    }
    /// 401: missing or invalid credentials.
    public static func unauthorized(_ detail: String) -> APIError {
        APIError(status: .unauthorized, slug: "unauthorized", title: "Unauthorized", detail: detail, headers: [.wwwAuthenticate: "Bearer"])
    }
    /// 403: authenticated but not allowed.
    public static func forbidden(_ detail: String) -> APIError {
        APIError(status: .forbidden, slug: "forbidden", title: "Forbidden", detail: detail)
    }
    /// 503: a dependency is unavailable.
    public static func serviceUnavailable(_ detail: String, checks: [String: String]? = nil) -> APIError {
        APIError(status: .serviceUnavailable, slug: "service-unavailable", title: "Service unavailable", detail: detail, checks: checks)
    }

    /// The problem document for a request.
    public func problem(instance: String?, requestID: String?) -> ProblemDetails {
        ProblemDetails(type: "urn:sensormine:problem:\(self.slug)", title: self.title, status: Int(self.status.code), detail: self.detail,
                       instance: instance, requestId: requestID, errors: self.errors, checks: self.checks)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let requestID = (context as? SensormineRequestContext)?.requestID
        return Self.render(self.problem(instance: request.uri.path, requestID: requestID), headers: self.headers)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Renders a problem as `application/problem+json`.
    public static func render(_ problem: ProblemDetails, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: HTTPResponse.Status(code: problem.status), headers: fields, body: ResponseBody(byteBuffer: Self.document(problem)))
    }

    /// A problem's JSON document.
    public static func document(_ problem: ProblemDetails) -> ByteBuffer {
        let data = (try? Self.encoder.encode(problem)) ?? Data("{\"title\":\"Internal error\",\"status\":500}".utf8)
        return ByteBuffer(bytes: data)
    }
}

/// Turns every error that reaches the edge into problem+json: ``APIError`` as it is, Hummingbird's
/// own errors (404, 405, bad JSON, body too large) with their status and message, anything else
/// as a 500 that names only the request id, never the error.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = SensormineRequestContext

    /// Creates the middleware.
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as any ProblemConvertible {
            return try error.apiError.response(from: request, context: context)
        } catch let error as ClientError where error.isUnavailable {
            context.logger.warning("dependency unavailable", metadata: [LogKey.error: "\(error)"])
            var unavailable = APIError.serviceUnavailable("a service this request needs (\(error.client)) is unavailable; retry shortly")
            unavailable.headers[.retryAfter] = "5"
            return try unavailable.response(from: request, context: context)
        } catch let error as ClientError where error.isDataRefusal {
            // A value the database cannot hold that validation let through: the client's data,
            // so a 4xx that says what, never a 500. The message names no SQL and no value.
            context.logger.notice("database refused a request's data", metadata: [LogKey.error: "\(error)"])
            let conflict = error.serverCode?.hasPrefix("23") == true
            let refusal = APIError(status: conflict ? .conflict : .badRequest, slug: conflict ? "conflict" : "bad-request",
                                   title: conflict ? "Conflict" : "Bad request", detail: "the database refused a value of this request: \(error.message)")
            return try refusal.response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            let status = error.status
            var detail: String?
            if let httpError = error as? HTTPError { detail = httpError.body }
            let slug = status.code == 404 ? "not-found" : status.code == 405 ? "method-not-allowed" : status.code == 413 ? "payload-too-large" : status.code < 500 ? "bad-request" : "server-error"
            let problem = ProblemDetails(type: "urn:sensormine:problem:\(slug)", title: status.reasonPhrase, status: Int(status.code),
                                         detail: detail ?? (status.code == 404 ? "no route for \(request.method) \(request.uri.path)" : nil),
                                         instance: request.uri.path, requestId: context.requestID)
            return APIError.render(problem)
        } catch {
            context.logger.error("unhandled error", metadata: [LogKey.error: "\(String(reflecting: error))"])
            let problem = ProblemDetails(type: "urn:sensormine:problem:internal-error", title: "Internal server error", status: 500,
                                         detail: "an internal error occurred; quote the request id when reporting it",
                                         instance: request.uri.path, requestId: context.requestID)
            return APIError.render(problem)
        }
    }
}

/// A domain error that knows its problem+json form, so routes can let it propagate: the domain
/// stays free of HTTP and the mapping lives next to the error.
public protocol ProblemConvertible: Error {
    /// The problem to answer with.
    var apiError: APIError { get }
}
