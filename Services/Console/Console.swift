import ArgumentParser
import SensormineCore

/// Entry point of the Console executable: `serve` (default) or `migrate` (nothing to migrate).
@main
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = ServiceCommands.configuration(for: ConsoleService.self)
}
