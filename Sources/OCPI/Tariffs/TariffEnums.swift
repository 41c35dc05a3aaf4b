/// The dimension a price component bills (OCPI 2.2.1 `TariffDimensionType`).
public enum TariffDimensionType: String, Codable, Sendable, CaseIterable {
    /// Per kWh; `step_size` in Wh.
    case energy = "ENERGY"
    /// Once per session.
    case flat = "FLAT"
    /// Per hour not charging; `step_size` in seconds.
    case parkingTime = "PARKING_TIME"
    /// Per hour charging (or reserved, under a reservation restriction); `step_size` in seconds.
    case time = "TIME"
}

public enum TariffType: String, Codable, Sendable, CaseIterable {
    case adHocPayment = "AD_HOC_PAYMENT"
    case profileCheap = "PROFILE_CHEAP"
    case profileFast = "PROFILE_FAST"
    case profileGreen = "PROFILE_GREEN"
    case regular = "REGULAR"
}

/// ISO order, so that `rawValue`'s position + 1 is the ISO weekday (Monday = 1).
public enum DayOfWeek: String, Codable, Sendable, CaseIterable {
    case monday = "MONDAY", tuesday = "TUESDAY", wednesday = "WEDNESDAY", thursday = "THURSDAY"
    case friday = "FRIDAY", saturday = "SATURDAY", sunday = "SUNDAY"

    public var isoNumber: Int { Self.allCases.firstIndex(of: self)! + 1 }
}

public enum ReservationRestrictionType: String, Codable, Sendable, CaseIterable {
    /// Prices the reservation, whether or not charging followed.
    case reservation = "RESERVATION"
    /// Prices a reservation that expired without a charging session.
    case reservationExpires = "RESERVATION_EXPIRES"
}
