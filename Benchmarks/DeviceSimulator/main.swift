import ArgumentParser
import Curl
import Foundation
import Logging
import Mosquitto
import MQTTWire
import NIOConcurrencyHelpers
import NIOCore
import SensormineJSON
import SensormineTelemetry

/// Simulates a fleet: four device types (gas turbines, thermal engines, electrical rotors, oil and
/// gas devices) across sites, registered through the API like any client would, then publishing
/// realistic telemetry at a target rate over HTTP (each device's API key) or MQTT (each device's
/// own credentials), with a live progress line and a final summary.
@main
struct DeviceSimulator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Registers simulated devices through the API and publishes their telemetry.")

    @Option(help: "The ApiGateway's base URL.") var gateway = "http://127.0.0.1:8080"
    @Option(help: "Platform-admin e-mail.") var email = "admin@sensormine.local"
    @Option(help: "Platform-admin password (default: SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD).") var password: String?
    @Option(help: "Devices to register.") var devices = 1000
    @Option(help: "Sites the devices are spread over.") var sites = 10
    @Option(help: "Messages per second to aim for.") var rate = 1000
    @Option(help: "Seconds to publish for.") var duration = 30
    @Option(help: "http or mqtt.") var transport = "http"
    @Option(help: "Points per HTTP request (one device's readings).") var batch = 10
    @Option(help: "Requests or publishes in flight at once.") var concurrency = 32
    @Option(help: "Devices that get their own MQTT connection (mqtt transport).") var mqttDevices = 50
    @Option(help: "QoS 1 publishes in flight per MQTT connection (PUBACKs awaited in any order), like a windowed reference publisher.") var mqttWindow = 16
    @Flag(help: "The anchor of the MQTT figures: the same connections, window and payloads, but with the broker's service credentials (SENSORMINE_MQTT_USERNAME/PASSWORD) to topics no one subscribes to, so only Mosquitto's intake is measured; registers nothing.")
    var brokerOnly = false
    @Option(help: "MQTT broker host.") var mqttHost = ProcessInfo.processInfo.environment["SENSORMINE_MQTT_HOST"] ?? "127.0.0.1"
    @Option(help: "MQTT broker port.") var mqttPort = Int(ProcessInfo.processInfo.environment["SENSORMINE_MQTT_PORT"] ?? "") ?? 1883
    @Option(help: "End-to-end latency probes sent while publishing (over the run's transport, from one device): each is timed until QueryAPI returns it.") var probes = 0
    @Option(help: "Write every reading the edge acknowledged over HTTP (202) to this file, a line 'device-id,epoch-microseconds' each (a drill compares it with what is stored).")
    var ledger: String?

    func validate() throws {
        guard ["http", "mqtt"].contains(self.transport) else { throw ValidationError("--transport must be http or mqtt") }
        guard self.devices > 0, self.sites > 0, self.rate > 0, self.duration > 0, self.batch > 0, self.batch <= 1000, self.concurrency > 0 else {
            throw ValidationError("--devices, --sites, --rate, --duration, --concurrency must be positive; --batch 1…1000")
        }
        guard (1...1000).contains(self.mqttWindow) else { throw ValidationError("--mqtt-window must be 1…1000") }
    }

    func run() async throws {
        if self.brokerOnly { return try await self.runBrokerOnly() }
        let client = HTTPClient(configuration: .init(timeout: .seconds(30), maximumRetries: 2, maximumConcurrentRequests: max(16, self.concurrency), name: "simulator"))
        defer { Task { await client.shutdown() } }
        let api = API(client: client, base: self.gateway)
        guard let adminPassword = self.password ?? ProcessInfo.processInfo.environment["SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD"] else {
            throw ValidationError("give --password or set SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD")
        }
        let fleet = try await Fleet.register(api: api, email: self.email, password: adminPassword, devices: self.devices, sites: self.sites,
                                             credentials: self.transport == "http" ? .apiKeys : .mqtt(count: min(self.mqttDevices, self.devices)))
        say("registered \(fleet.devices.count) devices of \(DeviceKind.allCases.count) types on \(self.sites) sites in tenant \(fleet.tenant)")
        let counters = Counters()
        let started = ContinuousClock.now
        let progress = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                counters.printProgress(since: started)
            }
        }
        let probeToken = try await api.signIn(email: fleet.operatorEmail, password: fleet.operatorPassword)
        let probing = Task { try await self.probe(api: api, fleet: fleet, token: probeToken) }
        if self.transport == "http" {
            let ledger = AcknowledgedReadings()
            try await self.publishHTTP(api: api, fleet: fleet, counters: counters, ledger: ledger)
            if let path = self.ledger { try ledger.write(to: path) }
        } else {
            var publishers: [MQTTPublisher] = []
            for device in fleet.devices {
                guard let credentials = device.mqtt else { continue }
                publishers.append(MQTTPublisher(clientID: "sim-\(device.id)", username: credentials.username, password: credentials.password,
                                                topic: credentials.topic, kind: device.kind))
            }
            try await self.publishMQTT(publishers, counters: counters)
        }
        // The rate is over the publishing alone: the last probes may still be waiting for QueryAPI.
        let publishing = ContinuousClock.now - started
        let latencies = try await probing.value.sorted()
        progress.cancel()
        counters.printProgress(since: started)
        let seconds = Double(publishing.components.seconds) + Double(publishing.components.attoseconds) / 1e18
        let totals = counters.totals
        say("\nsummary: \(totals.sent) messages sent, \(totals.acknowledged) acknowledged, \(totals.errors) errors in \(String(format: "%.1f", seconds)) s "
              + "(\(Int(Double(totals.acknowledged) / max(seconds, 0.001))) messages/s acknowledged); tenant \(fleet.tenant)")
        if !latencies.isEmpty {
            func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
            say(String(format: "end-to-end latency (sent → returned by QueryAPI), %d probes: p50 %.1f ms, p99 %.1f ms", latencies.count, percentile(0.5), percentile(0.99)))
        }
    }

    /// Sends `probes` single points from one device (over HTTP with its API key, or over MQTT
    /// with its credentials on a connection of the probe's own), one at a time, each timed from
    /// the send until QueryAPI returns it (polled every 5 ms); returns the latencies in
    /// milliseconds.
    func probe(api: API, fleet: Fleet, token: String) async throws -> [Double] {
        guard self.probes > 0, let device = fleet.devices.first else { return [] }
        var mqtt: MQTTClient?
        if self.transport == "mqtt", let credentials = device.mqtt {
            let client = try MQTTClient(configuration: .init(host: self.mqttHost, port: self.mqttPort, clientID: "probe-\(device.id)",
                                                             username: credentials.username, password: credentials.password),
                                        logger: Logger(label: "simulator"))
            try await client.connect()
            mqtt = client
        } else if device.apiKey == nil {
            return []
        }
        defer { mqtt?.disconnect() }
        var latencies: [Double] = []
        // Let the rate settle first: the fleet's first messages wait for the services to look
        // up every new device once (a cold cache), which is not the steady state measured here.
        try await Task.sleep(for: .seconds(3))
        for index in 0..<self.probes {
            let micros = Int64(Date().timeIntervalSince1970 * 1_000_000)
            let time = DeviceKind.timestamp(micros)
            let body = #"{"time":"\#(time)","probe":\#(index)}"#
            let start = ContinuousClock.now
            if let mqtt, let topic = device.mqtt?.topic {
                guard (try? await mqtt.publish(topic: topic, payload: Array(body.utf8), qos: 1)) != nil else { continue }
            } else {
                guard try await api.ingest(key: device.apiKey ?? "", body: body) == 202 else { continue }
            }
            let deadline = start + .seconds(30)
            while ContinuousClock.now < deadline {
                let page = try await api.object("GET", "/api/v1/telemetry/devices/\(device.id)/points?metric=probe&from=\(time)&limit=1", token: token, nil)
                if page["points"]?.array?.isEmpty == false {
                    let elapsed = ContinuousClock.now - start
                    latencies.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
                    break
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return latencies
    }

    /// Sends requests evenly spaced over each second (a steady rate, not a burst per tick),
    /// each request one device's batch; when the path falls behind, as fast as it takes them.
    func publishHTTP(api: API, fleet: Fleet, counters: Counters, ledger: AcknowledgedReadings) async throws {
        let requestsPerSecond = max(1, self.rate / self.batch)
        let interval = Duration.seconds(1) / requestsPerSecond
        let clock = ReadingClock()
        let deadline = ContinuousClock.now + .seconds(self.duration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            var next = ContinuousClock.now
            while next < deadline && ContinuousClock.now < deadline {
                do {
                    if inFlight >= self.concurrency {
                        try await group.next()
                        inFlight -= 1
                    }
                    let device = fleet.devices[Int.random(in: 0..<fleet.devices.count)]
                    let batch = self.batch
                    group.addTask {
                        let times = clock.next(device: device.id, count: batch)
                        let points = times.map { device.kind.reading(microseconds: $0) }
                        counters.sent(batch)
                        do {
                            let status = try await api.ingest(key: device.apiKey ?? "", body: "[" + points.joined(separator: ",") + "]")
                            if status == 202 {
                                counters.acknowledged(batch)
                                ledger.add(device: device.id, times: times)
                            } else {
                                counters.failed(batch)
                            }
                        } catch {
                            counters.failed(batch)
                        }
                    }
                    inFlight += 1
                }
                next = next + interval
                if next > ContinuousClock.now { try await Task.sleep(until: next) }
            }
            try await group.waitForAll()
        }
    }

    /// The MQTT anchor: as many connections as the device run, with the same window and
    /// payloads, publishing with the service identity to topics nobody subscribes to.
    func runBrokerOnly() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let username = environment["SENSORMINE_MQTT_USERNAME"], let password = environment["SENSORMINE_MQTT_PASSWORD"] else {
            throw ValidationError("--broker-only needs SENSORMINE_MQTT_USERNAME and SENSORMINE_MQTT_PASSWORD")
        }
        let run = UUID().uuidString.lowercased()
        let publishers = (0..<self.mqttDevices).map { index in
            MQTTPublisher(clientID: "sim-anchor-\(run)-\(index)", username: username, password: password,
                          topic: "sensormine-bench/\(run)/\(index)", kind: DeviceKind.allCases[index % DeviceKind.allCases.count])
        }
        say("registered nothing: \(publishers.count) connections to the broker alone")
        let counters = Counters()
        let started = ContinuousClock.now
        try await self.publishMQTT(publishers, counters: counters)
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let totals = counters.totals
        say("\nsummary: \(totals.sent) messages sent, \(totals.acknowledged) acknowledged, \(totals.errors) errors in \(String(format: "%.1f", seconds)) s "
              + "(\(Int(Double(totals.acknowledged) / max(seconds, 0.001))) messages/s acknowledged); broker alone")
    }

    /// Each publisher on its own connection publishes QoS 1 at its share of the rate, evenly
    /// spaced and started at a random point of its first interval (so the fleet is a steady
    /// stream, not a burst each second), with up to `--mqtt-window` publishes awaiting their
    /// PUBACK at once. The connections are SwiftNIO channels (``WindowedPublisher``), not
    /// libmosquitto's thread per connection, so that the publisher is not what is measured.
    func publishMQTT(_ publishers: [MQTTPublisher], counters: Counters) async throws {
        let connected = try await withThrowingTaskGroup(of: (WindowedPublisher, MQTTPublisher).self) { group in
            for publisher in publishers {
                group.addTask {
                    let connection = try await WindowedPublisher.connect(host: self.mqttHost, port: self.mqttPort, clientID: publisher.clientID,
                                                                         username: publisher.username, password: publisher.password)
                    return (connection, publisher)
                }
            }
            var all: [(WindowedPublisher, MQTTPublisher)] = []
            for try await pair in group { all.append(pair) }
            return all
        }
        let perDevice = max(1, self.rate / max(1, connected.count))
        let end = NIODeadline.now() + .seconds(Int64(self.duration))
        await withTaskGroup(of: Void.self) { group in
            for (connection, publisher) in connected {
                let pacer = PacedPublishing(connection: connection, publisher: publisher, interval: .nanoseconds(Int64(1_000_000_000 / perDevice)),
                                            window: self.mqttWindow, end: end, counters: counters)
                group.addTask {
                    await pacer.run()
                    await connection.close()
                }
            }
        }
    }
}

/// One connection's publishing, paced on its event loop by scheduled tasks: a message leaves
/// when it is due and fewer than `window` await their PUBACK, else as soon as one is
/// acknowledged. No Swift task, timer or thread hop per message, so that at a few thousand
/// messages a second the simulator's own cost stays small beside what it measures.
final class PacedPublishing: Sendable {
    private final class State {
        var next: NIODeadline
        var inFlight = 0
        var waitingForRoom = false
        /// Past the end (by the clock, or every message of the run sent): nothing more is sent.
        var stopped = false
        var finished = false
        init(next: NIODeadline) { self.next = next }
    }

    private let connection: WindowedPublisher
    private let publisher: MQTTPublisher
    private let interval: TimeAmount
    private let window: Int
    private let end: NIODeadline
    private let counters: Counters
    private let state: NIOLoopBoundBox<State>
    private let done: EventLoopPromise<Void>

    init(connection: WindowedPublisher, publisher: MQTTPublisher, interval: TimeAmount, window: Int, end: NIODeadline, counters: Counters) {
        self.connection = connection
        self.publisher = publisher
        self.interval = interval
        self.window = window
        self.end = end
        self.counters = counters
        // The first message at a random point of the first interval: the fleet is a steady
        // stream, not a burst each interval.
        let first = NIODeadline.now() + .nanoseconds(Int64.random(in: 0..<max(1, interval.nanoseconds)))
        self.state = NIOLoopBoundBox.makeBoxSendingValue(State(next: first), eventLoop: connection.eventLoop)
        self.done = connection.eventLoop.makePromise(of: Void.self)
    }

    /// Publishes until the end, and returns once every message is acknowledged or failed.
    func run() async {
        self.connection.eventLoop.execute { self.step() }
        try? await self.done.futureResult.get()
    }

    /// On the loop: sends what is due while there is room, then sleeps until the next is due.
    private func step() {
        let state = self.state.value
        let now = NIODeadline.now()
        // Behind schedule (the window full), what is overdue goes as fast as PUBACKs come, but
        // never past the run's end.
        if now >= self.end || state.next >= self.end { state.stopped = true }
        while !state.stopped && state.next <= now {
            guard state.inFlight < self.window else {
                state.waitingForRoom = true
                return
            }
            state.inFlight += 1
            state.next = state.next + self.interval
            if state.next >= self.end { state.stopped = true }
            self.counters.sent(1)
            self.connection.publish(topic: self.publisher.topic, payload: Array(self.publisher.kind.reading(at: Date()).utf8)).whenComplete { result in
                switch result {
                case .success: self.counters.acknowledged(1)
                case .failure: self.counters.failed(1)
                }
                let state = self.state.value
                state.inFlight -= 1
                if state.waitingForRoom {
                    state.waitingForRoom = false
                    self.step()
                } else {
                    self.finishIfDone()
                }
            }
        }
        guard !state.stopped else {
            self.finishIfDone()
            return
        }
        // Woken on whole milliseconds, so that the connections on one loop whose messages fall
        // due within the same millisecond share one wake-up instead of one each.
        let millisecond: UInt64 = 1_000_000
        let wake = NIODeadline.uptimeNanoseconds((state.next.uptimeNanoseconds / millisecond + 1) * millisecond)
        self.connection.eventLoop.scheduleTask(deadline: wake) { self.step() }
    }

    private func finishIfDone() {
        let state = self.state.value
        guard state.stopped, state.inFlight == 0, !state.finished else { return }
        state.finished = true
        self.done.succeed()
    }
}

/// One MQTT connection of a run: its identity, where it publishes, what it sends.
struct MQTTPublisher: Sendable {
    var clientID: String
    var username: String
    var password: String
    var topic: String
    var kind: DeviceKind
}

/// The four device types of the seed design, with plausible readings.
enum DeviceKind: String, CaseIterable, Sendable {
    case gasTurbine = "Gas turbine", thermalEngine = "Thermal engine", electricalRotor = "Electrical rotor", oilAndGas = "Oil and gas device"

    var subject: String { self.rawValue.lowercased().replacingOccurrences(of: " ", with: "-") }

    /// Metric names with their normal range.
    var metrics: [(String, ClosedRange<Double>)] {
        switch self {
        case .gasTurbine: [("rpm", 2900...3100), ("exhaust_temp_c", 480...620), ("power_kw", 18_000...25_000), ("vibration_mm_s", 1...7)]
        case .thermalEngine: [("coolant_temp_c", 70...95), ("oil_pressure_bar", 2...6), ("load_pct", 20...100)]
        case .electricalRotor: [("rpm", 1400...1800), ("winding_temp_c", 40...120), ("current_a", 50...400), ("voltage_v", 380...420)]
        case .oilAndGas: [("flow_m3_h", 10...250), ("pressure_bar", 20...180), ("h2s_ppm", 0...15), ("valve_open", 0...1)]
        }
    }

    /// The JSON Schema its subject holds: every metric a number, time required.
    var schema: String {
        let properties = self.metrics.map { #""\#($0.0)":{"type":"number","minimum":\#($0.1.lowerBound - abs($0.1.lowerBound)),"maximum":\#($0.1.upperBound * 2)}"# }
        return #"{"type":"object","required":["time"],"properties":{"time":{"type":"string"},\#(properties.joined(separator: ","))}}"#
    }

    /// One reading as a JSON object.
    func reading(at date: Date) -> String {
        self.reading(microseconds: Int64(date.timeIntervalSince1970 * 1_000_000))
    }

    /// One reading at a time given in microseconds since the epoch.
    func reading(microseconds micros: Int64) -> String {
        var fields = [#""time":"\#(Self.timestamp(micros))""#]
        for (name, range) in self.metrics {
            let value = name == "valve_open" ? Double(Int.random(in: 0...1)) : Double.random(in: range)
            fields.append(#""\#(name)":\#((value * 100).rounded() / 100)"#)
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func timestamp(_ micros: Int64) -> String {
        RFC3339.string(microseconds: micros)
    }
}

/// One registered device and how it publishes.
struct SimulatedDevice: Sendable {
    var id: String
    var kind: DeviceKind
    var apiKey: String?
    var mqtt: (username: String, password: String, topic: String)?
}

/// The registered fleet.
struct Fleet: Sendable {
    enum Credentials: Sendable { case apiKeys, mqtt(count: Int) }

    var tenant: String
    var devices: [SimulatedDevice]
    var operatorEmail: String
    var operatorPassword: String

    static func register(api: API, email: String, password: String, devices count: Int, sites: Int, credentials: Credentials) async throws -> Fleet {
        let admin = try await api.signIn(email: email, password: password)
        let stamp = String(UUID().uuidString.prefix(8)).lowercased()
        let tenant = try await api.create("/api/v1/tenants", token: admin, #"{"name":"Simulated fleet \#(stamp)","kind":"organisation"}"#)
        let operatorEmail = "simulator-\(stamp)@example.com"
        let operatorPassword = "simulator-\(UUID().uuidString)"
        _ = try await api.create("/api/v1/tenants/\(tenant)/users", token: admin,
                                 #"{"email":"\#(operatorEmail)","password":"\#(operatorPassword)","roles":["tenant-admin"]}"#)
        let token = try await api.signIn(email: operatorEmail, password: operatorPassword)
        var types: [DeviceKind: String] = [:]
        for kind in DeviceKind.allCases {
            let subject = "\(kind.subject)-\(stamp)"
            _ = try await api.object("POST", "/api/v1/schemas/subjects", token: token, #"{"name":"\#(subject)"}"#)
            _ = try await api.object("POST", "/api/v1/schemas/subjects/\(subject)/versions", token: token, #"{"schema":\#(kind.schema)}"#)
            types[kind] = try await api.create("/api/v1/device-types", token: token, #"{"name":"\#(kind.rawValue)","schemaSubject":"\#(subject)"}"#)
        }
        var siteIDs: [String] = []
        for index in 0..<sites {
            siteIDs.append(try await api.create("/api/v1/assets", token: token, #"{"kind":"site","name":"Site \#(index + 1)"}"#))
        }
        let typeIDs = types
        let siteList = siteIDs
        let registered = NIOLockedValueBox<[SimulatedDevice]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                if index >= 16 { try await group.next() }
                group.addTask {
                    let kind = DeviceKind.allCases[index % DeviceKind.allCases.count]
                    let id = try await api.create("/api/v1/devices", token: token,
                                                  #"{"name":"\#(kind.subject)-\#(index + 1)","deviceTypeId":"\#(typeIDs[kind] ?? "")","assetId":"\#(siteList[index % siteList.count])"}"#)
                    var device = SimulatedDevice(id: id, kind: kind)
                    switch credentials {
                    case .apiKeys:
                        device.apiKey = try await api.object("POST", "/api/v1/devices/\(id)/api-keys", token: token, "{}")["key"]?.string
                    case .mqtt(let wanted) where index < wanted:
                        let issued = try await api.object("PUT", "/api/v1/devices/\(id)/mqtt-credentials", token: token, "{}")
                        if let username = issued["username"]?.string, let password = issued["password"]?.string, let topic = issued["telemetryTopic"]?.string {
                            device.mqtt = (username, password, topic)
                        }
                    case .mqtt:
                        break
                    }
                    registered.withLockedValue { $0.append(device) }
                }
            }
            try await group.waitForAll()
        }
        let all = registered.withLockedValue { $0 }
        return Fleet(tenant: tenant, devices: credentials.isMQTT ? all.filter { $0.mqtt != nil } : all,
                     operatorEmail: operatorEmail, operatorPassword: operatorPassword)
    }
}

extension Fleet.Credentials {
    var isMQTT: Bool { if case .mqtt = self { true } else { false } }
}

/// The few API calls the simulator makes, through the gateway.
struct API: Sendable {
    let client: HTTPClient
    let base: String

    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    /// A set-up call answered 503 (a dependency busy: the broker taking an account, say) is
    /// retried when repeating it is harmless (GET, PUT), as the answer asks.
    func object(_ method: String, _ path: String, token: String?, _ body: String?) async throws -> JSON {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        var response = try await self.client.execute(HTTPClientRequest(method: method, url: self.base + path, headers: headers, body: body.map { Array($0.utf8) }))
        var attempt = 1
        while response.status == 503, method == "GET" || method == "PUT", attempt < 10 {
            try await Task.sleep(for: .seconds(1))
            attempt += 1
            response = try await self.client.execute(HTTPClientRequest(method: method, url: self.base + path, headers: headers, body: body.map { Array($0.utf8) }))
        }
        guard (200..<300).contains(response.status) else {
            throw Failed(description: "\(method) \(path) answered \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))")
        }
        return (try? JSON.parse(response.body)) ?? .null
    }

    /// POSTs and returns the new resource's id.
    func create(_ path: String, token: String, _ body: String) async throws -> String {
        guard let id = try await self.object("POST", path, token: token, body)["id"]?.string else { throw Failed(description: "POST \(path) returned no id") }
        return id.lowercased()
    }

    func signIn(email: String, password: String) async throws -> String {
        let answer = try await self.object("POST", "/api/v1/auth/token", token: nil, #"{"grant_type":"password","username":"\#(email)","password":"\#(password)"}"#)
        guard let token = answer["access_token"]?.string else { throw Failed(description: "sign-in returned no access_token") }
        return token
    }

    func ingest(key: String, body: String) async throws -> Int {
        try await self.client.execute(HTTPClientRequest(method: "POST", url: self.base + "/api/v1/ingest",
                                                        headers: [("Content-Type", "application/json"), ("X-API-Key", key)], body: Array(body.utf8))).status
    }
}

/// Each device's reading times: a millisecond apart and never repeated (requests for one device
/// run concurrently, and two readings at the same time would be stored as one).
final class ReadingClock: Sendable {
    private let last = NIOLockedValueBox([String: Int64]())

    /// `count` times for `device`, the last about now, in microseconds since the epoch.
    func next(device: String, count: Int) -> [Int64] {
        let now = Int64(Date().timeIntervalSince1970 * 1000) * 1000
        let first = self.last.withLockedValue { last in
            let first = max(now - Int64(count - 1) * 1000, last[device].map { $0 + 1000 } ?? .min)
            last[device] = first + Int64(count - 1) * 1000
            return first
        }
        return (0..<count).map { first + Int64($0) * 1000 }
    }
}

/// The readings the edge acknowledged, for `--ledger`.
final class AcknowledgedReadings: Sendable {
    private let lines = NIOLockedValueBox([String]())

    func add(device: String, times: [Int64]) {
        let added = times.map { "\(device),\($0)" }
        self.lines.withLockedValue { $0.append(contentsOf: added) }
    }

    func write(to path: String) throws {
        let text = self.lines.withLockedValue { $0.joined(separator: "\n") } + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }
}

/// Sent, acknowledged and failed points, and the progress line.
final class Counters: Sendable {
    private let state = NIOLockedValueBox((sent: 0, acknowledged: 0, errors: 0, lastAcknowledged: 0))

    func sent(_ count: Int) { self.state.withLockedValue { $0.sent += count } }
    func acknowledged(_ count: Int) { self.state.withLockedValue { $0.acknowledged += count } }
    func failed(_ count: Int) { self.state.withLockedValue { $0.errors += count } }

    var totals: (sent: Int, acknowledged: Int, errors: Int) { self.state.withLockedValue { ($0.sent, $0.acknowledged, $0.errors) } }

    func printProgress(since start: ContinuousClock.Instant) {
        let (sent, acknowledged, errors, rate) = self.state.withLockedValue { state in
            defer { state.lastAcknowledged = state.acknowledged }
            return (state.sent, state.acknowledged, state.errors, state.acknowledged - state.lastAcknowledged)
        }
        let elapsed = (ContinuousClock.now - start).components.seconds
        // Written straight to the descriptor so the line updates in place, unbuffered.
        FileHandle.standardOutput.write(Data("\r[\(elapsed) s] \(rate) messages/s  sent \(sent)  acknowledged \(acknowledged)  errors \(errors)   ".utf8))
    }
}

/// Prints a line at once (stdout to a file or pipe is otherwise buffered until exit).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
