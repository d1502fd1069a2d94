import Crypto
import Curl
import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import SensormineContracts

/// A webhook and SMS receiver: records what arrives (and when), checks webhook signatures, and
/// answers as told (a status per attempt, then 200).
public final class RecordingReceiver: Sendable {
    /// One request as it arrived.
    public struct Delivery: Sendable {
        public var hook: String
        public var body: [UInt8]
        public var timestamp: String?
        public var signature: String?
        public var status: Int
        public var at: Date
    }

    public init() {}

    private let deliveries = NIOLockedValueBox<[Delivery]>([])
    private let plans = NIOLockedValueBox<[String: [Int]]>([:])

    /// The next answers of `hook` (then 200).
    public func plan(_ hook: String, statuses: [Int]) { self.plans.withLockedValue { $0[hook] = statuses } }

    /// Every request to `hook` so far.
    public func received(_ hook: String) -> [Delivery] { self.deliveries.withLockedValue { $0.filter { $0.hook == hook } } }

    /// Successful deliveries to `hook`, decoded.
    public func payloads(_ hook: String) throws -> [AlertNotificationPayload] {
        let decoder = ContractCoding.decoder()
        return try self.received(hook).filter { $0.status == 200 }.map { try decoder.decode(AlertNotificationPayload.self, from: Data($0.body)) }
    }

    /// Serves on a free loopback port while `body` runs; `body` gets the port.
    public func run<Result: Sendable>(_ body: @Sendable (Int) async throws -> Result) async throws -> Result {
        try await LocalServer.run({ router in self.addRoutes(to: router) }, body)
    }

    private func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/hooks/{name}") { request, context -> Response in
            let name = context.parameters.get("name") ?? ""
            let bytes = Array(buffer: try await request.body.collect(upTo: 1 << 20))
            let status = self.plans.withLockedValue { plans -> Int in
                guard var queue = plans[name], !queue.isEmpty else { return 200 }
                let next = queue.removeFirst()
                plans[name] = queue
                return next
            }
            self.deliveries.withLockedValue {
                $0.append(Delivery(hook: name, body: bytes, timestamp: request.headers[HTTPField.Name("X-Sensormine-Timestamp")!],
                                   signature: request.headers[HTTPField.Name("X-Sensormine-Signature")!], status: status, at: Date()))
            }
            return Response(status: HTTPResponse.Status(code: status))
        }
        router.post("/sms/2010-04-01/Accounts/{sid}/Messages.json") { request, context -> Response in
            let bytes = Array(buffer: try await request.body.collect(upTo: 1 << 16))
            let authorised = request.headers[.authorization] == "Basic " + Data("AC123:sms-token".utf8).base64EncodedString()
            self.deliveries.withLockedValue { $0.append(Delivery(hook: "sms", body: bytes, timestamp: nil, signature: authorised ? "basic" : nil, status: 201, at: Date())) }
            return Response(status: .created, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"sid":"SM1","status":"queued"}"#)))
        }
    }

    /// Whether `delivery` carries the signature of `secret` over its timestamp and body.
    public static func verify(_ delivery: Delivery, secret: String) -> Bool {
        guard let timestamp = delivery.timestamp, let signature = delivery.signature else { return false }
        let code = HMAC<SHA256>.authenticationCode(for: Array((timestamp + ".").utf8) + delivery.body, using: SymmetricKey(data: Array(secret.utf8)))
        return signature == "v1=" + code.map { String(format: "%02x", $0) }.joined()
    }
}

/// aiosmtpd on a free loopback port, storing what it receives in a maildir.
public struct Mailbox: Sendable {
    public let directory: URL
    public let process: ChildProcess
    public let port: Int

    /// Starts aiosmtpd and waits until it listens.
    public static func start() async throws -> Mailbox {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mailbox-\(UUID().uuidString)")
        // Below the ephemeral range (32768–60999), where no outgoing connection holds it.
        let port = Int.random(in: 21_000...28_999)
        let process = try ChildProcess(executable: "/usr/bin/python3", arguments: ["-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)", "-c", "aiosmtpd.handlers.Mailbox", directory.path],
                                       environment: ["PATH": "/usr/bin:/bin"])
        for _ in 0..<100 {
            if Self.listening(port) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return Mailbox(directory: directory, process: process, port: port)
    }

    /// Whether something accepts connections on 127.0.0.1:`port`.
    public static func listening(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(clamping: port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// The messages received, oldest first.
    public var messages: [String] {
        let folder = self.directory.appendingPathComponent("new")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().compactMap { try? String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8) }
    }
}


/// localstripe (PyPI), the stateful fake of Stripe's API, on a free loopback port with a state of
/// its own: it signs the webhooks it sends (`POST /_config/webhooks/{id}`) as Stripe does.
public struct LocalStripe: Sendable {
    public let process: ChildProcess
    public let port: Int
    public var url: String { "http://127.0.0.1:\(self.port)" }

    /// Starts localstripe from `.stack/stripe-venv` (installed by `make deps`), bound to
    /// loopback only, and empties its state.
    public static func start() async throws -> LocalStripe {
        let python = FileManager.default.currentDirectoryPath + "/.stack/stripe-venv/bin/python"
        let port = Int.random(in: 21_000...28_999)
        let script = #"from aiohttp import web; from localstripe import server; web.run_app(server.app, host="127.0.0.1", port=\#(port))"#
        let process = try ChildProcess(executable: python, arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"])
        for _ in 0..<150 where !Mailbox.listening(port) { try await Task.sleep(for: .milliseconds(100)) }
        let stripe = LocalStripe(process: process, port: port)
        _ = try await stripe.request("DELETE", "/_config/data")
        return stripe
    }

    /// Sends Stripe's signed events to `url` with `secret`.
    public func configureWebhook(url: String, secret: String) async throws {
        func escape(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "" }
        _ = try await self.request("POST", "/_config/webhooks/sensormine", form: "url=\(escape(url))&secret=\(escape(secret))")
    }

    /// One call to localstripe's API with the test's key; the status and the body.
    @discardableResult
    public func request(_ method: String, _ path: String, form: String? = nil) async throws -> (status: Int, body: [UInt8]) {
        let client = HTTPClient(configuration: .init(maximumRetries: 0))
        defer { Task { await client.shutdown() } }
        var headers: [(name: String, value: String)] = [("Authorization", "Bearer \(Self.secretKey)")]
        if form != nil { headers.append(("Content-Type", "application/x-www-form-urlencoded")) }
        let response = try await client.execute(HTTPClientRequest(method: method, url: self.url + path, headers: headers, body: form.map { Array($0.utf8) }))
        return (response.status, response.body)
    }

    /// The key the tests give Billing.
    public static let secretKey = "sk_test_sensormine"

    public func stop() { self.process.signal(SIGTERM) }
}
