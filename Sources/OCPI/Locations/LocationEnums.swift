/// The enumerations of OCPI 2.2.1's Locations module, spelled as on the wire.

public enum EVSEStatus: String, Codable, Sendable, CaseIterable {
    case available = "AVAILABLE", blocked = "BLOCKED", charging = "CHARGING", inoperative = "INOPERATIVE"
    case outOfOrder = "OUTOFORDER", planned = "PLANNED", removed = "REMOVED", reserved = "RESERVED", unknown = "UNKNOWN"
}

public enum Capability: String, Codable, Sendable, CaseIterable {
    case chargingProfileCapable = "CHARGING_PROFILE_CAPABLE", chargingPreferencesCapable = "CHARGING_PREFERENCES_CAPABLE"
    case chipCardSupport = "CHIP_CARD_SUPPORT", contactlessCardSupport = "CONTACTLESS_CARD_SUPPORT"
    case creditCardPayable = "CREDIT_CARD_PAYABLE", debitCardPayable = "DEBIT_CARD_PAYABLE", pedTerminal = "PED_TERMINAL"
    case remoteStartStopCapable = "REMOTE_START_STOP_CAPABLE", reservable = "RESERVABLE", rfidReader = "RFID_READER"
    case startSessionConnectorRequired = "START_SESSION_CONNECTOR_REQUIRED", tokenGroupCapable = "TOKEN_GROUP_CAPABLE"
    case unlockCapable = "UNLOCK_CAPABLE"
}

public enum ConnectorType: String, Codable, Sendable, CaseIterable {
    case chademo = "CHADEMO", chaoji = "CHAOJI"
    case domesticA = "DOMESTIC_A", domesticB = "DOMESTIC_B", domesticC = "DOMESTIC_C", domesticD = "DOMESTIC_D"
    case domesticE = "DOMESTIC_E", domesticF = "DOMESTIC_F", domesticG = "DOMESTIC_G", domesticH = "DOMESTIC_H"
    case domesticI = "DOMESTIC_I", domesticJ = "DOMESTIC_J", domesticK = "DOMESTIC_K", domesticL = "DOMESTIC_L"
    case domesticM = "DOMESTIC_M", domesticN = "DOMESTIC_N", domesticO = "DOMESTIC_O"
    case gbtAC = "GBT_AC", gbtDC = "GBT_DC"
    // The spec spells these in mixed case.
    case iec60309Single16 = "IEC_60309_2_single_16", iec60309Three16 = "IEC_60309_2_three_16"
    case iec60309Three32 = "IEC_60309_2_three_32", iec60309Three64 = "IEC_60309_2_three_64"
    case iec62196T1 = "IEC_62196_T1", iec62196T1Combo = "IEC_62196_T1_COMBO", iec62196T2 = "IEC_62196_T2"
    case iec62196T2Combo = "IEC_62196_T2_COMBO", iec62196T3A = "IEC_62196_T3A", iec62196T3C = "IEC_62196_T3C"
    case nema520 = "NEMA_5_20", nema630 = "NEMA_6_30", nema650 = "NEMA_6_50", nema1030 = "NEMA_10_30"
    case nema1050 = "NEMA_10_50", nema1430 = "NEMA_14_30", nema1450 = "NEMA_14_50"
    case pantographBottomUp = "PANTOGRAPH_BOTTOM_UP", pantographTopDown = "PANTOGRAPH_TOP_DOWN"
    case teslaR = "TESLA_R", teslaS = "TESLA_S"
}

public enum ConnectorFormat: String, Codable, Sendable, CaseIterable {
    case socket = "SOCKET", cable = "CABLE"
}

public enum PowerType: String, Codable, Sendable, CaseIterable {
    case ac1Phase = "AC_1_PHASE", ac2Phase = "AC_2_PHASE", ac2PhaseSplit = "AC_2_PHASE_SPLIT", ac3Phase = "AC_3_PHASE", dc = "DC"
}

public enum ParkingType: String, Codable, Sendable, CaseIterable {
    case alongMotorway = "ALONG_MOTORWAY", parkingGarage = "PARKING_GARAGE", parkingLot = "PARKING_LOT"
    case onDriveway = "ON_DRIVEWAY", onStreet = "ON_STREET", undergroundGarage = "UNDERGROUND_GARAGE"
}

public enum ParkingRestriction: String, Codable, Sendable, CaseIterable {
    case evOnly = "EV_ONLY", plugged = "PLUGGED", disabled = "DISABLED", customers = "CUSTOMERS", motorcycles = "MOTORCYCLES"
}

public enum Facility: String, Codable, Sendable, CaseIterable {
    case hotel = "HOTEL", restaurant = "RESTAURANT", cafe = "CAFE", mall = "MALL", supermarket = "SUPERMARKET", sport = "SPORT"
    case recreationArea = "RECREATION_AREA", nature = "NATURE", museum = "MUSEUM", bikeSharing = "BIKE_SHARING", busStop = "BUS_STOP"
    case taxiStand = "TAXI_STAND", tramStop = "TRAM_STOP", metroStation = "METRO_STATION", trainStation = "TRAIN_STATION"
    case airport = "AIRPORT", parkingLot = "PARKING_LOT", carpoolParking = "CARPOOL_PARKING", fuelStation = "FUEL_STATION", wifi = "WIFI"
}

public enum ImageCategory: String, Codable, Sendable, CaseIterable {
    case charger = "CHARGER", entrance = "ENTRANCE", location = "LOCATION", network = "NETWORK", `operator` = "OPERATOR"
    case other = "OTHER", owner = "OWNER"
}

public enum TokenType: String, Codable, Sendable, CaseIterable {
    case adHocUser = "AD_HOC_USER", appUser = "APP_USER", other = "OTHER", rfid = "RFID"
}
