import Foundation
import SensormineCore

/// Console's settings, read once at start-up; see `Console --help` for every key.
struct ConsoleConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// The folder holding index.html and the console's own CSS and JavaScript modules.
    var assetsDirectory: String
    /// Chart.js's UMD build (Debian's libjs-chart.js), served beside the console's own files.
    var chartJS: String

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: ConsoleService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.assetsDirectory = try reader.string("SENSORMINE_CONSOLE_ASSETS_DIR")
        self.chartJS = try reader.string("SENSORMINE_CONSOLE_CHARTJS", default: "/usr/share/javascript/chart.js/chart.min.js")
    }
}
