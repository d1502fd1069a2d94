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
        self.bytes.append(contentsOf: String(value).utf8)
    }

    /// Appends a floating-point field.
    public mutating func append(_ value: Double) {
        self.separate()
        self.bytes.append(contentsOf: value.description.utf8)
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

    private mutating func separate() {
        if self.fieldsInRow > 0 { self.bytes.append(UInt8(ascii: "\t")) }
        self.fieldsInRow += 1
    }
}
