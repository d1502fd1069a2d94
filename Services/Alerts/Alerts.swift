import ArgumentParser
import SensormineCore

/// Entry point of the Alerts executable: `serve` (default) or `migrate`.
@main
struct AlertsCommand: AsyncParsableCommand {
    static let configuration = ServiceCommands.configuration(for: AlertsService.self)
}
