/// What a service's domain refuses with, answered as its problem document: the failures every
/// service's routes share (services name it after themselves, e.g. `AlertsError`).
public enum ServiceError: ProblemConvertible {
    /// 422: the fields named by their JSON pointers are invalid.
    case invalid(String, [ProblemDetails.FieldError])
    /// 404.
    case notFound(String)
    /// 403.
    case forbidden(String)
    /// 409.
    case conflict(String)
    /// 503: a dependency or a capability is not available here.
    case unavailable(String)

    public var apiError: APIError {
        switch self {
        case .invalid(let detail, let errors): .validationFailed(detail, errors: errors)
        case .notFound(let detail): .notFound(detail)
        case .forbidden(let detail): .forbidden(detail)
        case .conflict(let detail): .conflict(detail)
        case .unavailable(let detail): .serviceUnavailable(detail)
        }
    }
}
