import ArgumentParser
import SensormineCore

/// Entry point of the Billing executable: `serve` (default) or `migrate`.
@main
struct BillingCommand: AsyncParsableCommand {
    static let configuration = ServiceCommands.configuration(for: BillingService.self)
}
