import Synchronization

/// OCPP 1.6 (JSON, with the Security Whitepaper messages): generated message types and schemas.
public enum OCPP16 {}
/// OCPP 2.0.1: generated message types and schemas.
public enum OCPP201 {}

/// The request and response schemas of every action of every version, compiled on first use.
public enum OCPPSchemas {
    public enum Direction: Sendable { case request, response }

    private static let cache = Mutex<[String: Schema]>([:])

    /// The schema for `action`'s request or response in `version`, or nil for an unknown action.
    public static func schema(_ version: OCPPVersion, action: String, _ direction: Direction) -> Schema? {
        let key = "\(version.rawValue)/\(action)/\(direction)"
        if let hit = cache.withLock({ $0[key] }) { return hit }
        let table: [String: String] =
            switch (version, direction) {
            case (.v16, .request): OCPP16.requestSchemaText
            case (.v16, .response): OCPP16.responseSchemaText
            case (_, .request): OCPP201.requestSchemaText
            case (_, .response): OCPP201.responseSchemaText
            }
        guard let text = table[action] else { return nil }
        // The schema texts are generated from the official schemas and covered by a test that compiles
        // them all, so a failure here is a build defect rather than bad input.
        guard let schema = try? Schema.compile(text) else { return nil }
        cache.withLock { $0[key] = schema }
        return schema
    }

    public static func actions(_ version: OCPPVersion) -> [String] {
        version == .v16 ? OCPP16.allActions : OCPP201.allActions
    }
}
