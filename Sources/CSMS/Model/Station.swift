public import Foundation
public import OCPP

/// How the CSMS answers a BootNotification, and whether the station may operate.
public enum RegistrationStatus: String, Sendable, Codable, Hashable {
    case accepted = "Accepted"
    case pending = "Pending"
    case rejected = "Rejected"
}

/// A charging station as the CSMS knows it, whatever OCPP version it speaks.
public struct Station: Sendable, Codable, Hashable {
    public var id: String
    public var vendor: String?
    public var model: String?
    public var serialNumber: String?
    public var firmwareVersion: String?
    public var ocppVersion: OCPPVersion?
    public var registrationStatus: RegistrationStatus
    public var securityProfile: Int
    public var hasPassword: Bool
    public var online: Bool
    public var lastBootAt: Date?
    public var lastSeenAt: Date?
    public var createdAt: Date
    /// When an operator removed it; a decommissioned station cannot connect, and its history stays.
    public var decommissionedAt: Date?
    /// The security profile its last connection used, and that connection's client certificate (SHA-256 fingerprint)
    /// at profile 3.
    public var lastSecurityProfile: Int?
    public var lastCertificate: String?

    public init(
        id: String, vendor: String? = nil, model: String? = nil, serialNumber: String? = nil,
        firmwareVersion: String? = nil, ocppVersion: OCPPVersion? = nil,
        registrationStatus: RegistrationStatus = .accepted, securityProfile: Int = 0, hasPassword: Bool = false,
        online: Bool = false, lastBootAt: Date? = nil, lastSeenAt: Date? = nil, createdAt: Date = Date(), decommissionedAt: Date? = nil
    ) {
        self.id = id
        self.vendor = vendor
        self.model = model
        self.serialNumber = serialNumber
        self.firmwareVersion = firmwareVersion
        self.ocppVersion = ocppVersion
        self.registrationStatus = registrationStatus
        self.securityProfile = securityProfile
        self.hasPassword = hasPassword
        self.online = online
        self.lastBootAt = lastBootAt
        self.lastSeenAt = lastSeenAt
        self.createdAt = createdAt
        self.decommissionedAt = decommissionedAt
    }
}

/// What a station said about itself in a BootNotification.
public struct BootInfo: Sendable, Hashable {
    public var vendor: String
    public var model: String
    public var serialNumber: String?
    public var firmwareVersion: String?
    public var iccid: String?
    public var imsi: String?
    public var meterType: String?
    public var meterSerialNumber: String?
    public var reason: String?

    public init(
        vendor: String, model: String, serialNumber: String? = nil, firmwareVersion: String? = nil,
        iccid: String? = nil, imsi: String? = nil, meterType: String? = nil, meterSerialNumber: String? = nil,
        reason: String? = nil
    ) {
        self.vendor = vendor
        self.model = model
        self.serialNumber = serialNumber
        self.firmwareVersion = firmwareVersion
        self.iccid = iccid
        self.imsi = imsi
        self.meterType = meterType
        self.meterSerialNumber = meterSerialNumber
        self.reason = reason
    }
}

/// Station identities as OCPP allows them: at most 48 characters of the URL-safe set that the
/// OCPP 2.0.1 identifierString allows (letters, digits and `*-_=:+|@.`).
public enum StationIdentity {
    public static let maxLength = 48

    public static func isValid(_ id: String) -> Bool {
        guard !id.isEmpty, id.count <= maxLength else { return false }
        return id.unicodeScalars.allSatisfy { s in
            switch s {
            case "a"..."z", "A"..."Z", "0"..."9", "*", "-", "_", "=", ":", "+", "|", "@", ".": true
            default: false
            }
        }
    }
}

/// Basic-auth passwords (security profile 1): OCPP allows 16 to 40 characters.
public enum StationPassword {
    public static let lengths: ClosedRange<Int> = 16...40

    /// Counted as JSON Schema counts them: Unicode scalars.
    public static func isValid(_ password: String) -> Bool { lengths.contains(password.unicodeScalars.count) }

    /// 24 letters and digits from the system's secure generator: about 143 bits.
    public static func generate() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<24).map { _ in alphabet.randomElement(using: &rng)! })
    }
}
