/// The subset of JSON Schema (draft-04/06) that the OCPP schemas use, compiled for validation.
public indirect enum Schema: Sendable {
    case any
    case object(ObjectSchema)
    case array(items: Schema, minItems: Int?, maxItems: Int?)
    case string(maxLength: Int?, enumValues: [String]?, dateTime: Bool)
    case integer(minimum: Double?, maximum: Double?)
    case number(minimum: Double?, maximum: Double?, multipleOf: Double?)
    case boolean

    public struct ObjectSchema: Sendable {
        public var properties: [String: Schema]
        public var required: [String]
        public var additionalProperties: Bool
    }
}

extension Schema {
    /// Compiles a schema document, resolving `#/definitions/...` references.
    public static func compile(_ text: String) throws -> Schema {
        let root = try JSONParser.parse(text)
        let definitions = root["definitions"]?.objectValue ?? [:]
        return try compile(root, definitions: definitions, depth: 0)
    }

    private static func compile(_ node: JSONValue, definitions: [String: JSONValue], depth: Int) throws -> Schema {
        guard depth < 32 else { throw SchemaCompileError(reason: "schema nesting too deep") }
        if let ref = node["$ref"]?.stringValue {
            let name = String(ref.split(separator: "/").last ?? "")
            guard let target = definitions[name] else { throw SchemaCompileError(reason: "unresolved $ref \(ref)") }
            return try compile(target, definitions: definitions, depth: depth + 1)
        }
        func int(_ key: String) -> Int? {
            if case .number(let n) = node[key] { return n.int64Value.map(Int.init) }
            return nil
        }
        func double(_ key: String) -> Double? {
            if case .number(let n) = node[key] { return n.doubleValue }
            return nil
        }
        switch node["type"]?.stringValue {
        case "object":
            var properties: [String: Schema] = [:]
            for (name, sub) in node["properties"]?.objectValue ?? [:] {
                properties[name] = try compile(sub, definitions: definitions, depth: depth + 1)
            }
            var required: [String] = []
            if case .array(let names) = node["required"] { required = names.compactMap(\.stringValue) }
            var additional = true
            if case .bool(let b) = node["additionalProperties"] { additional = b }
            return .object(ObjectSchema(properties: properties, required: required, additionalProperties: additional))
        case "array":
            let items = try node["items"].map { try compile($0, definitions: definitions, depth: depth + 1) } ?? .any
            return .array(items: items, minItems: int("minItems"), maxItems: int("maxItems"))
        case "string":
            var values: [String]?
            if case .array(let e) = node["enum"] { values = e.compactMap(\.stringValue) }
            return .string(maxLength: int("maxLength"), enumValues: values, dateTime: node["format"]?.stringValue == "date-time")
        case "integer":
            return .integer(minimum: double("minimum"), maximum: double("maximum"))
        case "number":
            return .number(minimum: double("minimum"), maximum: double("maximum"), multipleOf: double("multipleOf"))
        case "boolean":
            return .boolean
        case nil:
            return .any
        case let other?:
            throw SchemaCompileError(reason: "unsupported schema type \(other)")
        }
    }
}

public struct SchemaCompileError: Error, Sendable {
    public let reason: String
}
