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
    /// Writes handed to the runner as an input of `BulkWork`, applied together with other stations' (the
    /// runner's `perform(_:_:)` returns after their COMMIT). Only for CALLs that are idempotent by content:
    /// a replay-guarded CALL keeps its reply in its own transaction.
    case bulk(@Sendable (any TransactionRunner) async throws -> JSONValue)
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
