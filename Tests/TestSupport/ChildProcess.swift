import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A service binary started for a test with `posix_spawn`, with an empty signal mask (a child of
/// a Swift-concurrency thread would otherwise inherit libdispatch's blocked signals and never see
/// SIGTERM), its output in a log file.
public final class ChildProcess: Sendable {
    /// The child's process id.
    public let pid: pid_t
    /// Where its output goes.
    public let logPath: String

    /// posix_spawn refused.
    public struct SpawnFailed: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts `executable`.
    /// - Throws: ``SpawnFailed``.
    public init(executable: String, arguments: [String], environment: [String: String]) throws {
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString).log").path
        self.logPath = logPath
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of this process reaches the child: a daemon it starts (the stack's
        // PostgreSQL) would otherwise keep the test services' listening sockets open forever.
        // (glibc 2.34+ has it; Swift's Glibc module does not declare it, so it is looked up.)
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw SpawnFailed(description: "posix_spawn \(executable): \(String(cString: strerror(result)))") }
        self.pid = pid
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    /// Sends a signal.
    public func signal(_ signal: Int32) { kill(self.pid, signal) }

    /// Waits for the exit status, or nil if the process is still running after `timeout`.
    public func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            if waitpid(self.pid, &status, WNOHANG) == self.pid {
                return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// What the process printed so far.
    public var output: String { (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? "" }

    deinit {
        kill(self.pid, SIGKILL)
        var status: Int32 = 0
        waitpid(self.pid, &status, WNOHANG)
        try? FileManager.default.removeItem(atPath: self.logPath)
    }
}

/// Where the service binaries are: next to the test bundle, in the same build folder.
public enum ServiceBinaries {
    /// The build folder.
    public static let directory: URL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()

    /// The binary called `name`.
    public static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// The repository, found from this file's location.
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// The local stack's scripts (scripts/stack/), run by tests that make clusters of their own.
public enum StackScript {
    /// A script that did not succeed, with the end of its output.
    public struct Failed: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs `scripts/stack/<name>` with `arguments` and throws unless it succeeds in time.
    public static func run(_ name: String, _ arguments: [String], timeout: Duration = .seconds(120)) async throws {
        let script = ServiceBinaries.repositoryRoot.appendingPathComponent("scripts/stack/\(name)").path
        let process = try ChildProcess(executable: "/bin/bash", arguments: [script] + arguments, environment: ProcessInfo.processInfo.environment)
        let status = await process.waitForExit(timeout: timeout)
        guard status == 0 else {
            throw Failed(description: "\(name) \(arguments.joined(separator: " ")) ended with \(String(describing: status)): \(process.output.suffix(1500))")
        }
    }
}
