import ClientRuntime

/// The SQLSTATE codes the services match on, by name (PostgreSQL manual, appendix A).
public enum SQLState {
    /// 23505: a unique constraint refused a duplicate.
    public static let uniqueViolation = "23505"
    /// 23503: a foreign key refused a missing or still-referenced row.
    public static let foreignKeyViolation = "23503"
    /// 42P01: the table does not exist (yet).
    public static let undefinedTable = "42P01"
    /// 22021: a byte sequence the database encoding cannot hold, such as U+0000 in text.
    public static let characterNotInRepertoire = "22021"
    /// 22P05: a character jsonb cannot hold (the escape `\u0000`).
    public static let untranslatableCharacter = "22P05"
    /// 22003: a number out of its type's range (float8 overflow in a sum).
    public static let numericValueOutOfRange = "22003"

    /// Whether `error` is the database refusing the data itself (``ClientError/isDataRefusal``).
    public static func isDataRefusal(_ error: any Error) -> Bool {
        (error as? ClientError)?.isDataRefusal == true
    }
}
