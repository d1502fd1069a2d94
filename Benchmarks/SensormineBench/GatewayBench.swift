import Foundation

/// nginx (Debian's nginx-light) in the foreground with a configuration of the bench's own: a
/// static upstream answering `ok`, and a reverse proxy in front of it with pooled keep-alive
/// connections: the anchor the gateway is measured against, in the same run.
struct NginxAnchor {
    let process: Process
    let directory: URL
    let upstreamPort: Int
    let proxyPort: Int

    static func start(upstreamPort: Int, proxyPort: Int) throws -> NginxAnchor {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sensormine-bench-nginx-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.path
        let configuration = """
            worker_processes 2;
            daemon off;
            pid \(path)/nginx.pid;
            error_log \(path)/error.log warn;
            events { worker_connections 4096; }
            http {
              access_log off;
              client_body_temp_path \(path)/body;
              proxy_temp_path \(path)/proxy;
              fastcgi_temp_path \(path)/fastcgi;
              uwsgi_temp_path \(path)/uwsgi;
              scgi_temp_path \(path)/scgi;
              default_type text/plain;
              keepalive_requests 1000000;
              upstream static_upstream { server 127.0.0.1:\(upstreamPort); keepalive 64; }
              server { listen 127.0.0.1:\(upstreamPort); location / { return 200 "ok"; } }
              server {
                listen 127.0.0.1:\(proxyPort);
                location / { proxy_pass http://static_upstream; proxy_http_version 1.1; proxy_set_header Connection ""; }
              }
            }
            """
        try configuration.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
        process.arguments = ["-p", path, "-c", directory.appendingPathComponent("nginx.conf").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return NginxAnchor(process: process, directory: directory, upstreamPort: upstreamPort, proxyPort: proxyPort)
    }

    func stop() {
        self.process.terminate()
        self.process.waitUntilExit()
        try? FileManager.default.removeItem(at: self.directory)
    }
}

/// One wrk run's figures.
struct WrkResult {
    var requestsPerSecond: Double
    var p50Milliseconds: Double
    var p99Milliseconds: Double
    /// Answers other than 2xx and 3xx (wrk counts them apart).
    var failed: Int
    var requests: Int

    /// Runs Debian's wrk against `url` with `connections` connections on two threads.
    static func run(_ url: String, connections: Int, seconds: Int, headers: [String] = []) throws -> WrkResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
        process.arguments = ["-t2", "-c\(connections)", "-d\(seconds)s", "--latency"] + headers.flatMap { ["-H", $0] } + [url]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        func field(after label: String) -> Substring? {
            text.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(label) }
                .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(label.split(separator: " ").count).first }
        }
        guard let rate = field(after: "Requests/sec:").flatMap({ Double($0) }) else {
            throw BenchError(description: "wrk printed no rate for \(url): \(text.prefix(300))")
        }
        let requests = text.split(separator: "\n").first { $0.contains("requests in") }
            .flatMap { $0.split(separator: " ").first }.flatMap { Int($0) } ?? 0
        return WrkResult(requestsPerSecond: rate, p50Milliseconds: Self.milliseconds(field(after: "50%")), p99Milliseconds: Self.milliseconds(field(after: "99%")),
                         failed: field(after: "Non-2xx or 3xx responses:").flatMap { Int($0) } ?? 0, requests: requests)
    }

    /// wrk's latencies: `245.00us`, `1.23ms`, `1.02s`.
    static func milliseconds(_ text: Substring?) -> Double {
        guard let text else { return .nan }
        for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)] where text.hasSuffix(suffix) {
            return (Double(text.dropLast(suffix.count)) ?? .nan) * scale
        }
        return .nan
    }

    /// The row: rate, latencies, and the ratios against `anchor` when given.
    func line(_ name: String, anchor: WrkResult? = nil, note: String) -> String {
        var ratio = ""
        if let anchor {
            ratio = String(format: " = %.2f× nginx's rate, p50 %.1f× nginx's;", self.requestsPerSecond / anchor.requestsPerSecond, self.p50Milliseconds / anchor.p50Milliseconds)
        }
        let failures = self.failed > 0 ? " \(self.failed) answers not 2xx!" : ""
        return name.padding(toLength: 38, withPad: " ", startingAt: 0) + String(format: " %10.0f req/s   p50 %.2f ms, p99 %.2f ms", self.requestsPerSecond, self.p50Milliseconds, self.p99Milliseconds)
            + ratio + " " + note + failures
    }
}
