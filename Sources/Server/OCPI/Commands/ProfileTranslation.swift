import Foundation
import OCPI
import OCPP

/// OCPI charging profiles as OCPP smart charging (a session's TxProfile), and the stations' answers as the module's
/// results. Pure.
enum ProfileTranslation {
    typealias Call = CommandTranslation.Call

    /// The id a session's profile goes by: one per session, so that a new PUT replaces the profile the last one set and a
    /// DELETE clears it (within OCPP's int32, apart from the small ids stations and operators use).
    static func profileId(transactionId: Int64) -> Int { 1_000_000_000 + Int(transactionId.magnitude % 1_000_000_000) }

    static func number(_ d: Decimal) -> JSONValue { .number(JSONNumber(literal: "\(d)")) }

    /// PUT: SetChargingProfile of a TxProfile for the session's transaction on its EVSE (stack level 0). Without a
    /// start time the profile is relative to the start of charging, as OCPI says, which OCPP's Relative kind is.
    static func set(_ p: ChargingProfile, version: String?, evseId: Int, transactionId: Int64, transactionUID: String) -> Call {
        let id = profileId(transactionId: transactionId)
        var schedule: [String: JSONValue] = [
            "chargingRateUnit": .string(p.chargingRateUnit.rawValue),
            "chargingSchedulePeriod": .array(p.periods.map { .object(["startPeriod": .number(JSONNumber($0.startPeriod)), "limit": number($0.limit)]) }),
        ]
        if let d = p.duration { schedule["duration"] = .number(JSONNumber(d)) }
        if let s = p.startDateTime { schedule["startSchedule"] = .string(s.description) }
        if let m = p.minChargingRate { schedule["minChargingRate"] = number(m) }
        let kind = JSONValue.string(p.startDateTime == nil ? "Relative" : "Absolute")
        if CommandTranslation.isV16(version) {
            return Call(action: "SetChargingProfile", payload: .object([
                "connectorId": .number(JSONNumber(evseId)),
                "csChargingProfiles": .object([
                    "chargingProfileId": .number(JSONNumber(id)), "transactionId": .number(JSONNumber(transactionId)), "stackLevel": .number(JSONNumber(0)),
                    "chargingProfilePurpose": .string("TxProfile"), "chargingProfileKind": kind, "chargingSchedule": .object(schedule),
                ]),
            ]))
        }
        schedule["id"] = .number(JSONNumber(id))
        return Call(action: "SetChargingProfile", payload: .object([
            "evseId": .number(JSONNumber(evseId)),
            "chargingProfile": .object([
                "id": .number(JSONNumber(id)), "stackLevel": .number(JSONNumber(0)), "chargingProfilePurpose": .string("TxProfile"),
                "chargingProfileKind": kind, "transactionId": .string(transactionUID), "chargingSchedule": .array([.object(schedule)]),
            ]),
        ]))
    }

    /// GET: GetCompositeSchedule of the session's EVSE for `duration` seconds.
    static func get(version: String?, evseId: Int, duration: Int) -> Call {
        Call(action: "GetCompositeSchedule", payload: .object([
            (CommandTranslation.isV16(version) ? "connectorId" : "evseId"): .number(JSONNumber(evseId)), "duration": .number(JSONNumber(duration)),
        ]))
    }

    /// DELETE: ClearChargingProfile of the session's profile.
    static func clear(version: String?, transactionId: Int64) -> Call {
        let id = JSONValue.number(JSONNumber(profileId(transactionId: transactionId)))
        return Call(action: "ClearChargingProfile", payload: .object([(CommandTranslation.isV16(version) ? "id" : "chargingProfileId"): id]))
    }

    /// The station's answer as the module's result object: ChargingProfileResult, ActiveChargingProfileResult (with the
    /// composite schedule as an ActiveChargingProfile) or ClearProfileResult.
    static func result(_ request: ChargingProfileRequest, answer: JSONValue) -> (ChargingProfileResultType, JSONValue) {
        let status = answer["status"]?.stringValue
        let result: ChargingProfileResultType = switch status {
        case "Accepted": .accepted
        case "Unknown": .unknown
        default: .rejected
        }
        guard request == .get, result == .accepted else { return (result, .object(["result": .string(result.rawValue)])) }
        // 1.6 puts the schedule at the top, 2.0.1 under `schedule`.
        let schedule = answer["schedule"] ?? answer["chargingSchedule"]
        guard let schedule, case .array(let periods)? = schedule["chargingSchedulePeriod"], let unit = schedule["chargingRateUnit"]?.stringValue,
              ChargingRateUnit(rawValue: unit) != nil
        else { return (.unknown, .object(["result": .string(ChargingProfileResultType.unknown.rawValue)])) }
        var profile: [String: JSONValue] = [
            "charging_rate_unit": .string(unit),
            "charging_profile_period": .array(periods.compactMap { p in
                guard let start = p["startPeriod"], let limit = p["limit"] else { return nil }
                return .object(["start_period": start, "limit": limit])
            }),
        ]
        if let d = schedule["duration"] { profile["duration"] = d }
        if let m = schedule["minChargingRate"] { profile["min_charging_rate"] = m }
        let start = answer["scheduleStart"] ?? schedule["scheduleStart"] ?? schedule["startSchedule"]
        let stamp = start?.stringValue.flatMap(OCPIDateTime.init(string:)) ?? OCPIDateTime(Date())
        return (.accepted, .object([
            "result": .string(ChargingProfileResultType.accepted.rawValue),
            "profile": .object(["start_date_time": .string(stamp.description), "charging_profile": .object(profile)]),
        ]))
    }
}
