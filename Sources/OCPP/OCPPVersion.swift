import Foundation

/// The OCPP-J versions Voltaic speaks, named by their WebSocket subprotocol token.
public enum OCPPVersion: String, Sendable, Hashable, CaseIterable, Codable {
    case v16 = "ocpp1.6"
    case v201 = "ocpp2.0.1"
    case v21 = "ocpp2.1"

    /// The versions the server offers, in order of preference.
    public static let supported: [OCPPVersion] = [.v201, .v16]

    /// Picks the subprotocol for a handshake from the `Sec-WebSocket-Protocol` values a station sent.
    /// Only a token the station offered can be chosen (RFC 6455 §4.2.2); tokens match case-insensitively
    /// because some firmware sends `OCPP1.6`. Returns nil when nothing offered is supported.
    public static func negotiate(offered headerValues: [String], supported: [OCPPVersion] = Self.supported) -> OCPPVersion? {
        let offered = Set(
            headerValues.flatMap { $0.split(separator: ",") }
                .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        )
        return supported.first { offered.contains($0.rawValue) }
    }

    public var isV2: Bool { self != .v16 }
}
