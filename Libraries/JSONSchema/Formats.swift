import Foundation
import SensormineJSON

/// `format` assertions (also used by schema inference), used when the format-assertion vocabulary or the registry option asks
/// for them. Unknown formats and non-string instances pass, as the specification requires.
public enum Formats {
    static let supported: Set<String> = [
        "date-time", "date", "time", "duration", "email", "hostname", "ipv4", "ipv6", "uri", "uri-reference", "uuid", "regex", "json-pointer",
    ]

    /// Why `instance` does not have format `name`, or nil when it does.
    public static func problem(_ name: String, _ instance: JSON) -> String? {
        guard case .string(let text) = instance, self.supported.contains(name) else { return nil }
        let valid: Bool
        switch name {
        case "date-time": valid = self.dateTime(text)
        case "date": valid = self.date(text)
        case "time": valid = self.time(text)
        case "duration": valid = self.duration(text)
        case "email": valid = self.email(text)
        case "hostname": valid = self.hostname(text)
        case "ipv4": valid = self.ipv4(text)
        case "ipv6": valid = self.ipv6(text)
        case "uri": valid = self.uri(text, absolute: true)
        case "uri-reference": valid = self.uri(text, absolute: false)
        case "uuid": valid = self.uuid(text)
        case "regex": valid = (try? NSRegularExpression(pattern: ECMARegex.translate(text))) != nil
        case "json-pointer": valid = self.jsonPointer(text)
        default: valid = true
        }
        return valid ? nil : "is not a valid \(name)"
    }

    private static func digits(_ text: Substring, count: Int) -> Int? {
        guard text.count == count, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }

    static func date(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, let year = digits(parts[0], count: 4), let month = digits(parts[1], count: 2), let day = digits(parts[2], count: 2),
              (1...12).contains(month), day >= 1 else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return day <= days
    }

    static func time(_ text: String) -> Bool {
        let upper = text.uppercased()
        var zoneStart = upper.endIndex
        if upper.hasSuffix("Z") {
            zoneStart = upper.index(before: upper.endIndex)
        } else if let sign = upper.lastIndex(where: { $0 == "+" || $0 == "-" }) {
            zoneStart = sign
        } else {
            return false
        }
        let clock = upper[..<zoneStart]
        let zone = upper[zoneStart...]
        let main = clock.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        if main.count == 2, main[1].isEmpty || !main[1].allSatisfy({ $0.isASCII && $0.isNumber }) { return false }
        let fields = main[0].split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 3, let hour = digits(fields[0], count: 2), let minute = digits(fields[1], count: 2), let second = digits(fields[2], count: 2),
              hour <= 23, minute <= 59, second <= 60 else { return false }
        var offsetMinutes = 0
        if zone != "Z" {
            let offset = zone.dropFirst().split(separator: ":", omittingEmptySubsequences: false)
            guard offset.count == 2, let zoneHour = digits(offset[0], count: 2), let zoneMinute = digits(offset[1], count: 2),
                  zoneHour <= 23, zoneMinute <= 59 else { return false }
            offsetMinutes = (zoneHour * 60 + zoneMinute) * (zone.first == "-" ? -1 : 1)
        }
        if second == 60 {
            // A leap second is 23:59:60 in UTC.
            let utc = ((hour * 60 + minute - offsetMinutes) % 1440 + 1440) % 1440
            return utc == 23 * 60 + 59
        }
        return true
    }

    static func dateTime(_ text: String) -> Bool {
        guard let separator = text.firstIndex(where: { $0 == "T" || $0 == "t" }) else { return false }
        return self.date(String(text[..<separator])) && self.time(String(text[text.index(after: separator)...]))
    }

    static func duration(_ text: String) -> Bool {
        guard text.hasPrefix("P"), text.count > 1 else { return false }
        var body = text.dropFirst()
        if body.hasSuffix("W") {
            let weeks = body.dropLast()
            return !weeks.isEmpty && weeks.allSatisfy { $0.isASCII && $0.isNumber }
        }
        var datePart = body
        var timePart: Substring?
        if let t = body.firstIndex(of: "T") {
            datePart = body[..<t]
            timePart = body[body.index(after: t)...]
            if timePart?.isEmpty == true { return false }
        }
        func units(_ part: Substring, _ order: [Character]) -> Bool {
            var remaining = order[...]
            var number = ""
            for character in part {
                if character.isASCII && character.isNumber { number.append(character); continue }
                guard !number.isEmpty, let position = remaining.firstIndex(of: character) else { return false }
                remaining = remaining[remaining.index(after: position)...]
                number = ""
            }
            return number.isEmpty
        }
        body = datePart
        guard units(body, ["Y", "M", "D"]) else { return false }
        if let timePart { return units(timePart, ["H", "M", "S"]) }
        return !datePart.isEmpty
    }

    static func email(_ text: String) -> Bool {
        guard let at = text.lastIndex(of: "@") else { return false }
        let local = text[..<at]
        let domain = text[text.index(after: at)...]
        guard !local.isEmpty, local.count <= 64, !local.hasPrefix("."), !local.hasSuffix("."), !local.contains("..") else { return false }
        if !(local.hasPrefix("\"") && local.hasSuffix("\"") && local.count >= 2) {
            guard local.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "!#$%&'*+/=?^_`{|}~.-".contains($0)) }) else { return false }
        }
        if domain.hasPrefix("[") && domain.hasSuffix("]") {
            let literal = domain.dropFirst().dropLast()
            return literal.hasPrefix("IPv6:") ? self.ipv6(String(literal.dropFirst(5))) : self.ipv4(String(literal))
        }
        return self.hostname(String(domain))
    }

    static func hostname(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let labels = text.hasSuffix(".") ? text.dropLast().split(separator: ".", omittingEmptySubsequences: false) : text.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    static func ipv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy { $0.isASCII && $0.isNumber } && (part.count == 1 || part.first != "0") && Int(part).map { $0 <= 255 } == true
        }
    }

    static func ipv6(_ text: String) -> Bool {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == ":" || $0 == ".") }) else { return false }
        var groups = text.components(separatedBy: ":")
        if let last = groups.last, last.contains(".") {
            // An embedded IPv4 address takes the place of two groups.
            guard self.ipv4(last) else { return false }
            groups.removeLast()
            groups.append("0")
            groups.append("0")
        }
        let compressions = text.components(separatedBy: "::").count - 1
        guard compressions <= 1 else { return false }
        if compressions == 0 {
            return groups.count == 8 && groups.allSatisfy { !$0.isEmpty && $0.count <= 4 }
        }
        let nonEmpty = groups.filter { !$0.isEmpty }
        guard nonEmpty.allSatisfy({ $0.count <= 4 }), nonEmpty.count <= 7 else { return false }
        if text.hasPrefix(":") && !text.hasPrefix("::") { return false }
        if text.hasSuffix(":") && !text.hasSuffix("::") { return false }
        return true
    }

    static func uri(_ text: String, absolute: Bool) -> Bool {
        guard !text.contains(" "), !text.contains("\\"), text.allSatisfy({ $0.isASCII }) else { return false }
        if absolute { return URIReference.hasScheme(text) && URLComponents(string: text) != nil }
        return URLComponents(string: text) != nil
    }

    static func uuid(_ text: String) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }

    static func jsonPointer(_ text: String) -> Bool {
        guard text.isEmpty || text.hasPrefix("/") else { return false }
        let tildes = text.indices.filter { text[$0] == "~" }
        for index in tildes {
            let next = text.index(after: index)
            guard next < text.endIndex, text[next] == "0" || text[next] == "1" else { return false }
        }
        return true
    }
}

/// ECMA-262 regular expressions on ICU: the character classes that differ are made ASCII, as
/// ECMA-262 defines them without the `u` flag.
enum ECMARegex {
    static func translate(_ source: String) -> String {
        var output = ""
        var inClass = false
        var iterator = source.makeIterator()
        while let character = iterator.next() {
            if character == "\\" {
                guard let escaped = iterator.next() else { output.append("\\"); break }
                switch (escaped, inClass) {
                case ("d", false): output += "[0-9]"
                case ("d", true): output += "0-9"
                case ("D", false): output += "[^0-9]"
                case ("w", false): output += "[A-Za-z0-9_]"
                case ("w", true): output += "A-Za-z0-9_"
                case ("W", false): output += "[^A-Za-z0-9_]"
                default: output.append("\\"); output.append(escaped)
                }
                continue
            }
            if character == "[" && !inClass { inClass = true } else if character == "]" && inClass { inClass = false }
            output.append(character)
        }
        return output
    }
}
