import Curl
import Foundation
import SensormineJSON

/// Headless Chromium driven over the W3C WebDriver protocol (Debian's chromium-driver), the same
/// protocol Selenium speaks: the browser tests stay in Swift Testing, beside the services they
/// start in-process. One `WebDriver` is one chromedriver process with one browser session.
public final class WebDriver: Sendable {
    /// A failed command, with WebDriver's error name and message.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// An element reference.
    public struct Element: Sendable {
        public let id: String
    }

    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"
    private let driver: ChildProcess
    private let client: HTTPClient
    private let base: String

    /// Starts chromedriver on `port` and a headless Chromium session with a window of `width`×`height`.
    public init(port: Int, width: Int = 1280, height: Int = 900) async throws {
        self.driver = try ChildProcess(executable: "/usr/bin/chromedriver", arguments: ["--port=\(port)", "--allowed-ips=127.0.0.1"], environment: [:])
        self.client = HTTPClient(configuration: .init(maximumRetries: 0))
        let driverURL = "http://127.0.0.1:\(port)"
        var ready = false
        for _ in 0..<100 where !ready {
            ready = (try? await self.client.get(driverURL + "/status"))?.status == 200
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        guard ready else { throw Failure(description: "chromedriver did not start: \(self.driver.output.suffix(500))") }
        let capabilities: JSON = .object(["capabilities": .object(["alwaysMatch": .object([
            "browserName": .string("chrome"),
            "goog:loggingPrefs": .object(["browser": .string("SEVERE")]),
            "goog:chromeOptions": .object([
                "binary": .string("/usr/bin/chromium"),
                "args": .array(["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=\(width),\(height)",
                                 "--lang=en-GB", "--no-first-run", "--disable-extensions"].map(JSON.string)),
            ]),
        ])])])
        let session = try await Self.command(self.client, "POST", driverURL + "/session", capabilities)
        guard let id = session["sessionId"]?.string else { throw Failure(description: "no session: \(session)") }
        self.base = driverURL + "/session/" + id
        _ = try await self.send("POST", "/timeouts", .object(["script": .number(30_000), "implicit": .number(0), "pageLoad": .number(30_000)]))
    }

    /// Ends the session and chromedriver.
    public func quit() async {
        _ = try? await self.send("DELETE", "", nil)
        self.driver.signal(SIGTERM)
        _ = await self.driver.waitForExit(timeout: .seconds(5))
        await self.client.shutdown()
    }

    private static func command(_ client: HTTPClient, _ method: String, _ url: String, _ body: JSON?) async throws -> JSON {
        let bytes = try body.map { Array(try JSONEncoder().encode($0)) }
        let response = try await client.execute(HTTPClientRequest(method: method, url: url, headers: [("Content-Type", "application/json")], body: bytes ?? (method == "POST" ? Array("{}".utf8) : nil),
                                                                  timeout: .seconds(60)))
        let answer = (try? JSON.parse(response.body)) ?? .null
        guard response.status == 200 else {
            throw Failure(description: "\(method) \(url): \(answer["value"]?["error"]?.string ?? "HTTP \(response.status)"): \(answer["value"]?["message"]?.string?.prefix(400) ?? "")")
        }
        return answer["value"] ?? .null
    }

    @discardableResult
    private func send(_ method: String, _ path: String, _ body: JSON?) async throws -> JSON {
        try await Self.command(self.client, method, self.base + path, body)
    }

    public func open(_ url: String) async throws { try await self.send("POST", "/url", .object(["url": .string(url)])) }

    public func setWindowSize(width: Int, height: Int) async throws {
        try await self.send("POST", "/window/rect", .object(["width": .number(Double(width)), "height": .number(Double(height))]))
    }

    /// The first element matching `css`, or nil.
    public func find(_ css: String) async throws -> Element? {
        let found = try await self.send("POST", "/elements", .object(["using": .string("css selector"), "value": .string(css)]))
        return found.array?.first?[Self.elementKey]?.string.map(Element.init)
    }

    /// Waits up to `timeout` for an element matching `css` (that is displayed, unless `displayed` is false).
    public func waitFor(_ css: String, timeout: Duration = .seconds(15), displayed: Bool = true) async throws -> Element {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let element = try await self.find(css) {
                if !displayed { return element }
                if case .bool(true) = try await self.send("GET", "/element/\(element.id)/displayed", nil) { return element }
            }
            guard ContinuousClock.now < deadline else {
                throw Failure(description: "no \(css) within \(timeout); the page says: \(String((try? await self.text("main")) ?? "").prefix(600))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Waits until `script` (a function body) returns something other than null or false, and returns it.
    public func waitUntil(_ script: String, _ arguments: [JSON] = [], timeout: Duration = .seconds(15), what: String) async throws -> JSON {
        let deadline = ContinuousClock.now + timeout
        while true {
            let value = try await self.execute(script, arguments)
            switch value {
            case .null, .bool(false): break
            default: return value
            }
            guard ContinuousClock.now < deadline else {
                throw Failure(description: "\(what) did not happen within \(timeout); the page says: \(String((try? await self.text("main")) ?? "").prefix(600))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    public func click(_ element: Element) async throws { try await self.send("POST", "/element/\(element.id)/click", nil) }

    public func click(_ css: String) async throws { try await self.click(try await self.waitFor(css)) }

    public func type(_ text: String, into css: String) async throws {
        let element = try await self.waitFor(css, displayed: !css.contains("file"))
        try await self.send("POST", "/element/\(element.id)/clear", nil)
        try await self.send("POST", "/element/\(element.id)/value", .object(["text": .string(text)]))
    }

    /// Chooses a file in an `<input type=file>` (the path is on this machine, where the browser runs).
    public func upload(_ path: String, into css: String) async throws {
        let element = try await self.waitFor(css, displayed: false)
        try await self.send("POST", "/element/\(element.id)/value", .object(["text": .string(path)]))
    }

    /// The visible text of the first element matching `css`.
    public func text(_ css: String) async throws -> String {
        guard let element = try await self.find(css) else { return "" }
        return try await self.send("GET", "/element/\(element.id)/text", nil).string ?? ""
    }

    /// Runs `script` (a function body; `arguments[0]`… are the arguments) in the page.
    public func execute(_ script: String, _ arguments: [JSON] = []) async throws -> JSON {
        try await self.send("POST", "/execute/sync", .object(["script": .string(script), "args": .array(arguments)]))
    }

    /// Runs `script` with a callback as its last argument, for work the page finishes later.
    public func executeAsync(_ script: String, _ arguments: [JSON] = []) async throws -> JSON {
        try await self.send("POST", "/execute/async", .object(["script": .string(script), "args": .array(arguments)]))
    }

    /// The page's URL.
    public func url() async throws -> String { try await self.send("GET", "/url", nil).string ?? "" }

    public func back() async throws { try await self.send("POST", "/back", nil) }

    /// Saves a PNG of the window to `path`.
    public func screenshot(to path: String) async throws {
        let encoded = try await self.send("GET", "/screenshot", nil).string ?? ""
        guard let data = Data(base64Encoded: encoded) else { throw Failure(description: "the screenshot is not base64") }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// Errors the page logged (uncaught exceptions, CSP violations, failed loads).
    public func consoleErrors() async throws -> [String] {
        let logs = try? await Self.command(self.client, "POST", self.base + "/se/log", .object(["type": .string("browser")]))
        return (logs?.array ?? []).compactMap { entry in
            entry["level"]?.string == "SEVERE" ? entry["message"]?.string : nil
        }
    }
}
