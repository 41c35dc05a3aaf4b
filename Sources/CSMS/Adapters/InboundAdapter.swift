public import Foundation
public import OCPP

/// Maps one OCPP version's station-initiated CALLs onto `ChargingService`.
public protocol InboundAdapter: Sendable {
    var version: OCPPVersion { get }
    /// Actions this adapter applies. Other known actions are answered `NotSupported`.
    var handledActions: Set<String> { get }
    /// The reply to a validated CALL that writes nothing, given without a transaction; nil for the others.
    func immediate(action: String, now: Date) throws -> JSONValue?
    /// Decodes and range-checks a validated CALL, outside any transaction, and returns the writes to apply
    /// inside one. Throws `InboundRejection` for what cannot be applied, before the database is involved.
    func prepare(action: String, payload: JSONValue, stationId: String, now: Date) throws -> PreparedCall
}

/// A CALL's writes, ready to run inside the group commit. Either returns the CALLRESULT payload (a tree;
/// its bytes are made after the COMMIT).
public enum PreparedCall: Sendable {
    /// Writes of this CALL alone, run in the runner's transaction.
    case writes(@Sendable (any UnitOfWork) async throws -> JSONValue)
    /// Writes the runner may apply together with other stations' CALLs of the same kind.
    case bulk(BulkCall)
    /// Work that must not sit inside a transaction (a certificate chain to verify, a status to ask for) first; then
    /// the writes it decided, inside one.
    case checked(@Sendable () async -> @Sendable (any UnitOfWork) async throws -> JSONValue)

    /// Runs `check` outside the transaction, then `writes` with its outcome inside one.
    public static func after<Outcome: Sendable>(
        _ check: @escaping @Sendable () async -> Outcome, then writes: @escaping @Sendable (Outcome, any UnitOfWork) async throws -> JSONValue
    ) -> PreparedCall {
        .checked {
            let outcome = await check()
            return { uow in try await writes(outcome, uow) }
        }
    }
}

/// One CALL's input to writes that many stations' CALLs share: `apply` gets the inputs of all the CALLs of
/// the same `name` in a batch and returns their replies in order. Every CALL of a name must bring the same
/// `apply` (it may capture the service, never the CALL: the input carries that).
public struct BulkCall: Sendable {
    public var name: String
    public var input: any Sendable
    public var apply: @Sendable (any UnitOfWork, [any Sendable]) async throws -> [JSONValue]

    public init<Input: Sendable>(name: String, input: Input, apply: @escaping @Sendable (any UnitOfWork, [Input]) async throws -> [JSONValue]) {
        self.name = name
        self.input = input
        self.apply = { uow, inputs in
            let typed = inputs.compactMap { $0 as? Input }
            guard typed.count == inputs.count else { throw StoreFailure.unavailable("\(name) was handed another call's input") }
            return try await apply(uow, typed)
        }
    }
}

/// A request that passed schema validation but cannot be applied, answered with a CALLERROR.
public struct InboundRejection: Error, Sendable {
    public var code: RPCErrorCode
    public var reason: String

    public init(_ code: RPCErrorCode, _ reason: String) {
        self.code = code
        self.reason = reason
    }
}

extension InboundAdapter {
    public func immediate(action: String, now: Date) throws -> JSONValue? { nil }

    func decode<T: Decodable>(_ type: T.Type, _ payload: JSONValue) throws -> T {
        do {
            return try OCPPCoder.decode(T.self, from: payload)
        } catch {
            throw InboundRejection(.formatViolation, "payload does not decode as \(T.self)")
        }
    }

    func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        try OCPPCoder.encode(value)
    }
}
