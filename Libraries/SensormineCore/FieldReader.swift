import Foundation
import SensormineJSON

/// Reads a request body's fields, collecting every problem (by JSON pointer) rather than
/// stopping at the first.
public struct FieldReader: Sendable {
    /// The problems found so far.
    public var errors: [ProblemDetails.FieldError] = []

    /// Creates a reader with no problems yet.
    public init() {}

    public mutating func fail(_ pointer: String, _ detail: String) {
        self.errors.append(.init(pointer: pointer, detail: detail))
    }

    public mutating func text(_ value: JSON?, at pointer: String, required: Bool = false, maximum: Int) -> String? {
        guard let value, !(value == .null) else {
            if required { self.fail(pointer, "required") }
            return nil
        }
        guard let text = value.string else { self.fail(pointer, "expected a string, found \(value.typeName)"); return nil }
        if required && text.trimmingCharacters(in: .whitespaces).isEmpty { self.fail(pointer, "must not be empty"); return nil }
        if text.count > maximum { self.fail(pointer, "at most \(maximum) characters"); return nil }
        return text
    }

    public mutating func bool(_ value: JSON?, at pointer: String) -> Bool? {
        guard let value, !(value == .null) else { return nil }
        guard case .bool(let flag) = value else { self.fail(pointer, "expected a boolean, found \(value.typeName)"); return nil }
        return flag
    }

    public mutating func number(_ value: JSON?, at pointer: String, required: Bool = true) -> Double? {
        guard let value, !(value == .null) else {
            if required { self.fail(pointer, "required") }
            return nil
        }
        guard let number = value.number, number.isFinite else { self.fail(pointer, "expected a finite number, found \(value.typeName)"); return nil }
        return number
    }

    public mutating func integer(_ value: JSON?, at pointer: String, range: ClosedRange<Int>, required: Bool = false) -> Int? {
        guard let value, !(value == .null) else {
            if required { self.fail(pointer, "required") }
            return nil
        }
        guard let number = value.number, number.isFinite, number.rounded() == number else {
            self.fail(pointer, "expected a whole number, found \(value.typeName)")
            return nil
        }
        guard number >= Double(range.lowerBound), number <= Double(range.upperBound) else {
            self.fail(pointer, number < 0 ? "must not be negative" : "must be between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return Int(number)
    }

    public mutating func choice<Choice: RawRepresentable & CaseIterable>(_ value: JSON?, at pointer: String, _: Choice.Type,
                                                                    required: Bool = false) -> Choice? where Choice.RawValue == String {
        guard let value, !(value == .null) else {
            if required { self.fail(pointer, "required; one of \(Choice.allCases.map(\.rawValue).joined(separator: ", "))") }
            return nil
        }
        guard let text = value.string, let choice = Choice(rawValue: text) else {
            self.fail(pointer, "one of \(Choice.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return choice
    }

    public mutating func uuid(_ value: JSON?, at pointer: String, required: Bool = false) -> UUID? {
        guard let value, !(value == .null) else {
            if required { self.fail(pointer, "required") }
            return nil
        }
        guard let text = value.string, let id = UUID(uuidString: text) else { self.fail(pointer, "expected a UUID"); return nil }
        return id
    }

    /// A metric name: 1-200 characters, no control characters.
    public mutating func metric(_ value: JSON?, at pointer: String, required: Bool = true) -> String? {
        guard let name = self.text(value, at: pointer, required: required, maximum: 200) else { return nil }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            self.fail(pointer, "must not contain control characters")
            return nil
        }
        return name
    }
}
