public import Foundation

/// One connector's reported state. A 1.6 connector n is EVSE n, connector 1; connector 0 is the station.
public struct ConnectorStatus: Sendable, Codable, Hashable {
    public var evseId: Int
    public var connectorId: Int
    public var status: String
    public var errorCode: String?
    public var info: String?
    public var vendorErrorCode: String?
    public var reportedAt: Date

    public init(evseId: Int, connectorId: Int, status: String, errorCode: String? = nil, info: String? = nil, vendorErrorCode: String? = nil, reportedAt: Date) {
        self.evseId = evseId
        self.connectorId = connectorId
        self.status = status
        self.errorCode = errorCode
        self.info = info
        self.vendorErrorCode = vendorErrorCode
        self.reportedAt = reportedAt
    }
}

/// The version-neutral position of a connector.
public struct ConnectorRef: Sendable, Hashable, Codable {
    public var evseId: Int
    public var connectorId: Int

    public init(evseId: Int, connectorId: Int) {
        self.evseId = evseId
        self.connectorId = connectorId
    }

    /// OCPP 1.6 numbers connectors from 1 on the station, 0 meaning the station itself.
    public static func fromOCPP16(connectorId: Int) -> ConnectorRef {
        connectorId == 0 ? ConnectorRef(evseId: 0, connectorId: 0) : ConnectorRef(evseId: connectorId, connectorId: 1)
    }
}
