import AsyncHTTPClient
import NIOHTTP1
import Synchronization
import Foundation
public import Logging
import NIOCore
import NIOFoundationCompat

/// An Ethereum JSON-RPC client over HTTP(S), with a per-request timeout and bounded retries of
/// transport failures (never of answers the node gave).
public struct EthereumRPC: Sendable {
    public let url: String
    public var timeout: Duration
    public var retries: Int
    public var retryDelay: Duration
    let logger: Logger
    private let client: HTTPClient
    private let ids = IDCounter()

    public init(url: String, timeout: Duration = .seconds(10), retries: Int = 3, retryDelay: Duration = .milliseconds(200), logger: Logger = Logger(label: "voltaic.chain")) {
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.retryDelay = retryDelay
        self.logger = logger
        self.client = HTTPClient.shared
    }

    /// Calls `method` and returns its result.
    public func request(_ method: String, _ params: [RPCValue] = []) async throws(RPCError) -> RPCValue {
        let body: RPCValue = .object(["jsonrpc": .string("2.0"), "id": .int(Int64(ids.next())), "method": .string(method), "params": .array(params)])
        guard let data = try? JSONEncoder().encode(body) else { throw RPCError(.malformed, message: "cannot encode request") }
        var attempt = 0
        while true {
            do {
                return try await send(data, method: method)
            } catch let error where error.code == .unavailable && attempt < retries {
                attempt += 1
                logger.debug("retrying JSON-RPC call", metadata: ["rpc.method": "\(method)", "rpc.attempt": "\(attempt)"])
                try? await Task.sleep(for: retryDelay * (1 << (attempt - 1)))
            }
        }
    }

    private func send(_ data: Data, method: String) async throws(RPCError) -> RPCValue {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: data))
        let raw: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
            guard (200..<300).contains(Int(response.status.code)) || response.status.code == 400 || response.status.code == 500 else {
                throw RPCError(.unavailable, message: "HTTP \(response.status.code) from the node")
            }
            raw = try await response.body.collect(upTo: 32 << 20)
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(.unavailable, message: "\(method): \(error)")
        }
        guard let response = try? JSONDecoder().decode(RPCValue.self, from: Data(buffer: raw)), case .object(let object) = response else {
            throw RPCError(.malformed, message: "\(method): not a JSON-RPC response")
        }
        if let error = object["error"], !error.isNull {
            var code = 0
            if case .int(let c) = error["code"] { code = Int(c) }
            var message = error["message"]?.string ?? ""
            if let data = error["data"]?.string { message += " " + data }
            throw RPCError.classify(rpcCode: code, message: message)
        }
        guard let result = object["result"] else { throw RPCError(.malformed, message: "\(method): no result") }
        return result
    }
}

/// JSON-RPC request ids, shared by the copies of one client.
final class IDCounter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}

// MARK: Typed calls

public struct TransactionReceipt: Sendable, Hashable {
    public var transactionHash: [UInt8]
    public var blockNumber: UInt64
    public var blockHash: [UInt8]
    public var status: Bool
    public var contractAddress: Address?
    public var gasUsed: UInt64
    public var logs: [LogEntry]
}

public struct LogEntry: Sendable, Hashable {
    public var address: Address?
    public var topics: [[UInt8]]
    public var data: [UInt8]
    public var blockNumber: UInt64
    public var blockHash: [UInt8]
    public var transactionHash: [UInt8]
    public var logIndex: UInt64
    public var removed: Bool

    init?(_ v: RPCValue) {
        guard let topics = v["topics"]?.array?.compactMap(\.bytes), let data = v["data"]?.bytes, let n = v["blockNumber"]?.quantity,
            let bh = v["blockHash"]?.bytes, let th = v["transactionHash"]?.bytes, let li = v["logIndex"]?.quantity
        else { return nil }
        address = v["address"]?.string.flatMap { Address($0.lowercased()) }
        self.topics = topics
        self.data = data
        blockNumber = n
        blockHash = bh
        transactionHash = th
        logIndex = li
        if case .bool(let r) = v["removed"] { removed = r } else { removed = false }
    }
}

public struct BlockHeader: Sendable, Hashable {
    public var number: UInt64
    public var hash: [UInt8]
    public var timestamp: UInt64
    /// Present on chains with EIP-1559 fees.
    public var baseFeePerGas: UInt128?
}

public struct FeeHistory: Sendable, Hashable {
    /// count + 1 entries; the last is the next block's base fee.
    public var baseFeePerGas: [UInt128]
    public var reward: [[UInt128]]
}

extension EthereumRPC {
    public func chainId() async throws(RPCError) -> UInt64 {
        try Self.need(try await request("eth_chainId").quantity, "eth_chainId")
    }

    public func blockNumber() async throws(RPCError) -> UInt64 {
        try Self.need(try await request("eth_blockNumber").quantity, "eth_blockNumber")
    }

    public func transactionCount(_ address: Address, block: String = "pending") async throws(RPCError) -> UInt64 {
        try Self.need(try await request("eth_getTransactionCount", [.string(address.checksummed), .string(block)]).quantity, "eth_getTransactionCount")
    }

    public func gasPrice() async throws(RPCError) -> UInt128 {
        try Self.need(try await request("eth_gasPrice").quantity128, "eth_gasPrice")
    }

    public func maxPriorityFeePerGas() async throws(RPCError) -> UInt128 {
        try Self.need(try await request("eth_maxPriorityFeePerGas").quantity128, "eth_maxPriorityFeePerGas")
    }

    public func feeHistory(blocks: Int, percentiles: [Int]) async throws(RPCError) -> FeeHistory {
        let v = try await request("eth_feeHistory", [.string(Quantity.encode(UInt64(blocks))), .string("latest"), .array(percentiles.map { .int(Int64($0)) })])
        guard let base = v["baseFeePerGas"]?.array?.compactMap(\.quantity128) else { throw RPCError(.malformed, message: "eth_feeHistory") }
        let reward = v["reward"]?.array?.map { $0.array?.compactMap(\.quantity128) ?? [] } ?? []
        return FeeHistory(baseFeePerGas: base, reward: reward)
    }

    public func estimateGas(from: Address, to: Address?, data: [UInt8], value: UInt128 = 0) async throws(RPCError) -> UInt64 {
        var call: [String: RPCValue] = ["from": .string(from.checksummed), "data": .string(Hex.encode(data)), "value": .string(Quantity.encode(value))]
        if let to { call["to"] = .string(to.checksummed) }
        return try Self.need(try await request("eth_estimateGas", [.object(call)]).quantity, "eth_estimateGas")
    }

    public func call(to: Address, data: [UInt8], block: String = "latest") async throws(RPCError) -> [UInt8] {
        try Self.need(try await request("eth_call", [.object(["to": .string(to.checksummed), "data": .string(Hex.encode(data))]), .string(block)]).bytes, "eth_call")
    }

    /// Broadcasts signed bytes; returns the transaction hash. "already known" is success: the node has it.
    @discardableResult
    public func sendRawTransaction(_ signed: SignedTransaction) async throws(RPCError) -> [UInt8] {
        try await sendRawTransaction(raw: signed.raw)
    }

    /// Broadcasts bytes that were signed earlier (a saved attempt).
    @discardableResult
    public func sendRawTransaction(raw: [UInt8]) async throws(RPCError) -> [UInt8] {
        do {
            return try Self.need(try await request("eth_sendRawTransaction", [.string(Hex.encode(raw))]).bytes, "eth_sendRawTransaction")
        } catch where error.code == .alreadyKnown {
            return Keccak256.hash(raw)
        }
    }

    public func transactionReceipt(_ hash: [UInt8]) async throws(RPCError) -> TransactionReceipt? {
        let v = try await request("eth_getTransactionReceipt", [.string(Hex.encode(hash))])
        if v.isNull { return nil }
        guard let n = v["blockNumber"]?.quantity, let bh = v["blockHash"]?.bytes, let status = v["status"]?.quantity, let th = v["transactionHash"]?.bytes
        else { throw RPCError(.malformed, message: "eth_getTransactionReceipt") }
        return TransactionReceipt(
            transactionHash: th, blockNumber: n, blockHash: bh, status: status == 1,
            contractAddress: v["contractAddress"]?.string.flatMap { Address($0.lowercased()) }, gasUsed: v["gasUsed"]?.quantity ?? 0,
            logs: v["logs"]?.array?.compactMap(LogEntry.init) ?? []
        )
    }

    /// A block header by number or tag (`latest`, `finalized`, …); nil when the node has no such block.
    public func block(_ tag: String) async throws(RPCError) -> BlockHeader? {
        let v = try await request("eth_getBlockByNumber", [.string(tag), .bool(false)])
        if v.isNull { return nil }
        guard let n = v["number"]?.quantity, let h = v["hash"]?.bytes else { throw RPCError(.malformed, message: "eth_getBlockByNumber") }
        return BlockHeader(number: n, hash: h, timestamp: v["timestamp"]?.quantity ?? 0, baseFeePerGas: v["baseFeePerGas"]?.quantity128)
    }

    public func block(number: UInt64) async throws(RPCError) -> BlockHeader? { try await block(Quantity.encode(number)) }

    public func logs(address: Address, topics: [[UInt8]?], fromBlock: UInt64 = 0, toBlock: String = "latest") async throws(RPCError) -> [LogEntry] {
        let filter: [String: RPCValue] = [
            "address": .string(address.checksummed), "fromBlock": .string(Quantity.encode(fromBlock)), "toBlock": .string(toBlock),
            "topics": .array(topics.map { $0.map { .string(Hex.encode($0)) } ?? .null }),
        ]
        guard let entries = try await request("eth_getLogs", [.object(filter)]).array else { throw RPCError(.malformed, message: "eth_getLogs") }
        return entries.compactMap(LogEntry.init)
    }

    static func need<T>(_ value: T?, _ method: String) throws(RPCError) -> T {
        guard let value else { throw RPCError(.malformed, message: "\(method): unexpected result") }
        return value
    }
}
