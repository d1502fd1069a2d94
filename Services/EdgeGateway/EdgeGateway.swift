import ArgumentParser
import SensormineCore

/// Entry point of the EdgeGateway executable: `serve` (default) or `migrate`.
@main
struct EdgeGatewayCommand: AsyncParsableCommand {
    static let configuration = ServiceCommands.configuration(for: EdgeGatewayService.self)
}
