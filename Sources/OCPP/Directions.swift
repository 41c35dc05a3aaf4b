extension OCPP16 {
    /// Actions a charge point sends to the CSMS (DataTransfer goes both ways).
    public static let stationInitiated: Set<String> = [
        "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat",
        "MeterValues", "StartTransaction", "StatusNotification", "StopTransaction", "SecurityEventNotification", "SignCertificate",
        "SignedFirmwareStatusNotification", "LogStatusNotification",
    ]
}

extension OCPP201 {
    /// Actions a charging station sends to the CSMS (DataTransfer goes both ways).
    public static let stationInitiated: Set<String> = [
        "Authorize", "BootNotification", "ClearedChargingLimit", "DataTransfer", "FirmwareStatusNotification", "Get15118EVCertificate",
        "GetCertificateStatus", "Heartbeat", "LogStatusNotification", "MeterValues", "NotifyChargingLimit", "NotifyCustomerInformation",
        "NotifyDisplayMessages", "NotifyEVChargingNeeds", "NotifyEVChargingSchedule", "NotifyEvent", "NotifyMonitoringReport", "NotifyReport",
        "PublishFirmwareStatusNotification", "ReportChargingProfiles", "ReservationStatusUpdate", "SecurityEventNotification", "SignCertificate",
        "StatusNotification", "TransactionEvent",
    ]
}

extension OCPPSchemas {
    /// Actions the CSMS may send to a station of `version`.
    public static func csmsInitiated(_ version: OCPPVersion) -> Set<String> {
        let incoming = version == .v16 ? OCPP16.stationInitiated : OCPP201.stationInitiated
        return Set(actions(version)).subtracting(incoming).union(["DataTransfer"])
    }
}
