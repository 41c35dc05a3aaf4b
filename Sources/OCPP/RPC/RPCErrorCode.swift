/// An OCPP-J CALLERROR code, independent of version. `wireName(for:)` gives the spelling the
/// negotiated version uses; `init(wireName:)` accepts every spelling seen in the field.
public struct RPCErrorCode: Sendable, Hashable, CustomStringConvertible {
    private enum Base: Sendable, Hashable {
        case notImplemented, notSupported, internalError, protocolError, securityError
        case formatViolation, propertyConstraintViolation, occurrenceConstraintViolation
        case typeConstraintViolation, genericError, messageTypeNotSupported, rpcFrameworkError
    }

    private let base: Base

    public static let notImplemented = Self(base: .notImplemented)
    public static let notSupported = Self(base: .notSupported)
    public static let internalError = Self(base: .internalError)
    public static let protocolError = Self(base: .protocolError)
    public static let securityError = Self(base: .securityError)
    /// 1.6 `FormationViolation`, 2.0.1 `FormatViolation`.
    public static let formatViolation = Self(base: .formatViolation)
    public static let propertyConstraintViolation = Self(base: .propertyConstraintViolation)
    /// 1.6 `OccurenceConstraintViolation` (the 1.6 spec's spelling), 2.0.1 and later `OccurrenceConstraintViolation`.
    public static let occurrenceConstraintViolation = Self(base: .occurrenceConstraintViolation)
    public static let typeConstraintViolation = Self(base: .typeConstraintViolation)
    public static let genericError = Self(base: .genericError)
    /// 2.0.1 and later; 1.6 has no such code and gets `FormationViolation`.
    public static let messageTypeNotSupported = Self(base: .messageTypeNotSupported)
    /// 2.0.1 and later; 1.6 has no such code and gets `FormationViolation`.
    public static let rpcFrameworkError = Self(base: .rpcFrameworkError)

    public func wireName(for version: OCPPVersion) -> String {
        switch (base, version) {
        case (.notImplemented, _): "NotImplemented"
        case (.notSupported, _): "NotSupported"
        case (.internalError, _): "InternalError"
        case (.protocolError, _): "ProtocolError"
        case (.securityError, _): "SecurityError"
        case (.formatViolation, .v16): "FormationViolation"
        case (.formatViolation, _): "FormatViolation"
        case (.propertyConstraintViolation, _): "PropertyConstraintViolation"
        case (.occurrenceConstraintViolation, .v16): "OccurenceConstraintViolation"
        case (.occurrenceConstraintViolation, _): "OccurrenceConstraintViolation"
        case (.typeConstraintViolation, _): "TypeConstraintViolation"
        case (.genericError, _): "GenericError"
        case (.messageTypeNotSupported, .v16), (.rpcFrameworkError, .v16): "FormationViolation"
        case (.messageTypeNotSupported, _): "MessageTypeNotSupported"
        case (.rpcFrameworkError, _): "RpcFrameworkError"
        }
    }

    public init?(wireName: String) {
        switch wireName {
        case "NotImplemented": base = .notImplemented
        case "NotSupported": base = .notSupported
        case "InternalError": base = .internalError
        case "ProtocolError": base = .protocolError
        case "SecurityError": base = .securityError
        case "FormationViolation", "FormatViolation": base = .formatViolation
        case "PropertyConstraintViolation": base = .propertyConstraintViolation
        case "OccurenceConstraintViolation", "OccurrenceConstraintViolation": base = .occurrenceConstraintViolation
        case "TypeConstraintViolation": base = .typeConstraintViolation
        case "GenericError": base = .genericError
        case "MessageTypeNotSupported": base = .messageTypeNotSupported
        case "RpcFrameworkError": base = .rpcFrameworkError
        default: return nil
        }
    }

    private init(base: Base) { self.base = base }

    public var description: String { wireName(for: .v201) }
}
