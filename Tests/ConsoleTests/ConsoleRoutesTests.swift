import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SensormineCore
import Testing
import TestSupport

@testable import Console

@Suite("Console routes")
struct ConsoleRoutesTests {
    static func app() async throws -> ServiceApplication {
        let assets = ServiceBinaries.repositoryRoot.appendingPathComponent("Services/Console/Assets").path
        let configuration = try ConsoleConfiguration(reader: ConfigReader(values: ["SENSORMINE_CONSOLE_ASSETS_DIR": assets, "SENSORMINE_HTTP_PORT": "0"]))
        var logger = Logger(label: "console-tests")
        logger.logLevel = .critical
        return try await ConsoleService.buildApplication(configuration, observability: Observability(logger: logger))
    }

    static func header(_ response: TestResponse, _ name: String) -> String? { response.headers[HTTPField.Name(name)!] }

    @Test("every view's URL is the page, never cached, under a policy that allows only this origin's scripts; its hashed files are immutable and revalidate to 304")
    func pageAndFiles() async throws {
        try await Self.app().test(.router) { client in
            var page = ""
            var etag = ""
            for path in ["/console/", "/console/devices", "/console/devices/6f1c8a3e-0000-4000-8000-000000000000?range=24h", "/console/schemas/new"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok, "\(path)")
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                    #expect(response.headers[.cacheControl] == "no-cache")
                    let policy = Self.header(response, "Content-Security-Policy") ?? ""
                    #expect(policy.contains("script-src 'self'") && policy.contains("default-src 'none'") && !policy.contains("unsafe"))
                    #expect(Self.header(response, "X-Content-Type-Options") == "nosniff")
                    page = String(buffer: response.body)
                    etag = response.headers[.eTag] ?? ""
                }
            }
            #expect(!page.contains("{{asset:"))
            // No inline script: every <script> names a file.
            #expect(page.components(separatedBy: "<script").dropFirst().allSatisfy { $0.hasPrefix(" defer src=") || $0.hasPrefix(" type=\"module\" src=") })
            try await client.execute(uri: "/console/", method: .get, headers: [.ifNoneMatch: etag]) { #expect($0.status == .notModified) }

            let script = try #require(page.firstMatch(of: /\/console\/static\/app\.[0-9a-f]{12}\.js/)).output
            try await client.execute(uri: String(script), method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/javascript; charset=utf-8")
                #expect(response.headers[.cacheControl] == "public, max-age=31536000, immutable")
                // The modules it imports are named by their hashes too.
                let body = String(buffer: response.body)
                #expect(body.contains("from '/console/static/api."))
                #expect(!body.contains("from './"))
                etag = response.headers[.eTag] ?? ""
            }
            try await client.execute(uri: String(script), method: .get, headers: [.ifNoneMatch: "\"other\", \(etag)"]) { #expect($0.status == .notModified) }
            let chart = try #require(page.firstMatch(of: /\/console\/static\/chart\.[0-9a-f]{12}\.js/)).output
            try await client.execute(uri: String(chart), method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("Chart"))
            }
            try await client.execute(uri: "/console", method: .get) { response in
                #expect(response.status == .permanentRedirect)
                #expect(response.headers[.location] == "/console/")
            }
        }
    }

    @Test("a file that is not in the catalogue, a stale hash, a nested or tricky path is a 404 problem, never a file from disk")
    func unknownFiles() async throws {
        try await Self.app().test(.router) { client in
            for path in ["/console/static/app.js", "/console/static/app.000000000000.js", "/console/static/../Package.swift", "/console/static/a/b.js",
                         "/console/static/%2e%2e%2fPackage.swift", "/console/static/index.html", "/console/static/app.js%00.png"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .notFound, "\(path)")
                    #expect(response.headers[.contentType] == "application/problem+json", "\(path)")
                    #expect(!String(buffer: response.body).contains("import"), "\(path)")
                }
            }
        }
    }
}
