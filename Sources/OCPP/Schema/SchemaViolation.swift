/// The first way a payload breaks its schema, with the OCPP-J error code it maps to and the field's path.
public struct SchemaViolation: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// A value of the wrong JSON type, or a string that is not a valid date-time.
        case wrongType(expected: String, found: String)
        /// A required field is missing.
        case missing
        /// Too few or too many array items.
        case itemCount(min: Int?, max: Int?, found: Int)
        /// A member the schema does not allow.
        case notAllowed
        /// A value outside its enumeration.
        case notInEnumeration
        /// A string longer than allowed.
        case tooLong(max: Int)
        /// A number outside its range or not a multiple of its step.
        case outOfRange
        /// Not a valid RFC 3339 date-time.
        case invalidDateTime
    }

    public var path: String
    public var kind: Kind

    public var code: RPCErrorCode {
        switch kind {
        case .wrongType, .invalidDateTime: .typeConstraintViolation
        case .missing, .itemCount: .occurrenceConstraintViolation
        case .notAllowed: .formatViolation
        case .notInEnumeration, .tooLong, .outOfRange: .propertyConstraintViolation
        }
    }

    public var description: String {
        let field = path.isEmpty ? "payload" : "field '\(path)'"
        return switch kind {
        case .wrongType(let expected, let found): "\(field) must be of type \(expected), found \(found)"
        case .missing: "required \(field) is missing"
        case .itemCount(let min, let max, let found):
            "\(field) has \(found) items; allowed \(min.map(String.init) ?? "0")...\(max.map(String.init) ?? "any")"
        case .notAllowed: "\(field) is not allowed here"
        case .notInEnumeration: "\(field) has a value outside its enumeration"
        case .tooLong(let max): "\(field) is longer than \(max) characters"
        case .outOfRange: "\(field) is out of range"
        case .invalidDateTime: "\(field) is not a valid RFC 3339 date-time"
        }
    }
}

extension Schema {
    /// Validates `value`; returns the first violation found, or nil.
    public func validate(_ value: JSONValue) -> SchemaViolation? {
        validate(value, path: "")
    }

    private func validate(_ value: JSONValue, path: String) -> SchemaViolation? {
        func wrong(_ expected: String) -> SchemaViolation {
            SchemaViolation(path: path, kind: .wrongType(expected: expected, found: value.typeName))
        }
        switch self {
        case .any:
            return nil
        case .boolean:
            if case .bool = value { return nil }
            return wrong("boolean")
        case .integer(let minimum, let maximum):
            guard case .number(let n) = value, n.isInteger else { return wrong("integer") }
            guard n.int64Value != nil else { return SchemaViolation(path: path, kind: .outOfRange) }
            return Self.checkRange(n.doubleValue, minimum, maximum, nil, path)
        case .number(let minimum, let maximum, let multipleOf):
            guard case .number(let n) = value else { return wrong("number") }
            guard n.doubleValue.isFinite else { return SchemaViolation(path: path, kind: .outOfRange) }
            return Self.checkRange(n.doubleValue, minimum, maximum, multipleOf, path)
        case .string(let maxLength, let enumValues, let dateTime):
            guard case .string(let s) = value else { return wrong("string") }
            if let enumValues, !enumValues.contains(s) { return SchemaViolation(path: path, kind: .notInEnumeration) }
            if let maxLength, s.count > maxLength { return SchemaViolation(path: path, kind: .tooLong(max: maxLength)) }
            if dateTime, OCPPDateTime.parse(s) == nil { return SchemaViolation(path: path, kind: .invalidDateTime) }
            return nil
        case .array(let items, let minItems, let maxItems):
            guard case .array(let a) = value else { return wrong("array") }
            if let minItems, a.count < minItems { return SchemaViolation(path: path, kind: .itemCount(min: minItems, max: maxItems, found: a.count)) }
            if let maxItems, a.count > maxItems { return SchemaViolation(path: path, kind: .itemCount(min: minItems, max: maxItems, found: a.count)) }
            for (i, item) in a.enumerated() {
                if let v = items.validate(item, path: "\(path)[\(i)]") { return v }
            }
            return nil
        case .object(let o):
            guard case .object(let members) = value else { return wrong("object") }
            for name in o.required where members[name] == nil {
                return SchemaViolation(path: Self.join(path, name), kind: .missing)
            }
            for name in members.keys.sorted() {
                let child = Self.join(path, name)
                if let sub = o.properties[name] {
                    if let v = sub.validate(members[name]!, path: child) { return v }
                } else if !o.additionalProperties {
                    return SchemaViolation(path: child, kind: .notAllowed)
                }
            }
            return nil
        }
    }

    private static func join(_ path: String, _ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    private static func checkRange(_ v: Double, _ minimum: Double?, _ maximum: Double?, _ multipleOf: Double?, _ path: String) -> SchemaViolation? {
        if let minimum, v < minimum { return SchemaViolation(path: path, kind: .outOfRange) }
        if let maximum, v > maximum { return SchemaViolation(path: path, kind: .outOfRange) }
        if let multipleOf, multipleOf > 0 {
            let q = v / multipleOf
            if abs(q - q.rounded()) > 1e-9 * max(1, abs(q)) { return SchemaViolation(path: path, kind: .outOfRange) }
        }
        return nil
    }
}
