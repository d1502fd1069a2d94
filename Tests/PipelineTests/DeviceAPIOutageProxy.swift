import Curl
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import TestSupport

/// DeviceAPI behind a forwarding proxy that answers 503 to the requests naming one id while
/// told to: a dependency that fails for some devices of a batch (those under an asset) and not
/// for the others.
final class DeviceAPIOutageProxy: Sendable {
    private let upstream: String
    private let failing = NIOLockedValueBox<String?>(nil)

    init(upstream: String) { self.upstream = upstream }

    /// Requests whose path holds `id` answer 503 from now on (nil: none).
    func fail(naming id: String?) { self.failing.withLockedValue { $0 = id } }

    /// Serves on a free loopback port while `body` runs; `body` gets the port.
    func run<Result: Sendable>(_ body: @Sendable (Int) async throws -> Result) async throws -> Result {
        let client = HTTPClient(configuration: .init(maximumRetries: 0))
        defer { Task { await client.shutdown() } }
        return try await LocalServer.run({ router in
            for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
                router.on("**", method: method) { request, _ -> Response in
                    let target = request.uri.description
                    if let id = self.failing.withLockedValue({ $0 }), target.contains(id) { return Response(status: .serviceUnavailable) }
                    let bytes = Array(buffer: try await request.body.collect(upTo: 1 << 20))
                    let headers = request.headers.filter { $0.name != .contentLength && $0.name != .connection }.map { ($0.name.rawName, $0.value) }
                    let answer = try await client.execute(HTTPClientRequest(method: request.method.rawValue, url: self.upstream + target, headers: headers,
                                                                            body: bytes.isEmpty ? nil : bytes))
                    var fields = HTTPFields()
                    for (name, value) in answer.headers {
                        guard let field = HTTPField.Name(name), field != .contentLength, field != .transferEncoding, field != .connection else { continue }
                        fields.append(HTTPField(name: field, value: value))
                    }
                    return Response(status: HTTPResponse.Status(code: answer.status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
                }
            }
        }, body)
    }
}
