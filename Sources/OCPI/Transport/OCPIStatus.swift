/// An OCPI status code (2.2.1 `status_codes`): 1xxx success, 2xxx client errors, 3xxx server errors, 4xxx hub errors.
public struct OCPIStatus: Hashable, Sendable, Codable, CustomStringConvertible {
    public var code: Int

    public init(_ code: Int) { self.code = code }

    public static let success = OCPIStatus(1000)
    public static let clientError = OCPIStatus(2000)
    /// Invalid or missing parameters: a body that does not decode, a URL id that differs from the body's.
    public static let invalidParameters = OCPIStatus(2001)
    public static let notEnoughInformation = OCPIStatus(2002)
    public static let unknownLocation = OCPIStatus(2003)
    public static let unknownToken = OCPIStatus(2004)
    public static let serverError = OCPIStatus(3000)
    /// The server could not use the client's API (its versions or details did not answer).
    public static let unableToUseClientAPI = OCPIStatus(3001)
    public static let unsupportedVersion = OCPIStatus(3002)
    /// The client's endpoints lack what the server needs.
    public static let noMatchingEndpoints = OCPIStatus(3003)

    public var isSuccess: Bool { (1000..<2000).contains(code) }

    public var description: String { String(code) }

    public init(from decoder: any Decoder) throws {
        code = try decoder.singleValueContainer().decode(Int.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(code)
    }
}

/// OCPI's response envelope, on every answer, success or not.
public struct OCPIResponse<Payload: Encodable & Sendable>: Encodable, Sendable {
    public var data: Payload?
    public var statusCode: OCPIStatus
    public var statusMessage: String?
    public var timestamp: OCPIDateTime

    public init(data: Payload?, statusCode: OCPIStatus = .success, statusMessage: String? = nil, timestamp: OCPIDateTime) {
        self.data = data
        self.statusCode = statusCode
        self.statusMessage = statusMessage
        self.timestamp = timestamp
    }

    enum CodingKeys: String, CodingKey {
        case data, statusCode = "status_code", statusMessage = "status_message", timestamp
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(data, forKey: .data)
        try c.encode(statusCode, forKey: .statusCode)
        try c.encodeIfPresent(statusMessage, forKey: .statusMessage)
        try c.encode(timestamp, forKey: .timestamp)
    }
}

/// A payload-less envelope's placeholder type.
public struct NoPayload: Encodable, Sendable {}
