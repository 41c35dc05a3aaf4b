public import Foundation
public import OCPP

public enum TransactionState: String, Sendable, Codable, Hashable {
    case active = "Active"
    case ended = "Ended"
}

/// A charging session, stored once whatever version reported it.
public struct ChargingTransaction: Sendable, Codable, Hashable {
    /// The integer id (the 1.6 `transactionId`).
    public var id: Int64
    /// The string id: the 2.0.1 `transactionId`, or the decimal 1.6 id.
    public var uid: String
    public var stationId: String
    /// The OCPP version that reported it.
    public var ocppVersion: OCPPVersion
    public var evseId: Int
    public var connectorId: Int
    public var idToken: String?
    public var reservationId: Int?
    public var state: TransactionState
    public var startedAt: Date?
    public var stoppedAt: Date?
    public var meterStartWh: Int64?
    public var meterStopWh: Int64?
    public var energyWh: Int64?
    public var stopReason: String?
    public var chargingState: String?
    public var suspect: Bool
    public var suspectReasons: [String]

    public init(
        id: Int64, uid: String, stationId: String, ocppVersion: OCPPVersion, evseId: Int, connectorId: Int, idToken: String?, reservationId: Int? = nil,
        state: TransactionState, startedAt: Date?, stoppedAt: Date? = nil, meterStartWh: Int64?, meterStopWh: Int64? = nil,
        energyWh: Int64? = nil, stopReason: String? = nil, chargingState: String? = nil, suspect: Bool = false, suspectReasons: [String] = []
    ) {
        self.id = id
        self.uid = uid
        self.stationId = stationId
        self.ocppVersion = ocppVersion
        self.evseId = evseId
        self.connectorId = connectorId
        self.idToken = idToken
        self.reservationId = reservationId
        self.state = state
        self.startedAt = startedAt
        self.stoppedAt = stoppedAt
        self.meterStartWh = meterStartWh
        self.meterStopWh = meterStopWh
        self.energyWh = energyWh
        self.stopReason = stopReason
        self.chargingState = chargingState
        self.suspect = suspect
        self.suspectReasons = suspectReasons
    }
}
