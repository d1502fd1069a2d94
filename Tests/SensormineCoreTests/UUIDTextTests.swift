import Foundation
import SensormineContracts
import SensormineCore
import Testing

@Suite("UUID text")
struct UUIDTextTests {
    @Test("lowercasedString is Foundation's uuidString in lower case, for random and extreme ids")
    func matchesFoundation() {
        let extremes = [
            UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
            UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255)),
            UUID(uuid: (0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10)),
        ]
        for id in extremes + (0..<1_000).map({ _ in UUID() }) {
            #expect(id.lowercasedString == id.uuidString.lowercased())
        }
        #expect(extremes[2].lowercasedString == "01234567-89ab-cdef-fedc-ba9876543210")
        #expect(extremes[2].lowercasedString.utf8.count == 36)
    }

    @Test("bytes(ofLowercased:) gives a lower-case UUID's 16 bytes, which format back to the same text; any other text is nil")
    func bytesOfLowercased() throws {
        for id in (0..<1_000).map({ _ in UUID() }) + [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))] {
            let bytes = try #require(UUIDText.bytes(ofLowercased: id.lowercasedString))
            #expect(bytes == withUnsafeBytes(of: id.uuid) { Array($0) })
        }
        for text in ["01234567-89AB-cdef-fedc-ba9876543210", "0123456789abcdef-fedc-ba9876543210", "01234567-89ab-cdef-fedc-ba987654321", "01234567-89ab-cdef-fedc-ba98765432100",
                     "01234567-89ab-cdef-fedc-ba987654321g", "01234567+89ab-cdef-fedc-ba9876543210", "", "01234567-89ab-cdef-fedc-ba98765432\u{e9}"] {
            #expect(UUIDText.bytes(ofLowercased: text) == nil, "\(text)")
        }
    }
}
