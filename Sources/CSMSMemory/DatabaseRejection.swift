public import CSMS

/// What PostgreSQL would have answered with an error, raised by the in-memory store at the same point.
/// `code` is the SQLSTATE class PostgreSQL uses, so a finding names the real failure.
public struct DatabaseRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The five-character SQLSTATE.
        public let sqlState: String

        public init(sqlState: String) { self.sqlState = sqlState }

        public static let numericValueOutOfRange = Code(sqlState: "22003")
        public static let datetimeFieldOverflow = Code(sqlState: "22008")
        public static let characterNotInRepertoire = Code(sqlState: "22021")
        public static let untranslatableCharacter = Code(sqlState: "22P05")
        public static let invalidRowCountInLimit = Code(sqlState: "2201W")
        public static let invalidTextRepresentation = Code(sqlState: "22P02")
        public static let foreignKeyViolation = Code(sqlState: "23503")
        public static let uniqueViolation = Code(sqlState: "23505")
        public static let checkViolation = Code(sqlState: "23514")
        public static let inFailedTransaction = Code(sqlState: "25P02")

        public var description: String { sqlState }
    }

    public var code: Code
    /// PostgreSQL's message, e.g. `integer out of range`.
    public var message: String
    /// The table and column (or constraint) concerned.
    public var location: String

    public init(_ code: Code, _ message: String, at location: String) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String { "\(code): \(message) (\(location))" }

    /// What Storage's GroupCommitter makes of this error (`classify`): SQLSTATE class 22 (data exception)
    /// and 23 (integrity violation) are data the database refuses, `rejected`; anything else is `unavailable`.
    public var storeFailure: StoreFailure {
        let state = code.sqlState
        if state.hasPrefix("22") || state.hasPrefix("23") { return .rejected("\(message) (SQLSTATE \(state))") }
        return .unavailable("SQLSTATE \(state)")
    }
}
