/// Rows for `COPY … FROM STDIN` in PostgreSQL's text format, built in one growing byte buffer
/// so bulk inserts allocate once per batch, not per row or field.
public struct PostgresCopyBuffer: Sendable {
    /// The encoded bytes.
    public private(set) var bytes: [UInt8] = []
    /// Rows completed so far.
    public private(set) var rowCount = 0
    private var fieldsInRow = 0

    /// Creates an empty buffer with room for `capacity` bytes.
    public init(capacity: Int = 64 * 1024) {
        self.bytes.reserveCapacity(capacity)
    }

    /// Appends a text field, escaping the characters COPY treats specially.
    public mutating func append(_ text: String) {
        self.separate()
        // Ids and metric names almost never hold a character to escape: copied whole, they cost
        // one scan and one copy instead of a capacity check per byte (the append was the largest
        // single cost in Ingestion's profile under a backlog).
        let copiedWhole = text.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
            guard !utf8.contains(where: Self.needsEscape) else { return false }
            self.bytes.append(contentsOf: utf8)
            return true
        }
        if copiedWhole == true { return }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): self.bytes.append(UInt8(ascii: "\\")); self.bytes.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "\t"): self.bytes.append(UInt8(ascii: "\\")); self.bytes.append(UInt8(ascii: "t"))
            case UInt8(ascii: "\n"): self.bytes.append(UInt8(ascii: "\\")); self.bytes.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): self.bytes.append(UInt8(ascii: "\\")); self.bytes.append(UInt8(ascii: "r"))
            default: self.bytes.append(byte)
            }
        }
    }

    /// Appends an integer field.
    public mutating func append(_ value: Int) {
        self.separate()
        if value < 0 { self.bytes.append(UInt8(ascii: "-")) }
        // Digits written from the end of a 20-byte scratch (UInt64.max has 20), no String made.
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = digits.count
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            self.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }

    /// Appends a floating-point field.
    public mutating func append(_ value: Double) {
        self.separate()
        self.bytes.append(contentsOf: value.description.utf8)
    }

    /// Appends a bytea field in hex form (`\\x…`, the backslash escaped for COPY), written
    /// straight into the buffer: no String is made and nothing needs scanning for escapes.
    public mutating func append(bytea: [UInt8]) {
        self.separate()
        self.bytes.append(UInt8(ascii: "\\"))
        self.bytes.append(UInt8(ascii: "\\"))
        self.bytes.append(UInt8(ascii: "x"))
        let start = self.bytes.count
        self.bytes.append(contentsOf: repeatElement(0, count: bytea.count * 2))
        self.bytes.withUnsafeMutableBufferPointer { buffer in
            var written = start
            for byte in bytea {
                buffer[written] = PostgresBytea.hexDigits[Int(byte >> 4)]
                buffer[written + 1] = PostgresBytea.hexDigits[Int(byte & 0x0f)]
                written += 2
            }
        }
    }

    /// Appends SQL NULL.
    public mutating func appendNull() {
        self.separate()
        self.bytes.append(UInt8(ascii: "\\"))
        self.bytes.append(UInt8(ascii: "N"))
    }

    /// Ends the current row.
    public mutating func endRow() {
        self.bytes.append(UInt8(ascii: "\n"))
        self.rowCount += 1
        self.fieldsInRow = 0
    }

    /// Empties the buffer, keeping its capacity.
    public mutating func removeAll() {
        self.bytes.removeAll(keepingCapacity: true)
        self.rowCount = 0
        self.fieldsInRow = 0
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
    }

    private mutating func separate() {
        if self.fieldsInRow > 0 { self.bytes.append(UInt8(ascii: "\t")) }
        self.fieldsInRow += 1
    }
}
