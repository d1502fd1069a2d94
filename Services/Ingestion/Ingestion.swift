import ArgumentParser
import SensormineCore

/// Entry point of the Ingestion executable: `serve` (default) or `migrate`.
@main
struct IngestionCommand: AsyncParsableCommand {
    static let configuration = ServiceCommands.configuration(for: IngestionService.self)
}
