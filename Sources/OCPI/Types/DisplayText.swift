/// Text in one language (ISO 639-1).
public struct DisplayText: Hashable, Sendable, Codable {
    public var language: String
    public var text: String

    public init(language: String, text: String) {
        self.language = language
        self.text = text
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        language = try c.decode(.language, maxLength: 2)
        text = try c.decode(.text, maxLength: 512)
    }
}
