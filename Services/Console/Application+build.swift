import Hummingbird
import Logging
import SensormineCore

/// Console: the web console's static files (HTML, CSS, JavaScript modules and Chart.js), which
/// the gateway serves at /console/ so that the console and the APIs it calls share one origin.
enum ConsoleService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "Console",
        summary: "The web console: static files served under content-hashed names with a strict Content-Security-Policy.",
        defaultPort: 8090
    )

    /// Where the gateway serves the console; the page's links and the hashed names start with it.
    static let basePath = "/console"

    static let configurationHelp = """
          SENSORMINE_CONSOLE_ASSETS_DIR  the folder of index.html and the console's CSS and JavaScript (required;
                                         Services/Console/Assets in the repository, /usr/share/sensormine/console in the image)
          SENSORMINE_CONSOLE_CHARTJS     Chart.js's UMD build (default /usr/share/javascript/chart.js/chart.min.js,
                                         Debian's libjs-chart.js)
        """

    static func buildApplication(_ configuration: ConsoleConfiguration, observability: Observability) async throws -> ServiceApplication {
        let catalog = try AssetCatalog(directory: configuration.assetsDirectory, vendor: ["chart.js": configuration.chartJS],
                                       staticPath: basePath + "/static/")
        observability.logger.info("console assets loaded", metadata: ["files": "\(catalog.count)", "bytes": "\(catalog.totalBytes)"])
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        builder.openAPIPaths = ConsoleOpenAPI.paths(basePath: basePath)
        let controller = ConsoleController(catalog: catalog, basePath: basePath)
        return builder.build { router in controller.addRoutes(to: router) }
    }
}
