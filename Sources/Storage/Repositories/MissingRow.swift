/// A statement that must return a row returned none.
public struct MissingRow: Error, CustomStringConvertible {
    public let statement: String
    public init(_ statement: String) { self.statement = statement }
    public var description: String { "\(statement) returned no row" }
}
