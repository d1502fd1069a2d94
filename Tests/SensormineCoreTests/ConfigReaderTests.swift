import Foundation
import Logging
import Testing

@testable import SensormineCore

@Suite("Configuration")
struct ConfigReaderTests {
    @Test("missing and malformed settings fail with the variable's name")
    func errorsNameTheVariable() throws {
        let reader = ConfigReader(values: ["SENSORMINE_HTTP_PORT": "eighty", "SENSORMINE_FLAG": "maybe", "SENSORMINE_WAIT": "soon"])
        #expect(throws: ConfigurationError(key: "SENSORMINE_HTTP_PORT", problem: "expected an integer, got 'eighty'")) {
            try reader.port("SENSORMINE_HTTP_PORT")
        }
        #expect(throws: ConfigurationError(key: "SENSORMINE_REDIS_URL", problem: "is required but not set")) {
            try reader.string("SENSORMINE_REDIS_URL")
        }
        let flag = #expect(throws: ConfigurationError.self) { try reader.bool("SENSORMINE_FLAG") }
        #expect(flag?.key == "SENSORMINE_FLAG")
        let wait = #expect(throws: ConfigurationError.self) { try reader.duration("SENSORMINE_WAIT") }
        #expect(wait?.description.contains("SENSORMINE_WAIT") == true)
    }

    @Test("ports are range-checked and URLs scheme-checked without echoing credentials")
    func rangesAndURLs() throws {
        let reader = ConfigReader(values: ["P": "70000", "U": "mysql://user:hunter2@db/x"])
        let port = #expect(throws: ConfigurationError.self) { try reader.port("P") }
        #expect(port?.problem.contains("1...65535") == true)
        let url = #expect(throws: ConfigurationError.self) { try reader.url("U", schemes: ["postgresql"]) }
        #expect(url?.description.contains("hunter2") == false)
    }

    @Test("durations accept ms, s, m, h and bare seconds")
    func durations() throws {
        let reader = ConfigReader(values: ["A": "250ms", "B": "5s", "C": "2m", "D": "1h", "E": "1.5"])
        #expect(try reader.duration("A") == .milliseconds(250))
        #expect(try reader.duration("B") == .seconds(5))
        #expect(try reader.duration("C") == .seconds(120))
        #expect(try reader.duration("D") == .seconds(3600))
        #expect(try reader.duration("E") == .milliseconds(1500))
        #expect(try reader.duration("F", default: .seconds(9)) == .seconds(9))
    }

    @Test("an env-file is read and the environment overrides it")
    func fileThenEnvironment() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sensormine-\(UUID().uuidString).env").path
        try "# comment\nexport SENSORMINE_A=from-file\nSENSORMINE_B=\"quoted value\"\nSENSORMINE_C=file\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try ConfigReader.load(environment: ["SENSORMINE_CONFIG_FILE": path, "SENSORMINE_C": "env", "HOME": "/root"])
        #expect(try reader.string("SENSORMINE_A") == "from-file")
        #expect(try reader.string("SENSORMINE_B") == "quoted value")
        #expect(try reader.string("SENSORMINE_C") == "env")
        #expect(reader.optionalString("HOME") == nil)
    }

    @Test("a broken config file is reported against SENSORMINE_CONFIG_FILE")
    func brokenFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sensormine-\(UUID().uuidString).env").path
        try "SENSORMINE_A=1\nthis is not a setting\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: ConfigurationError.self) { try ConfigReader.load(environment: ["SENSORMINE_CONFIG_FILE": path]) }
        #expect(error?.key == "SENSORMINE_CONFIG_FILE")
        #expect(error?.problem.contains("line 2") == true)
    }

    @Test("log settings reject unknown levels")
    func logging() throws {
        #expect(try LoggingSettings(reader: ConfigReader(values: ["SENSORMINE_LOG_LEVEL": "debug"])).level == .debug)
        let error = #expect(throws: ConfigurationError.self) { try LoggingSettings(reader: ConfigReader(values: ["SENSORMINE_LOG_LEVEL": "loud"])) }
        #expect(error?.key == "SENSORMINE_LOG_LEVEL")
    }
}

@Suite("Trace context")
struct TraceParentTests {
    @Test("valid traceparent values parse; invalid ones are refused")
    func parsing() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let parsed = TraceParent(header: value)
        #expect(parsed?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(parsed?.description == value)
        #expect(TraceParent(header: "00-00000000000000000000000000000000-00f067aa0ba902b7-01") == nil)
        #expect(TraceParent(header: "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01") == nil)
        #expect(TraceParent(header: "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01") == nil)
        #expect(TraceParent(header: "garbage") == nil)
        let child = parsed!.child()
        #expect(child.traceID == parsed!.traceID)
        #expect(child.parentID != parsed!.parentID)
    }

    @Test("generated ids: version-4 UUIDs for requests and valid, distinct trace and span ids, without a system call each")
    func generatedIdentifiers() {
        let requestIDs = (0..<10_000).map { _ in RandomIdentifiers.uuidString() }
        #expect(Set(requestIDs).count == requestIDs.count)
        for id in requestIDs.prefix(200) {
            let uuid = UUID(uuidString: id)
            #expect(uuid != nil && uuid?.uuidString.lowercased() == id, "\(id)")
            #expect(Array(id)[14] == "4" && "89ab".contains(Array(id)[19]), "\(id): version 4, RFC 4122 variant")
            #expect(RequestIdentityMiddleware.isAcceptable(requestID: id))
        }
        let traces = (0..<1_000).map { _ in TraceParent.random() }
        #expect(Set(traces.map(\.traceID)).count == traces.count)
        #expect(traces.allSatisfy { TraceParent(header: $0.description) == $0 })
        // Every hex digit turns up in every position over many draws: the bytes are spread.
        #expect(Set(traces.map { Array($0.traceID)[0] }).count == 16)
        #expect(Set(traces.map { Array($0.parentID)[15] }).count == 16)
    }

    @Test("a UUID's text is its 36 characters exactly, as Foundation writes it or in upper case; nothing looser")
    func uuidText() {
        let generated = (0..<200).map { _ in UUID().uuidString } + (0..<200).map { _ in RandomIdentifiers.uuidString() }
        #expect(generated.allSatisfy(UUIDText.isValid))
        #expect(UUIDText.isValid("ffffffff-FFFF-aBcD-0000-000000000000"))
        // Foundation's parser takes the last three; none is a UUID PostgreSQL or a URL path should see.
        let refused = ["", "0", "00000000-0000-0000-0000-00000000000", "00000000-0000-0000-0000-0000000000000", "00000000x0000-0000-0000-000000000000",
                       "0000000-00000-0000-0000-000000000000", "g0000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-00000000000\u{0}",
                       "00000000-0000-0000-0000-00000000000é", "{00000000-0000-0000-0000-000000000000}", "00000000000000000000000000000000",
                       " 0000000-0000-0000-0000-000000000000", "+0000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-0000000000-0"]
        for text in refused {
            #expect(!UUIDText.isValid(text), "\(text)")
        }
    }

    @Test("request ids are limited to safe characters and length")
    func requestIDs() {
        #expect(RequestIdentityMiddleware.isAcceptable(requestID: "abc-123_x.y:z"))
        #expect(!RequestIdentityMiddleware.isAcceptable(requestID: ""))
        #expect(!RequestIdentityMiddleware.isAcceptable(requestID: "evil\r\nheader: x"))
        #expect(!RequestIdentityMiddleware.isAcceptable(requestID: String(repeating: "a", count: 129)))
    }
}
