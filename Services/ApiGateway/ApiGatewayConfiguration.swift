import Foundation
import Hiredis
import SensormineClients
import SensormineCore

/// ApiGateway's settings, read once at start-up; see `ApiGateway --help` for every key.
struct ApiGatewayConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// Redis.
    var redis: RedisClient.Configuration

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: ApiGatewayService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.redis = try RedisClient.Configuration(reader: reader)
    }
}
