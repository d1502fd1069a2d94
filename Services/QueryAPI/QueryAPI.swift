import ArgumentParser
import SensormineCore

/// Entry point of the QueryAPI executable: `serve` (default) or `migrate`.
@main
struct QueryAPICommand: AsyncParsableCommand {
    static let configuration = ServiceCommands.configuration(for: QueryAPIService.self)
}
