public import Foundation

/// A value that OCPI's rules, or Voltaic's range limits, refuse: the path names the field as it is spelled on the
/// wire (`elements[0].price_components[1].step_size`), the reason says what is wrong with it.
public struct OCPIFieldError: Error, Hashable, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public init(_ codingPath: [any CodingKey], _ reason: String) {
        self.init(path: Self.render(codingPath), reason: reason)
    }

    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }

    /// The field a decoding error is about, and why, in the same words as the validation errors.
    public static func from(_ error: any Error) -> OCPIFieldError {
        switch error {
        case let error as OCPIFieldError:
            return error
        case let DecodingError.keyNotFound(key, context):
            return OCPIFieldError(context.codingPath + [key], "is required")
        case let DecodingError.typeMismatch(type, context):
            return OCPIFieldError(context.codingPath, "must be \(Self.describe(type))")
        case let DecodingError.valueNotFound(type, context):
            return OCPIFieldError(context.codingPath, "must be \(Self.describe(type)), not null")
        case let DecodingError.dataCorrupted(context):
            // Foundation reports a number beyond Decimal's range (about 10^165) as invalid JSON, with no path.
            if context.codingPath.isEmpty { return OCPIFieldError(path: "", reason: Self.notJSON) }
            return OCPIFieldError(context.codingPath, context.debugDescription)
        default:
            return OCPIFieldError(path: "", reason: "cannot be read")
        }
    }

    public static let notJSON = "is not valid JSON (or holds a number too large to read)"

    static func render(_ codingPath: [any CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                if !out.isEmpty { out += "." }
                out += key.stringValue
            }
        }
        return out
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type, is Decimal.Type: "a number"
        default:
            String(describing: type).contains("Array") ? "an array" : (String(describing: type).contains("Dictionary") ? "an object" : "a \(type)")
        }
    }
}
