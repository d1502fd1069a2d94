import ArgumentParser
import NIOCore
import NIOPosix
import SensormineCore

/// Entry point of the ApiGateway executable: `serve` (default) or `migrate`.
@main
enum ApiGatewayMain {
    static func main() async {
        // The gateway's tasks run on SwiftNIO's event loops instead of a second thread pool, so a
        // proxied request is not handed between threads (ADR 30). Nothing in the gateway blocks a
        // thread: Redis and Kafka calls run on their clients' own threads, libcurl on its loop.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await ApiGatewayCommand.main()
    }
}

/// The command line: `serve` (default) or `migrate`.
struct ApiGatewayCommand: AsyncParsableCommand {
    static let configuration = ServiceCommands.configuration(for: ApiGatewayService.self)
}
