import Foundation
import JSONSchema
import Testing

@Suite("JSON Schema conformance (official suite, draft 2020-12)")
struct ConformanceTests {
    @Test("every test of every file under tests/draft2020-12 passes")
    func suite() throws {
        let suite = ConformanceSuite()
        let files = suite.files()
        #expect(files.count >= 40, "the suite was not found under \(suite.root.path)")
        var passed = 0
        var failures: [String] = []
        for file in files {
            let result = try suite.run(file)
            passed += result.passed
            failures += result.failures.map { "\(result.name): \($0)" }
            print("json-schema-suite \(result.name.padding(toLength: 34, withPad: " ", startingAt: 0)) \(result.passed)/\(result.passed + result.failures.count)")
        }
        print("json-schema-suite total \(passed)/\(passed + failures.count)")
        for failure in failures.prefix(60) { print("  FAIL \(failure)") }
        #expect(failures.isEmpty, "\(failures.count) suite tests failed")
    }
}
