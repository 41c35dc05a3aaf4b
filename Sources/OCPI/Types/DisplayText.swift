/// Text in one language (ISO 639-1).
public struct DisplayText: Hashable, Sendable, Codable {
    enum CodingKeys: String, CodingKey { case language, text }

    public var language: String
    public var text: String

    public init(language: String, text: String) {
        self.language = language
        self.text = text
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        language = try c.decode(String.self, forKey: .language)
        guard language.utf8.count == 2, language.utf8.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) }) else {
            throw OCPIFieldError(c.codingPath + [CodingKeys.language], "must be an ISO 639-1 code of two letters")
        }
        text = try c.decode(.text, text: 512)
    }
}
