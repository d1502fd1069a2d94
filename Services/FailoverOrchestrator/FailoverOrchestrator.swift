import ArgumentParser
import SensormineCore

/// Entry point of the FailoverOrchestrator executable: `serve` (default) or `migrate`.
@main
struct FailoverOrchestratorCommand: AsyncParsableCommand {
    static let configuration = ServiceCommands.configuration(for: FailoverOrchestratorService.self)
}
