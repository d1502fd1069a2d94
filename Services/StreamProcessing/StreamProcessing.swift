import ArgumentParser
import SensormineCore

/// Entry point of the StreamProcessing executable: `serve` (default) or `migrate`.
@main
struct StreamProcessingCommand: AsyncParsableCommand {
    static let configuration = ServiceCommands.configuration(for: StreamProcessingService.self)
}
