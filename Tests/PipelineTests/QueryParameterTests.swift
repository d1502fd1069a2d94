import Hummingbird
import SensormineCore
import Testing

@testable import QueryAPI

/// QueryAPI's parameter parsing: hostile values are a 400, never an arithmetic trap.
@Suite("QueryAPI parameters")
struct QueryParameterTests {
    @Test("bucket widths outside 1s…1d, huge or malformed, are refused",
          arguments: ["999999999999999999d", "9223372036854775807s", "-1h", "0m", "2d", "86401s", "1w", "", "d", "1.5h", "+5m", "٣m", "000001h"])
    func refusedBuckets(text: String) {
        let error = #expect(throws: APIError.self) { try TelemetryController.bucketSeconds(text) }
        #expect(error?.status == .badRequest)
        #expect(error?.errors?.first?.pointer == "bucket")
    }

    @Test("valid bucket widths give seconds")
    func buckets() throws {
        #expect(try TelemetryController.bucketSeconds("1s") == 1)
        #expect(try TelemetryController.bucketSeconds("15m") == 900)
        #expect(try TelemetryController.bucketSeconds("1d") == 86_400)
        #expect(try TelemetryController.bucketSeconds("86400s") == 86_400)
    }
}
