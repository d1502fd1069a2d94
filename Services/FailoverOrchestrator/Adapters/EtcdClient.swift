import ClientRuntime
import Curl
import Foundation

/// etcd v3 through its JSON gateway (`/v3/...`, keys and values base64, 64-bit numbers as
/// strings): leases, a put-if-absent transaction, reads and writes. Only what leader election
/// and the topology record need; each call goes to the first endpoint that answers.
struct EtcdClient: Sendable {
    let endpoints: [String]
    let http: HTTPClient
    /// Per call: a lease of one second leaves no room for slow calls.
    let timeout: Duration

    /// A granted lease: its id and the TTL etcd actually granted (it may raise a small one).
    struct Lease: Sendable, Equatable {
        var id: String
        var ttl: Duration
    }

    func grantLease(ttl: Duration) async throws -> Lease {
        struct Request: Encodable { var TTL: String }
        struct Response: Decodable { var ID: String?; var TTL: String?; var error: String? }
        let seconds = max(1, ttl.components.seconds)
        let answer: Response = try await self.call("/v3/lease/grant", Request(TTL: String(seconds)))
        guard let id = answer.ID, let granted = answer.TTL.flatMap(Int64.init), granted > 0 else {
            throw ClientError(.serverError, client: "etcd", "lease not granted: \(answer.error ?? "no id")")
        }
        return Lease(id: id, ttl: .seconds(granted))
    }

    /// Renews a lease; answers false when it has expired (etcd answers without a TTL).
    func keepAlive(_ lease: Lease) async throws -> Bool {
        struct Request: Encodable { var ID: String }
        struct Result: Decodable { var TTL: String? }
        struct Response: Decodable { var result: Result? }
        let answer: Response = try await self.call("/v3/lease/keepalive", Request(ID: lease.id))
        return (answer.result?.TTL.flatMap(Int64.init) ?? 0) > 0
    }

    func revoke(_ lease: Lease) async throws {
        struct Request: Encodable { var ID: String }
        struct Response: Decodable {}
        let _: Response = try await self.call("/v3/lease/revoke", Request(ID: lease.id))
    }

    /// Puts `value` under `key` bound to `lease` unless the key exists; answers the key's value
    /// after the transaction (ours when we won).
    func putIfAbsent(key: String, value: String, lease: Lease) async throws -> String? {
        struct Compare: Encodable { var key: String; var target = "CREATE"; var create_revision = "0" }
        struct Put: Encodable { var key: String; var value: String; var lease: String }
        struct Range: Encodable { var key: String }
        struct Success: Encodable { var request_put: Put }
        struct Failure: Encodable { var request_range: Range }
        struct Request: Encodable { var compare: [Compare]; var success: [Success]; var failure: [Failure] }
        struct RangeResponse: Decodable { var kvs: [KeyValue]? }
        struct Operation: Decodable { var response_range: RangeResponse? }
        struct Response: Decodable { var succeeded: Bool?; var responses: [Operation]? }
        let encodedKey = Self.base64(key)
        let answer: Response = try await self.call("/v3/kv/txn", Request(
            compare: [Compare(key: encodedKey)],
            success: [Success(request_put: Put(key: encodedKey, value: Self.base64(value), lease: lease.id))],
            failure: [Failure(request_range: Range(key: encodedKey))]))
        if answer.succeeded == true { return value }
        return answer.responses?.first?.response_range?.kvs?.first?.decodedValue
    }

    func get(_ key: String) async throws -> String? {
        struct Request: Encodable { var key: String }
        struct Response: Decodable { var kvs: [KeyValue]? }
        let answer: Response = try await self.call("/v3/kv/range", Request(key: Self.base64(key)))
        return answer.kvs?.first?.decodedValue
    }

    func put(_ key: String, _ value: String) async throws {
        struct Request: Encodable { var key: String; var value: String }
        struct Response: Decodable {}
        let _: Response = try await self.call("/v3/kv/put", Request(key: Self.base64(key), value: Self.base64(value)))
    }

    /// Deletes every key under `prefix` (tests clean up their own clusters with it).
    func deletePrefix(_ prefix: String) async throws {
        struct Request: Encodable { var key: String; var range_end: String }
        struct Response: Decodable {}
        let _: Response = try await self.call("/v3/kv/deleterange", Request(key: Self.base64(prefix), range_end: Self.base64(Self.prefixEnd(prefix))))
    }

    func health() async throws {
        for endpoint in self.endpoints {
            if let answer = try? await self.http.execute(HTTPClientRequest(url: endpoint + "/health", timeout: self.timeout)), answer.status == 200 { return }
        }
        throw ClientError(.unreachable, client: "etcd", "no etcd endpoint answered /health (\(self.endpoints.joined(separator: ", ")))")
    }

    private struct KeyValue: Decodable {
        var value: String?
        var decodedValue: String? { self.value.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } }
    }

    private func call<Body: Encodable, Answer: Decodable>(_ path: String, _ body: Body) async throws -> Answer {
        let payload = Array(try JSONEncoder().encode(body))
        var lastError: any Error = ClientError(.unreachable, client: "etcd", "no endpoints")
        for endpoint in self.endpoints {
            do {
                let answer = try await self.http.execute(HTTPClientRequest(
                    method: "POST", url: endpoint + path, headers: [("Content-Type", "application/json")], body: payload, timeout: self.timeout))
                guard answer.status == 200 else {
                    throw ClientError(answer.status >= 500 ? .serverError : .invalidRequest, client: "etcd",
                                      "\(path) answered \(answer.status): \(String(decoding: answer.body.prefix(300), as: UTF8.self))")
                }
                return try JSONDecoder().decode(Answer.self, from: Data(answer.body))
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// The smallest key greater than every key starting with `prefix`.
    private static func prefixEnd(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0x7F {
                bytes[bytes.count - 1] = last + 1
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.removeLast()
        }
        return "\0"
    }
}
