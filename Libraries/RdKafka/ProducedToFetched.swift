import Foundation
import Metrics

extension Metrics.Timer {
    /// Records how long each of `messages` waited between its producer and the poll that
    /// fetched it now (a consumer's `kafka` stage). CreateTime comes from the producer's clock,
    /// another machine's in production, so a negative interval is skew and not counted.
    public func recordWaitSinceProduced(_ messages: [KafkaMessage]) {
        guard !messages.isEmpty else { return }
        let fetched = Int64(Date().timeIntervalSince1970 * 1_000)
        for message in messages {
            guard let produced = message.timestamp, fetched >= produced else { continue }
            self.recordNanoseconds((fetched - produced) &* 1_000_000)
        }
    }
}
