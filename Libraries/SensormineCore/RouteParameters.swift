import Foundation
import Hummingbird

/// Path and query parameters as every service's routes read them: a bad value is a 400 problem
/// naming the parameter, never a 500.
public enum RouteParameters {
    /// The UUID in path parameter `name`.
    public static func uuid(_ context: SensormineRequestContext, _ name: String = "id", what: String) throws -> UUID {
        guard let text = context.parameters.get(name), let id = UUID(uuidString: text) else {
            throw APIError.badRequest("the \(what) id must be a UUID", errors: [.init(pointer: name, detail: "not a UUID")])
        }
        return id
    }

    /// Query parameter `name` as an integer in `range`, or `value` when absent.
    public static func integer(_ request: Request, _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = request.uri.queryParameters[name[...]].map(String.init) else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError.badRequest("\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)", errors: [.init(pointer: name, detail: "out of range")])
        }
        return number
    }

    /// Query parameter `name` as a UUID, or nil when absent.
    public static func optionalUUID(_ request: Request, _ name: String) throws -> UUID? {
        guard let text = request.uri.queryParameters[name[...]].map(String.init) else { return nil }
        guard let id = UUID(uuidString: text) else { throw APIError.badRequest("\(name) must be a UUID", errors: [.init(pointer: name, detail: "not a UUID")]) }
        return id
    }

    /// Query parameter `name` as comma-separated UUIDs (at least one, at most `maximum`), or nil when absent.
    public static func optionalUUIDList(_ request: Request, _ name: String, maximum: Int) throws -> [UUID]? {
        guard let text = request.uri.queryParameters[name[...]] else { return nil }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count <= maximum else {
            throw APIError.badRequest("\(name) names at most \(maximum) ids", errors: [.init(pointer: name, detail: "\(parts.count) ids")])
        }
        var ids: [UUID] = []
        ids.reserveCapacity(parts.count)
        for (index, part) in parts.enumerated() {
            guard let id = UUID(uuidString: String(part)) else {
                throw APIError.badRequest("\(name) must be comma-separated UUIDs", errors: [.init(pointer: name, detail: "item \(index + 1) is not a UUID")])
            }
            ids.append(id)
        }
        return ids
    }

    /// Query parameter `name` as text, or nil when absent.
    public static func string(_ request: Request, _ name: String) -> String? {
        request.uri.queryParameters[name[...]].map(String.init)
    }
}
