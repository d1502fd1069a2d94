extension Duration {
    /// Whole milliseconds, sub-second part included, saturating instead of trapping at the
    /// bounds of `Int64` (C APIs take timeouts in milliseconds).
    public var milliseconds: Int64 {
        let (seconds, overflow) = self.components.seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return self.components.seconds < 0 ? .min : .max }
        let (total, overflowed) = seconds.addingReportingOverflow(self.components.attoseconds / 1_000_000_000_000_000)
        return overflowed ? (seconds < 0 ? .min : .max) : total
    }

    /// ``milliseconds`` clamped to what an `Int32` timeout parameter holds.
    public var milliseconds32: Int32 {
        Int32(clamping: self.milliseconds)
    }
}
