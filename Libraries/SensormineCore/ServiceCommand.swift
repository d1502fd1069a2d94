import ArgumentParser
import Foundation
import Logging

/// The settings every service has.
public protocol ServiceConfiguration: Sendable {
    /// Listener and shutdown settings.
    var http: HTTPSettings { get }
    /// Log level and format.
    var logging: LoggingSettings { get }
    /// Reads and validates every setting.
    /// - Throws: ``ConfigurationError`` naming the variable at fault.
    init(reader: ConfigReader) throws
}

/// A Sensormine service executable: how it reads its configuration, builds its application and
/// migrates its tables. Its `@main` type only names it (see ``ServiceCommands``).
public protocol SensormineService {
    /// The service's typed configuration.
    associatedtype Configuration: ServiceConfiguration
    /// Name, summary and default port.
    static var descriptor: ServiceDescriptor { get }
    /// The environment variables the service reads, one per line, shown by --help.
    static var configurationHelp: String { get }
    /// Reads and validates the configuration.
    /// - Throws: ``ConfigurationError`` naming the variable at fault.
    static func configuration(from reader: ConfigReader) throws -> Configuration
    /// Builds the application.
    /// - Throws: when a client cannot be created (bad settings, unsupported library).
    static func buildApplication(_ configuration: Configuration, observability: Observability) async throws -> ServiceApplication
    /// Applies the service's pending database migrations (no-op for services without tables).
    /// - Throws: when a migration fails.
    static func migrate(_ configuration: Configuration, logger: Logger) async throws
}

extension SensormineService {
    /// Reads the configuration through its `init(reader:)`.
    public static func configuration(from reader: ConfigReader) throws -> Configuration {
        try Configuration(reader: reader)
    }

    /// Services without tables have nothing to migrate.
    public static func migrate(_ configuration: Configuration, logger: Logger) async throws {
        logger.info("no database migrations for this service")
    }

    static func loadConfiguration() throws -> Configuration {
        do {
            return try Self.configuration(from: ConfigReader.load())
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("\(Self.descriptor.name): \(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
    }
}

/// The `serve` subcommand (the default): run until SIGTERM, then drain and exit 0.
public struct ServeCommand<Service: SensormineService>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "serve", abstract: "Run the service (the default).")
    }

    public init() {}

    public func run() async throws {
        let configuration = try Service.loadConfiguration()
        let observability = Observability.bootstrap(service: Service.descriptor.name, logging: configuration.logging)
        let app = try await Service.buildApplication(configuration, observability: observability)
        observability.logger.info("starting", metadata: ["http.port": "\(configuration.http.port)"])
        try await ServiceRunner.run(app, http: configuration.http, logger: observability.logger)
    }
}

/// The `migrate` subcommand: apply pending migrations and exit (a Helm pre-upgrade hook).
public struct MigrateCommand<Service: SensormineService>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "migrate", abstract: "Apply pending database migrations and exit.")
    }

    public init() {}

    public func run() async throws {
        let configuration = try Service.loadConfiguration()
        let observability = Observability.bootstrap(service: Service.descriptor.name, logging: configuration.logging)
        try await Service.migrate(configuration, logger: observability.logger)
    }
}

/// Builds the root command of a service executable.
public enum ServiceCommands {
    /// The command tree: `serve` (default) and `migrate`, with the configuration keys in --help.
    public static func configuration<Service: SensormineService>(for service: Service.Type) -> CommandConfiguration {
        CommandConfiguration(
            commandName: Service.descriptor.name,
            abstract: Service.descriptor.summary,
            discussion: """
                Configuration comes from environment variables, over an optional env-file
                named by SENSORMINE_CONFIG_FILE. Common to every service:
                  SENSORMINE_HTTP_HOST          address to bind (default 0.0.0.0)
                  SENSORMINE_HTTP_PORT          port to bind (default \(Service.descriptor.defaultPort))
                  SENSORMINE_SHUTDOWN_TIMEOUT   drain time after SIGTERM (default 20s)
                  SENSORMINE_LOG_LEVEL          trace, debug, info (default), notice, warning,
                                                error or critical
                  SENSORMINE_LOG_FORMAT         json|text (default json)
                \(Service.descriptor.name):
                \(Service.configurationHelp)
                """,
            subcommands: [ServeCommand<Service>.self, MigrateCommand<Service>.self],
            defaultSubcommand: ServeCommand<Service>.self
        )
    }
}
