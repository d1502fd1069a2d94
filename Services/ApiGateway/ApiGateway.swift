import ArgumentParser
import SensormineCore

/// Entry point of the ApiGateway executable: `serve` (default) or `migrate`.
@main
struct ApiGatewayCommand: AsyncParsableCommand {
    static let configuration = ServiceCommands.configuration(for: ApiGatewayService.self)
}
