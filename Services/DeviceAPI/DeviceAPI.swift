import ArgumentParser
import SensormineCore

/// Entry point of the DeviceAPI executable: `serve` (default) or `migrate`.
@main
struct DeviceAPICommand: AsyncParsableCommand {
    static let configuration = ServiceCommands.configuration(for: DeviceAPIService.self)
}
