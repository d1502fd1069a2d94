import ArgumentParser
import SensormineCore

/// Entry point of the SchemaRegistry executable: `serve` (default) or `migrate`.
@main
struct SchemaRegistryCommand: AsyncParsableCommand {
    static let configuration = ServiceCommands.configuration(for: SchemaRegistryService.self)
}
