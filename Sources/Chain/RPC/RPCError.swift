/// A JSON-RPC failure, classified so the anchoring logic can act on it. The description is generic;
/// node messages are kept in `message` for logs.
public struct RPCError: Error, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let name: String
        public static let nonceTooLow = Code(name: "nonceTooLow")
        public static let replacementUnderpriced = Code(name: "replacementUnderpriced")
        public static let alreadyKnown = Code(name: "alreadyKnown")
        public static let insufficientFunds = Code(name: "insufficientFunds")
        public static let executionReverted = Code(name: "executionReverted")
        public static let wrongChain = Code(name: "wrongChain")
        /// The node could not be reached or did not answer in time (retried, then reported).
        public static let unavailable = Code(name: "unavailable")
        /// The answer was not JSON-RPC or not the shape expected.
        public static let malformed = Code(name: "malformed")
        /// Any other error the node reported.
        public static let node = Code(name: "node")
        public var description: String { name }
    }

    public var code: Code
    public var rpcCode: Int?
    public var message: String

    public init(_ code: Code, rpcCode: Int? = nil, message: String) {
        self.code = code
        self.rpcCode = rpcCode
        self.message = message
    }

    /// Classifies a node's error message (geth, Nethermind, Erigon and Frontier phrase these alike).
    static func classify(rpcCode: Int, message: String) -> RPCError {
        let m = message.lowercased()
        let code: Code =
            if m.contains("nonce too low") || m.contains("nonce is too low") || m.contains("oldnonce") { .nonceTooLow }
            else if m.contains("replacement transaction underpriced") || m.contains("underpriced") { .replacementUnderpriced }
            else if m.contains("already known") || m.contains("known transaction") || m.contains("already imported") { .alreadyKnown }
            else if m.contains("insufficient funds") { .insufficientFunds }
            else if m.contains("execution reverted") || rpcCode == 3 { .executionReverted }
            else { .node }
        return RPCError(code, rpcCode: rpcCode, message: message)
    }

    public var description: String { "JSON-RPC error (\(code))" }
    /// With the node's message, for logs (`String(reflecting:)`).
    public var debugDescription: String { "JSON-RPC error (\(code), \(rpcCode.map(String.init) ?? "-")): \(message)" }
}
