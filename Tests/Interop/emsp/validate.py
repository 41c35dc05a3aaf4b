"""Field checks of OCPI 2.2.1 objects, from the specification's tables (mod_locations, mod_tariffs, mod_tokens,
mod_sessions, mod_cdrs, types). Each check returns a list of problems, as "path: reason"; an empty list means the
object is valid."""
import re
from datetime import datetime, timezone
from decimal import Decimal

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
LATITUDE = re.compile(r"^-?[0-9]{1,2}\.[0-9]{5,7}$")
LONGITUDE = re.compile(r"^-?[0-9]{1,3}\.[0-9]{5,7}$")

EVSE_STATUS = {"AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUTOFORDER", "PLANNED", "REMOVED", "RESERVED", "UNKNOWN"}
CAPABILITIES = {
    "CHARGING_PROFILE_CAPABLE", "CHARGING_PREFERENCES_CAPABLE", "CHIP_CARD_SUPPORT", "CONTACTLESS_CARD_SUPPORT",
    "CREDIT_CARD_PAYABLE", "DEBIT_CARD_PAYABLE", "PED_TERMINAL", "REMOTE_START_STOP_CAPABLE", "RESERVABLE", "RFID_READER",
    "START_SESSION_CONNECTOR_REQUIRED", "TOKEN_GROUP_CAPABLE", "UNLOCK_CAPABLE",
}
CONNECTOR_TYPES = {
    "CHADEMO", "CHAOJI", *[f"DOMESTIC_{c}" for c in "ABCDEFGHIJKLMNO"], "GBT_AC", "GBT_DC", "IEC_60309_2_single_16",
    "IEC_60309_2_three_16", "IEC_60309_2_three_32", "IEC_60309_2_three_64", "IEC_62196_T1", "IEC_62196_T1_COMBO",
    "IEC_62196_T2", "IEC_62196_T2_COMBO", "IEC_62196_T3A", "IEC_62196_T3C", "NEMA_5_20", "NEMA_6_30", "NEMA_6_50",
    "NEMA_10_30", "NEMA_10_50", "NEMA_14_30", "NEMA_14_50", "PANTOGRAPH_BOTTOM_UP", "PANTOGRAPH_TOP_DOWN", "TESLA_R", "TESLA_S",
}
FORMATS = {"SOCKET", "CABLE"}
POWER_TYPES = {"AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"}
PARKING_TYPES = {"ALONG_MOTORWAY", "PARKING_GARAGE", "PARKING_LOT", "ON_DRIVEWAY", "ON_STREET", "UNDERGROUND_GARAGE"}
FACILITIES = {
    "HOTEL", "RESTAURANT", "CAFE", "MALL", "SUPERMARKET", "SPORT", "RECREATION_AREA", "NATURE", "MUSEUM", "BIKE_SHARING",
    "BUS_STOP", "TAXI_STAND", "TRAM_STOP", "METRO_STATION", "TRAIN_STATION", "AIRPORT", "PARKING_LOT", "CARPOOL_PARKING",
    "FUEL_STATION", "WIFI",
}
DIMENSIONS = {"ENERGY", "FLAT", "PARKING_TIME", "TIME"}
TARIFF_TYPES = {"AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"}
DAYS = {"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"}
TOKEN_TYPES = {"AD_HOC_USER", "APP_USER", "OTHER", "RFID"}
WHITELIST_TYPES = {"ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"}
PROFILE_TYPES = {"CHEAP", "FAST", "GREEN", "REGULAR"}
SESSION_STATUS = {"ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"}
AUTH_METHODS = {"AUTH_REQUEST", "COMMAND", "WHITELIST"}
# CdrDimensionType: every value may appear in a Session; these five are "Session only" and never in a CDR.
SESSION_ONLY_DIMENSIONS = {"CURRENT", "ENERGY_EXPORT", "ENERGY_IMPORT", "POWER", "STATE_OF_CHARGE"}
CDR_DIMENSIONS = {"ENERGY", "MAX_CURRENT", "MIN_CURRENT", "MAX_POWER", "MIN_POWER", "PARKING_TIME", "RESERVATION_TIME", "TIME"}
SESSION_DIMENSIONS = CDR_DIMENSIONS | SESSION_ONLY_DIMENSIONS


class Checker:
    def __init__(self):
        self.problems = []

    def fail(self, path, reason):
        self.problems.append(f"{path}: {reason}")

    def required(self, obj, key, path):
        if key not in obj or obj[key] is None:
            self.fail(f"{path}.{key}", "is required")
            return False
        return True

    def cistring(self, obj, key, path, n, required=True):
        if not required and obj.get(key) is None:
            return
        if not self.required(obj, key, path):
            return
        v = obj[key]
        if not isinstance(v, str) or not (1 <= len(v) <= n) or any(not (0x20 <= ord(c) <= 0x7E) for c in v):
            self.fail(f"{path}.{key}", f"must be CiString({n})")

    def string(self, obj, key, path, n, required=True):
        if not required and obj.get(key) is None:
            return
        if not self.required(obj, key, path):
            return
        v = obj[key]
        if not isinstance(v, str) or len(v) > n or any(ord(c) < 0x20 for c in v):
            self.fail(f"{path}.{key}", f"must be string({n})")

    def datetime(self, obj, key, path, required=True):
        if not required and obj.get(key) is None:
            return
        if not self.required(obj, key, path):
            return
        v = obj[key]
        # Emitted in UTC with Z and at most 3 fractional digits (what partners parse).
        if not isinstance(v, str) or not DATETIME.match(v) or ("." in v and len(v.split(".")[1]) > 4):
            self.fail(f"{path}.{key}", f"must be an OCPI DateTime in UTC 'Z' ({v!r})")

    def enum(self, obj, key, path, allowed, required=True):
        if not required and obj.get(key) is None:
            return
        if not self.required(obj, key, path):
            return
        if obj[key] not in allowed:
            self.fail(f"{path}.{key}", f"must be one of the spec's values ({obj[key]!r})")

    def enum_list(self, obj, key, path, allowed):
        for i, v in enumerate(obj.get(key) or []):
            if v not in allowed:
                self.fail(f"{path}.{key}[{i}]", f"must be one of the spec's values ({v!r})")

    def integer(self, obj, key, path, required=True):
        if not required and obj.get(key) is None:
            return
        if not self.required(obj, key, path):
            return
        if not isinstance(obj[key], int) or isinstance(obj[key], bool):
            self.fail(f"{path}.{key}", "must be an integer")

    def number(self, obj, key, path, required=True):
        if not required and obj.get(key) is None:
            return
        if not self.required(obj, key, path):
            return
        v = obj[key]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            self.fail(f"{path}.{key}", "must be a non-negative number")

    def display_texts(self, obj, key, path):
        for i, t in enumerate(obj.get(key) or []):
            p = f"{path}.{key}[{i}]"
            self.string(t, "language", p, 2)
            self.string(t, "text", p, 512)


def location(loc, path="location"):
    c = Checker()
    c.cistring(loc, "country_code", path, 2)
    c.cistring(loc, "party_id", path, 3)
    c.cistring(loc, "id", path, 36)
    if not isinstance(loc.get("publish"), bool):
        c.fail(f"{path}.publish", "is a required boolean")
    c.string(loc, "name", path, 255, required=False)
    c.string(loc, "address", path, 255)
    c.string(loc, "city", path, 45)
    c.string(loc, "postal_code", path, 10, required=False)
    if c.required(loc, "country", path) and not re.match(r"^[A-Z]{3}$", str(loc["country"])):
        c.fail(f"{path}.country", "must be ISO 3166-1 alpha-3")
    if c.required(loc, "coordinates", path):
        co = loc["coordinates"]
        if not LATITUDE.match(str(co.get("latitude"))):
            c.fail(f"{path}.coordinates.latitude", "must match -?[0-9]{1,2}\\.[0-9]{5,7}")
        if not LONGITUDE.match(str(co.get("longitude"))):
            c.fail(f"{path}.coordinates.longitude", "must match -?[0-9]{1,3}\\.[0-9]{5,7}")
    c.enum(loc, "parking_type", path, PARKING_TYPES, required=False)
    c.enum_list(loc, "facilities", path, FACILITIES)
    c.string(loc, "time_zone", path, 255)
    c.display_texts(loc, "directions", path)
    for role in ("operator", "suboperator", "owner"):
        if loc.get(role) is not None:
            c.string(loc[role], "name", f"{path}.{role}", 100)
    if loc.get("opening_times") is not None:
        ot = loc["opening_times"]
        if not isinstance(ot.get("twentyfourseven"), bool):
            c.fail(f"{path}.opening_times.twentyfourseven", "is a required boolean")
        for i, rh in enumerate(ot.get("regular_hours") or []):
            p = f"{path}.opening_times.regular_hours[{i}]"
            if rh.get("weekday") not in range(1, 8):
                c.fail(f"{p}.weekday", "must be 1..7")
            for k in ("period_begin", "period_end"):
                if not re.match(r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$", str(rh.get(k))):
                    c.fail(f"{p}.{k}", "must be HH:MM")
    c.datetime(loc, "last_updated", path)
    evses = loc.get("evses")
    if evses is not None and not isinstance(evses, list):
        c.fail(f"{path}.evses", "must be a list")
    latest = loc.get("last_updated")
    for i, e in enumerate(evses or []):
        c.problems += evse(e, f"{path}.evses[{i}]")
        # A Location's last_updated is the latest of itself and its EVSEs (mod_locations).
        if latest and e.get("last_updated") and e["last_updated"] > latest and len(e["last_updated"]) == len(latest):
            c.fail(f"{path}.evses[{i}].last_updated", "is later than its location's")
    return c.problems


def evse(e, path="evse"):
    c = Checker()
    c.cistring(e, "uid", path, 36)
    c.cistring(e, "evse_id", path, 48, required=False)
    c.enum(e, "status", path, EVSE_STATUS)
    c.enum_list(e, "capabilities", path, CAPABILITIES)
    c.string(e, "floor_level", path, 4, required=False)
    c.string(e, "physical_reference", path, 16, required=False)
    c.display_texts(e, "directions", path)
    c.datetime(e, "last_updated", path)
    connectors = e.get("connectors")
    if not isinstance(connectors, list) or not connectors:
        c.fail(f"{path}.connectors", "must hold at least one connector")
    for i, k in enumerate(connectors or []):
        c.problems += connector(k, f"{path}.connectors[{i}]")
    return c.problems


def connector(k, path="connector"):
    c = Checker()
    c.cistring(k, "id", path, 36)
    c.enum(k, "standard", path, CONNECTOR_TYPES)
    c.enum(k, "format", path, FORMATS)
    c.enum(k, "power_type", path, POWER_TYPES)
    c.integer(k, "max_voltage", path)
    c.integer(k, "max_amperage", path)
    c.integer(k, "max_electric_power", path, required=False)
    for i, t in enumerate(k.get("tariff_ids") or []):
        if not isinstance(t, str) or not (1 <= len(t) <= 36):
            c.fail(f"{path}.tariff_ids[{i}]", "must be CiString(36)")
    c.datetime(k, "last_updated", path)
    return c.problems


def price(p, path, c):
    c.number(p, "excl_vat", path)
    c.number(p, "incl_vat", path, required=False)


def tariff(t, path="tariff"):
    c = Checker()
    c.cistring(t, "country_code", path, 2)
    c.cistring(t, "party_id", path, 3)
    c.cistring(t, "id", path, 36)
    if c.required(t, "currency", path) and not re.match(r"^[A-Z]{3}$", str(t["currency"])):
        c.fail(f"{path}.currency", "must be ISO 4217")
    c.enum(t, "type", path, TARIFF_TYPES, required=False)
    for k in ("min_price", "max_price"):
        if t.get(k) is not None:
            price(t[k], f"{path}.{k}", c)
    elements = t.get("elements")
    if not isinstance(elements, list) or not elements:
        c.fail(f"{path}.elements", "must hold at least one element")
    for i, el in enumerate(elements or []):
        p = f"{path}.elements[{i}]"
        comps = el.get("price_components")
        if not isinstance(comps, list) or not comps:
            c.fail(f"{p}.price_components", "must hold at least one component")
        for j, pc in enumerate(comps or []):
            q = f"{p}.price_components[{j}]"
            c.enum(pc, "type", q, DIMENSIONS)
            c.number(pc, "price", q)
            c.number(pc, "vat", q, required=False)
            c.integer(pc, "step_size", q)
        r = el.get("restrictions")
        if r is not None:
            c.enum_list(r, "day_of_week", f"{p}.restrictions", DAYS)
    c.datetime(t, "start_date_time", path, required=False)
    c.datetime(t, "end_date_time", path, required=False)
    c.datetime(t, "last_updated", path)
    return c.problems


# Tokens, Sessions and CDRs -------------------------------------------------------------------------------------


def _instant(stamp):
    """A DateTime that matched DATETIME, as an aware datetime (to order stamps of any precision)."""
    head, _, frac = stamp[:-1].partition(".")
    return datetime.fromisoformat(f"{head}.{frac[:6].ljust(6, '0')}").replace(tzinfo=timezone.utc)


def _four_decimals(c, obj, key, path):
    """types.asciidoc, number: "Unless mentioned otherwise, numbers use 4 decimals"."""
    v = obj.get(key) if isinstance(obj, dict) else None
    if isinstance(v, (int, float)) and not isinstance(v, bool) and -Decimal(str(v)).as_tuple().exponent > 4:
        c.fail(f"{path}.{key}", f"has more than 4 decimals ({v!r})")


def _stamp(obj, key):
    v = obj.get(key) if isinstance(obj, dict) else None
    return _instant(v) if isinstance(v, str) and DATETIME.match(v) else None


def _object(c, obj, key, path, required=True):
    """The member `key` of `obj` when it is a JSON object; records a problem when it is required and missing, or
    present and not an object."""
    if obj.get(key) is None:
        if required:
            c.fail(f"{path}.{key}", "is required")
        return None
    if not isinstance(obj[key], dict):
        c.fail(f"{path}.{key}", "must be an object")
        return None
    return obj[key]


def _currency(c, obj, path):
    if c.required(obj, "currency", path) and not re.match(r"^[A-Z]{3}$", str(obj["currency"])):
        c.fail(f"{path}.currency", "must be ISO 4217")


def _signed_price(c, obj, key, path, required, negative_allowed):
    """A Price: excl_vat required, incl_vat optional, non-negative unless this is a credit CDR."""
    p = _object(c, obj, key, path, required)
    if p is None:
        return
    for field, needed in (("excl_vat", True), ("incl_vat", False)):
        if not needed and p.get(field) is None:
            continue
        if not c.required(p, field, f"{path}.{key}"):
            continue
        v = p[field]
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            c.fail(f"{path}.{key}.{field}", "must be a number")
        elif v < 0 and not negative_allowed:
            c.fail(f"{path}.{key}.{field}", "must be a non-negative number")
        else:
            _four_decimals(c, p, field, f"{path}.{key}")


def _cdr_token(c, obj, path):
    t = _object(c, obj, "cdr_token", path)
    if t is None:
        return
    p = f"{path}.cdr_token"
    c.cistring(t, "country_code", p, 2)
    c.cistring(t, "party_id", p, 3)
    c.cistring(t, "uid", p, 36)
    c.enum(t, "type", p, TOKEN_TYPES)
    c.cistring(t, "contract_id", p, 36)


def _charging_periods(c, obj, path, allowed, at_least_one):
    """ChargingPeriods: each with a start, one or more dimensions of the allowed types with a non-negative volume;
    in order, and within the object's start and end (a period ends where the next one starts)."""
    periods = obj.get("charging_periods")
    if periods is None:
        periods = []
    if not isinstance(periods, list):
        c.fail(f"{path}.charging_periods", "must be a list")
        return
    if at_least_one and not periods:
        c.fail(f"{path}.charging_periods", "must hold at least one period")
    start, end, previous = _stamp(obj, "start_date_time"), _stamp(obj, "end_date_time"), None
    for i, period in enumerate(periods):
        p = f"{path}.charging_periods[{i}]"
        if not isinstance(period, dict):
            c.fail(p, "must be an object")
            continue
        c.datetime(period, "start_date_time", p)
        c.cistring(period, "tariff_id", p, 36, required=False)
        dims = period.get("dimensions")
        if not isinstance(dims, list) or not dims:
            c.fail(f"{p}.dimensions", "must hold at least one dimension")
        for j, d in enumerate(dims or []):
            q = f"{p}.dimensions[{j}]"
            if not isinstance(d, dict):
                c.fail(q, "must be an object")
                continue
            if d.get("type") in SESSION_ONLY_DIMENSIONS and allowed is CDR_DIMENSIONS:
                c.fail(f"{q}.type", f"{d['type']} is a Session-only dimension, not allowed in a CDR")
            else:
                c.enum(d, "type", q, allowed)
            c.number(d, "volume", q)
            _four_decimals(c, d, "volume", q)
            if d.get("type") == "STATE_OF_CHARGE" and isinstance(d.get("volume"), (int, float)) and d["volume"] > 100:
                c.fail(f"{q}.volume", "a state of charge is 0 to 100 %")
        at = _stamp(period, "start_date_time")
        if at is None:
            continue
        if start is not None and at < start:
            c.fail(f"{p}.start_date_time", "is before the start_date_time")
        if end is not None and at > end:
            c.fail(f"{p}.start_date_time", "is after the end_date_time")
        if previous is not None and at < previous:
            c.fail(f"{p}.start_date_time", "is before the previous period's start")
        previous = at


def _ends_after_start(c, obj, path):
    start, end = _stamp(obj, "start_date_time"), _stamp(obj, "end_date_time")
    if start is not None and end is not None and end < start:
        c.fail(f"{path}.end_date_time", "is before the start_date_time")


def token(t, path="token"):
    """An OCPI 2.2.1 Token (mod_tokens)."""
    c = Checker()
    c.cistring(t, "country_code", path, 2)
    c.cistring(t, "party_id", path, 3)
    c.cistring(t, "uid", path, 36)
    c.enum(t, "type", path, TOKEN_TYPES)
    c.cistring(t, "contract_id", path, 36)
    c.string(t, "visual_number", path, 64, required=False)
    c.string(t, "issuer", path, 64)
    c.cistring(t, "group_id", path, 36, required=False)
    if not isinstance(t.get("valid"), bool):
        c.fail(f"{path}.valid", "is a required boolean")
    c.enum(t, "whitelist", path, WHITELIST_TYPES)
    c.string(t, "language", path, 2, required=False)
    c.enum(t, "default_profile_type", path, PROFILE_TYPES, required=False)
    contract = _object(c, t, "energy_contract", path, required=False)
    if contract is not None:
        c.string(contract, "supplier_name", f"{path}.energy_contract", 64)
        c.string(contract, "contract_id", f"{path}.energy_contract", 64, required=False)
    c.datetime(t, "last_updated", path)
    return c.problems


def session(s, path="session"):
    """An OCPI 2.2.1 Session (mod_sessions): the CPO's party, the token as a CdrToken, where, and what so far."""
    c = Checker()
    c.cistring(s, "country_code", path, 2)
    c.cistring(s, "party_id", path, 3)
    c.cistring(s, "id", path, 36)
    c.datetime(s, "start_date_time", path)
    c.datetime(s, "end_date_time", path, required=False)
    _ends_after_start(c, s, path)
    c.number(s, "kwh", path)
    _four_decimals(c, s, "kwh", path)
    _cdr_token(c, s, path)
    c.enum(s, "auth_method", path, AUTH_METHODS)
    c.cistring(s, "authorization_reference", path, 36, required=False)
    c.cistring(s, "location_id", path, 36)
    c.cistring(s, "evse_uid", path, 36)
    c.cistring(s, "connector_id", path, 36)
    c.string(s, "meter_id", path, 255, required=False)
    _currency(c, s, path)
    _charging_periods(c, s, path, SESSION_DIMENSIONS, at_least_one=False)
    _signed_price(c, s, "total_cost", path, required=False, negative_allowed=False)
    c.enum(s, "status", path, SESSION_STATUS)
    c.datetime(s, "last_updated", path)
    return c.problems


def cdr_location(loc, path="cdr.cdr_location"):
    c = Checker()
    c.cistring(loc, "id", path, 36)
    c.string(loc, "name", path, 255, required=False)
    # string(45) in the table, widened to 255 by the errata (as Location.address is).
    c.string(loc, "address", path, 255)
    c.string(loc, "city", path, 45)
    c.string(loc, "postal_code", path, 10, required=False)
    c.string(loc, "state", path, 45, required=False)
    if c.required(loc, "country", path) and not re.match(r"^[A-Z]{3}$", str(loc["country"])):
        c.fail(f"{path}.country", "must be ISO 3166-1 alpha-3")
    co = _object(c, loc, "coordinates", path)
    if co is not None:
        if not LATITUDE.match(str(co.get("latitude"))):
            c.fail(f"{path}.coordinates.latitude", "must match -?[0-9]{1,2}\\.[0-9]{5,7}")
        if not LONGITUDE.match(str(co.get("longitude"))):
            c.fail(f"{path}.coordinates.longitude", "must match -?[0-9]{1,3}\\.[0-9]{5,7}")
    c.cistring(loc, "evse_uid", path, 36)
    c.cistring(loc, "evse_id", path, 48)
    c.cistring(loc, "connector_id", path, 36)
    c.enum(loc, "connector_standard", path, CONNECTOR_TYPES)
    c.enum(loc, "connector_format", path, FORMATS)
    c.enum(loc, "connector_power_type", path, POWER_TYPES)
    return c.problems


def cdr(r, path="cdr"):
    """An OCPI 2.2.1 CDR (mod_cdrs): immutable, complete, with the tariffs as they were and its totals."""
    c = Checker()
    credit = r.get("credit")
    if credit is not None and not isinstance(credit, bool):
        c.fail(f"{path}.credit", "must be a boolean")
    credit = credit is True
    c.cistring(r, "country_code", path, 2)
    c.cistring(r, "party_id", path, 3)
    c.cistring(r, "id", path, 39)
    if not credit and isinstance(r.get("id"), str) and len(r["id"]) > 36:
        c.fail(f"{path}.id", "is at most 36 characters unless the CDR is a credit CDR")
    c.datetime(r, "start_date_time", path)
    c.datetime(r, "end_date_time", path)
    _ends_after_start(c, r, path)
    c.cistring(r, "session_id", path, 36, required=False)
    _cdr_token(c, r, path)
    c.enum(r, "auth_method", path, AUTH_METHODS)
    c.cistring(r, "authorization_reference", path, 36, required=False)
    loc = _object(c, r, "cdr_location", path)
    if loc is not None:
        c.problems += cdr_location(loc, f"{path}.cdr_location")
    c.string(r, "meter_id", path, 255, required=False)
    _currency(c, r, path)
    tariffs = r.get("tariffs")
    if tariffs is not None and not isinstance(tariffs, list):
        c.fail(f"{path}.tariffs", "must be a list")
    for i, t in enumerate(tariffs or []):
        c.problems += tariff(t, f"{path}.tariffs[{i}]") if isinstance(t, dict) else [f"{path}.tariffs[{i}]: must be an object"]
    _charging_periods(c, r, path, CDR_DIMENSIONS, at_least_one=True)
    signed = _object(c, r, "signed_data", path, required=False)
    if signed is not None:
        p = f"{path}.signed_data"
        c.cistring(signed, "encoding_method", p, 36)
        c.integer(signed, "encoding_method_version", p, required=False)
        c.string(signed, "public_key", p, 512, required=False)
        c.string(signed, "url", p, 512, required=False)
        values = signed.get("signed_values")
        if not isinstance(values, list) or not values:
            c.fail(f"{p}.signed_values", "must hold at least one value")
        for i, v in enumerate(values or []):
            c.cistring(v, "nature", f"{p}.signed_values[{i}]", 32)
            c.string(v, "plain_data", f"{p}.signed_values[{i}]", 5000)
            c.string(v, "signed_data", f"{p}.signed_values[{i}]", 5000)
    _signed_price(c, r, "total_cost", path, required=True, negative_allowed=credit)
    for key in ("total_fixed_cost", "total_energy_cost", "total_time_cost", "total_parking_cost", "total_reservation_cost"):
        _signed_price(c, r, key, path, required=False, negative_allowed=credit)
    c.number(r, "total_energy", path)
    c.number(r, "total_time", path)
    c.number(r, "total_parking_time", path, required=False)
    for key in ("total_energy", "total_time", "total_parking_time"):
        _four_decimals(c, r, key, path)
    total_time, parking = r.get("total_time"), r.get("total_parking_time")
    if isinstance(total_time, (int, float)) and isinstance(parking, (int, float)) and parking > total_time:
        c.fail(f"{path}.total_parking_time", "is more than the total_time")
    c.string(r, "remark", path, 255, required=False)
    c.cistring(r, "invoice_reference_id", path, 39, required=False)
    if credit:
        c.cistring(r, "credit_reference_id", path, 39)
    else:
        c.cistring(r, "credit_reference_id", path, 39, required=False)
    if r.get("home_charging_compensation") is not None and not isinstance(r["home_charging_compensation"], bool):
        c.fail(f"{path}.home_charging_compensation", "must be a boolean")
    c.datetime(r, "last_updated", path)
    return c.problems


# OCPI 2.1.1 ----------------------------------------------------------------------------------------------------
# From the 2.1.1 tables (mod_locations, mod_tariffs, credentials, types): ids are strings (case-sensitive, printable
# ASCII), no country_code or party_id in the objects, and every field outside the 2.1.1 tables (above all the ones
# 2.2 added) is a problem, since a strict 2.1.1 parser may refuse it.

LATITUDE_211 = re.compile(r"^-?[0-9]{1,2}\.[0-9]{6}$")
LONGITUDE_211 = re.compile(r"^-?[0-9]{1,3}\.[0-9]{6}$")
HHMM_211 = re.compile(r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$")
DATE_211 = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LOCATION_TYPES_211 = {"ON_STREET", "PARKING_GARAGE", "UNDERGROUND_GARAGE", "PARKING_LOT", "OTHER", "UNKNOWN"}
CAPABILITIES_211 = {"CHARGING_PROFILE_CAPABLE", "CREDIT_CARD_PAYABLE", "REMOTE_START_STOP_CAPABLE", "RESERVABLE", "RFID_READER", "UNLOCK_CAPABLE"}
CONNECTOR_TYPES_211 = {
    "CHADEMO", *[f"DOMESTIC_{c}" for c in "ABCDEFGHIJKL"], "IEC_60309_2_single_16", "IEC_60309_2_three_16",
    "IEC_60309_2_three_32", "IEC_60309_2_three_64", "IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2",
    "IEC_62196_T2_COMBO", "IEC_62196_T3A", "IEC_62196_T3C", "TESLA_R", "TESLA_S",
}
POWER_TYPES_211 = {"AC_1_PHASE", "AC_3_PHASE", "DC"}
# 2.2 added BIKE_SHARING, PARKING_LOT, TRAM_STOP and METRO_STATION.
FACILITIES_211 = FACILITIES - {"BIKE_SHARING", "PARKING_LOT", "TRAM_STOP", "METRO_STATION"}
PARKING_RESTRICTIONS = {"EV_ONLY", "PLUGGED", "DISABLED", "CUSTOMERS", "MOTORCYCLES"}
IMAGE_CATEGORIES = {"CHARGER", "ENTRANCE", "LOCATION", "NETWORK", "OPERATOR", "OTHER", "OWNER"}
ENERGY_SOURCES = {"NUCLEAR", "GENERAL_FOSSIL", "COAL", "GAS", "GENERAL_GREEN", "SOLAR", "WIND", "WATER"}
ENVIRONMENTAL_IMPACTS = {"NUCLEAR_WASTE", "CARBON_DIOXIDE"}
VERSIONS_211 = {"2.0", "2.1", "2.1.1", "2.2", "2.2.1"}
MODULES_211 = {"cdrs", "commands", "credentials", "locations", "sessions", "tariffs", "tokens"}

FIELDS_211 = {
    "location": {
        "id", "type", "name", "address", "city", "postal_code", "country", "coordinates", "related_locations", "evses",
        "directions", "operator", "suboperator", "owner", "facilities", "time_zone", "opening_times",
        "charging_when_closed", "images", "energy_mix", "last_updated",
    },
    "evse": {
        "uid", "evse_id", "status", "status_schedule", "capabilities", "connectors", "floor_level", "coordinates",
        "physical_reference", "directions", "parking_restrictions", "images", "last_updated",
    },
    "connector": {"id", "standard", "format", "power_type", "voltage", "amperage", "tariff_id", "terms_and_conditions", "last_updated"},
    "tariff": {"id", "currency", "tariff_alt_text", "tariff_alt_url", "elements", "energy_mix", "start_datetime", "end_datetime", "last_updated"},
    "element": {"price_components", "restrictions"},
    "price_component": {"type", "price", "step_size"},
    "restrictions": {
        "start_time", "end_time", "start_date", "end_date", "min_kwh", "max_kwh", "min_power", "max_power",
        "min_duration", "max_duration", "day_of_week",
    },
    "credentials": {"token", "url", "business_details", "party_id", "country_code"},
    "business_details": {"name", "website", "logo"},
    "geo": {"latitude", "longitude"},
    "additional_geo": {"latitude", "longitude", "name"},
    "hours": {"regular_hours", "twentyfourseven", "exceptional_openings", "exceptional_closings"},
    "image": {"url", "thumbnail", "category", "type", "width", "height"},
    "energy_mix": {"is_green_energy", "energy_sources", "environ_impact", "supplier_name", "energy_product_name"},
    "endpoint": {"identifier", "url"},
    "token": {"uid", "type", "auth_id", "visual_number", "issuer", "valid", "whitelist", "language", "last_updated"},
    "session": {
        "id", "start_datetime", "end_datetime", "kwh", "auth_id", "auth_method", "location", "meter_id", "currency",
        "charging_periods", "total_cost", "status", "last_updated",
    },
    "cdr": {
        "id", "start_date_time", "stop_date_time", "auth_id", "auth_method", "location", "meter_id", "currency", "tariffs",
        "charging_periods", "total_cost", "total_energy", "total_time", "total_parking_time", "remark", "last_updated",
    },
    "charging_period": {"start_date_time", "dimensions"},
    "dimension": {"type", "volume"},
}
# The 2.2/2.2.1 names of what 2.1.1 has under another name or not at all, for a clearer message.
ONLY_221 = {
    "location": {"country_code", "party_id", "publish", "publish_allowed_to", "parking_type", "state"},
    "connector": {"max_voltage", "max_amperage", "max_electric_power", "tariff_ids"},
    "tariff": {"country_code", "party_id", "type", "min_price", "max_price", "start_date_time", "end_date_time"},
    "price_component": {"vat"},
    "restrictions": {"reservation", "min_current", "max_current"},
    "credentials": {"roles"},
    "endpoint": {"role"},
    "token": {"country_code", "party_id", "contract_id", "group_id", "default_profile_type", "energy_contract"},
    "session": {
        "country_code", "party_id", "start_date_time", "end_date_time", "cdr_token", "authorization_reference", "location_id",
        "evse_uid", "connector_id",
    },
    "cdr": {
        "country_code", "party_id", "session_id", "end_date_time", "cdr_token", "authorization_reference", "cdr_location",
        "signed_data", "total_fixed_cost", "total_energy_cost", "total_time_cost", "total_parking_cost",
        "total_reservation_cost", "invoice_reference_id", "credit", "credit_reference_id",
    },
    "charging_period": {"tariff_id"},
}
TOKEN_TYPES_211 = {"OTHER", "RFID"}  # AD_HOC_USER and APP_USER came with 2.2
WHITELIST_211 = {"ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"}
AUTH_METHODS_211 = {"AUTH_REQUEST", "WHITELIST"}
SESSION_STATUS_211 = {"ACTIVE", "COMPLETED", "INVALID", "PENDING"}
DIMENSIONS_211 = {"ENERGY", "FLAT", "MAX_CURRENT", "MIN_CURRENT", "PARKING_TIME", "TIME"}


class Checker211(Checker):
    """The 2.1.1 rules: `string` ids (printable ASCII, case-sensitive, not empty) and only the 2.1.1 fields."""

    def id(self, obj, key, path, n, required=True):
        if not required and obj.get(key) is None:
            return
        if not self.required(obj, key, path):
            return
        v = obj[key]
        if not isinstance(v, str) or not (1 <= len(v) <= n) or any(not (0x20 <= ord(ch) <= 0x7E) for ch in v):
            self.fail(f"{path}.{key}", f"must be a string({n}) of printable ASCII")

    def only(self, obj, kind, path):
        """Every member of `obj` is a field of the 2.1.1 `kind`."""
        if not isinstance(obj, dict):
            self.fail(path, "must be an object")
            return False
        for key in obj:
            if key in ONLY_221.get(kind, ()):
                self.fail(f"{path}.{key}", "is not a 2.1.1 field (2.2 added or renamed it)")
            elif key not in FIELDS_211[kind]:
                self.fail(f"{path}.{key}", "is not a 2.1.1 field")
        return True

    def datetime(self, obj, key, path, required=True):
        super().datetime(obj, key, path, required)
        v = obj.get(key)
        if isinstance(v, str) and len(v) > 25:
            self.fail(f"{path}.{key}", "a 2.1.1 DateTime is a string(25)")

    def url(self, obj, key, path, required=True):
        if not required and obj.get(key) is None:
            return
        if not self.required(obj, key, path):
            return
        v = obj[key]
        if not isinstance(v, str) or len(v) > 255 or not re.match(r"^https?://[^/\s]", v):
            self.fail(f"{path}.{key}", "must be a URL (string(255))")

    def boolean(self, obj, key, path, required=True):
        if not required and obj.get(key) is None:
            return
        if not self.required(obj, key, path):
            return
        if not isinstance(obj[key], bool):
            self.fail(f"{path}.{key}", "must be a boolean")

    def listed(self, obj, key, path):
        """The list at `key` (absent or null: empty); a problem when it is something else."""
        v = obj.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            self.fail(f"{path}.{key}", "must be a list")
            return []
        return v

    def geo(self, obj, path, kind="geo"):
        if not self.only(obj, kind, path):
            return
        if not LATITUDE_211.match(str(obj.get("latitude"))):
            self.fail(f"{path}.latitude", f"must match -?[0-9]{{1,2}}\\.[0-9]{{6}} in 2.1.1 ({obj.get('latitude')!r})")
        if not LONGITUDE_211.match(str(obj.get("longitude"))):
            self.fail(f"{path}.longitude", f"must match -?[0-9]{{1,3}}\\.[0-9]{{6}} in 2.1.1 ({obj.get('longitude')!r})")

    def business(self, obj, path):
        if not self.only(obj, "business_details", path):
            return
        self.string(obj, "name", path, 100)
        self.url(obj, "website", path, required=False)
        if obj.get("logo") is not None:
            self.image(obj["logo"], f"{path}.logo")

    def image(self, obj, path):
        if not self.only(obj, "image", path):
            return
        self.url(obj, "url", path)
        self.url(obj, "thumbnail", path, required=False)
        self.enum(obj, "category", path, IMAGE_CATEGORIES)
        self.string(obj, "type", path, 4)
        for k in ("width", "height"):
            self.integer(obj, k, path, required=False)
            if isinstance(obj.get(k), int) and not 0 <= obj[k] <= 99999:
                self.fail(f"{path}.{k}", "is an int(5)")

    def images(self, obj, path):
        for i, img in enumerate(self.listed(obj, "images", path)):
            self.image(img, f"{path}.images[{i}]")

    def display_texts(self, obj, key, path):
        for i, t in enumerate(self.listed(obj, key, path)):
            p = f"{path}.{key}[{i}]"
            if isinstance(t, dict):
                self.string(t, "language", p, 2)
                self.string(t, "text", p, 512)
            else:
                self.fail(p, "must be a DisplayText")

    def energy_mix(self, obj, path):
        if not self.only(obj, "energy_mix", path):
            return
        self.boolean(obj, "is_green_energy", path)
        for i, src in enumerate(self.listed(obj, "energy_sources", path)):
            p = f"{path}.energy_sources[{i}]"
            self.enum(src, "source", p, ENERGY_SOURCES)
            self.number(src, "percentage", p)
        # 2.1.1 names the category of an EnvironmentalImpact `source` (2.2 renamed it `category`).
        for i, imp in enumerate(self.listed(obj, "environ_impact", path)):
            p = f"{path}.environ_impact[{i}]"
            if "category" in imp:
                self.fail(f"{p}.category", "is 2.2's name; 2.1.1 calls it source")
            self.enum(imp, "source", p, ENVIRONMENTAL_IMPACTS)
            self.number(imp, "amount", p)
        self.string(obj, "supplier_name", path, 64, required=False)
        self.string(obj, "energy_product_name", path, 64, required=False)

    def hours(self, obj, path):
        """2.1.1 Hours: a choice of regular_hours or twentyfourseven (one of them is required; 24/7 with regular
        hours contradicts itself). The spec's own example sends twentyfourseven false beside regular_hours."""
        if not self.only(obj, "hours", path):
            return
        regular = self.listed(obj, "regular_hours", path)
        always = obj.get("twentyfourseven")
        if always is not None and not isinstance(always, bool):
            self.fail(f"{path}.twentyfourseven", "must be a boolean")
        if not regular and always is not True:
            self.fail(path, "needs regular_hours or twentyfourseven: true")
        if regular and always is True:
            self.fail(path, "twentyfourseven: true and regular_hours are a choice of one")
        for i, rh in enumerate(regular):
            p = f"{path}.regular_hours[{i}]"
            if not isinstance(rh, dict):
                self.fail(p, "must be a RegularHours object")
                continue
            if rh.get("weekday") not in range(1, 8) or isinstance(rh.get("weekday"), bool):
                self.fail(f"{p}.weekday", "must be 1..7")
            for k in ("period_begin", "period_end"):
                if not HHMM_211.match(str(rh.get(k))):
                    self.fail(f"{p}.{k}", "must be HH:MM")
        for key in ("exceptional_openings", "exceptional_closings"):
            for i, period in enumerate(self.listed(obj, key, path)):
                self.datetime(period, "period_begin", f"{path}.{key}[{i}]")
                self.datetime(period, "period_end", f"{path}.{key}[{i}]")


def location_211(loc, path="location"):
    """An OCPI 2.1.1 Location (mod_locations 3.1), with its EVSEs and connectors."""
    c = Checker211()
    if not c.only(loc, "location", path):
        return c.problems
    c.id(loc, "id", path, 39)
    c.enum(loc, "type", path, LOCATION_TYPES_211)
    c.string(loc, "name", path, 255, required=False)
    c.string(loc, "address", path, 45)
    c.string(loc, "city", path, 45)
    # Required in 2.1.1 (2.2 made it optional).
    c.string(loc, "postal_code", path, 10)
    if c.required(loc, "country", path) and not re.match(r"^[A-Z]{3}$", str(loc["country"])):
        c.fail(f"{path}.country", "must be ISO 3166-1 alpha-3")
    if c.required(loc, "coordinates", path):
        c.geo(loc["coordinates"], f"{path}.coordinates")
    for i, rel in enumerate(c.listed(loc, "related_locations", path)):
        p = f"{path}.related_locations[{i}]"
        c.geo(rel, p, kind="additional_geo")
        if isinstance(rel, dict) and rel.get("name") is not None:
            c.display_texts({"name": [rel["name"]]}, "name", p)
    c.display_texts(loc, "directions", path)
    for role in ("operator", "suboperator", "owner"):
        if loc.get(role) is not None:
            c.business(loc[role], f"{path}.{role}")
    c.enum_list(loc, "facilities", path, FACILITIES_211)
    c.string(loc, "time_zone", path, 255, required=False)
    if loc.get("opening_times") is not None:
        c.hours(loc["opening_times"], f"{path}.opening_times")
    c.boolean(loc, "charging_when_closed", path, required=False)
    c.images(loc, path)
    if loc.get("energy_mix") is not None:
        c.energy_mix(loc["energy_mix"], f"{path}.energy_mix")
    c.datetime(loc, "last_updated", path)
    latest = loc.get("last_updated")
    for i, e in enumerate(c.listed(loc, "evses", path)):
        c.problems += evse_211(e, f"{path}.evses[{i}]")
        if isinstance(e, dict) and isinstance(latest, str) and isinstance(e.get("last_updated"), str):
            try:
                if _instant(e["last_updated"]) > _instant(latest):
                    c.fail(f"{path}.evses[{i}].last_updated", "is later than its location's")
            except ValueError:
                pass
    return c.problems


def evse_211(e, path="evse"):
    """An OCPI 2.1.1 EVSE (mod_locations 3.2)."""
    c = Checker211()
    if not c.only(e, "evse", path):
        return c.problems
    c.id(e, "uid", path, 39)
    c.string(e, "evse_id", path, 48, required=False)
    c.enum(e, "status", path, EVSE_STATUS)
    for i, s in enumerate(c.listed(e, "status_schedule", path)):
        p = f"{path}.status_schedule[{i}]"
        c.datetime(s, "period_begin", p)
        c.datetime(s, "period_end", p, required=False)
        c.enum(s, "status", p, EVSE_STATUS)
    c.enum_list(e, "capabilities", path, CAPABILITIES_211)
    c.string(e, "floor_level", path, 4, required=False)
    if e.get("coordinates") is not None:
        c.geo(e["coordinates"], f"{path}.coordinates")
    c.string(e, "physical_reference", path, 16, required=False)
    c.display_texts(e, "directions", path)
    c.enum_list(e, "parking_restrictions", path, PARKING_RESTRICTIONS)
    c.images(e, path)
    c.datetime(e, "last_updated", path)
    connectors = e.get("connectors")
    if not isinstance(connectors, list) or not connectors:
        c.fail(f"{path}.connectors", "must hold at least one connector")
    latest = e.get("last_updated")
    for i, k in enumerate(connectors if isinstance(connectors, list) else []):
        c.problems += connector_211(k, f"{path}.connectors[{i}]")
        if isinstance(k, dict) and isinstance(latest, str) and isinstance(k.get("last_updated"), str):
            try:
                if _instant(k["last_updated"]) > _instant(latest):
                    c.fail(f"{path}.connectors[{i}].last_updated", "is later than its EVSE's")
            except ValueError:
                pass
    return c.problems


def connector_211(k, path="connector"):
    """An OCPI 2.1.1 Connector (mod_locations 3.3): voltage, amperage and one tariff_id."""
    c = Checker211()
    if not c.only(k, "connector", path):
        return c.problems
    c.id(k, "id", path, 36)
    c.enum(k, "standard", path, CONNECTOR_TYPES_211)
    c.enum(k, "format", path, FORMATS)
    c.enum(k, "power_type", path, POWER_TYPES_211)
    c.integer(k, "voltage", path)
    c.integer(k, "amperage", path)
    for key in ("voltage", "amperage"):
        if isinstance(k.get(key), int) and not isinstance(k[key], bool) and k[key] <= 0:
            c.fail(f"{path}.{key}", "must be positive")
    c.id(k, "tariff_id", path, 36, required=False)
    c.url(k, "terms_and_conditions", path, required=False)
    c.datetime(k, "last_updated", path)
    return c.problems


def tariff_211(t, path="tariff"):
    """An OCPI 2.1.1 Tariff (mod_tariffs 3.1). Its validity period, when sent, is start_datetime/end_datetime (the
    names 2.2 changed to start_date_time/end_date_time)."""
    c = Checker211()
    if not c.only(t, "tariff", path):
        return c.problems
    c.id(t, "id", path, 36)
    if c.required(t, "currency", path) and not re.match(r"^[A-Z]{3}$", str(t["currency"])):
        c.fail(f"{path}.currency", "must be ISO 4217")
    c.display_texts(t, "tariff_alt_text", path)
    c.url(t, "tariff_alt_url", path, required=False)
    elements = t.get("elements")
    if not isinstance(elements, list) or not elements:
        c.fail(f"{path}.elements", "must hold at least one element")
    for i, el in enumerate(elements if isinstance(elements, list) else []):
        p = f"{path}.elements[{i}]"
        if not c.only(el, "element", p):
            continue
        comps = el.get("price_components")
        if not isinstance(comps, list) or not comps:
            c.fail(f"{p}.price_components", "must hold at least one component")
        for j, pc in enumerate(comps if isinstance(comps, list) else []):
            q = f"{p}.price_components[{j}]"
            if not c.only(pc, "price_component", q):
                continue
            c.enum(pc, "type", q, DIMENSIONS)
            c.number(pc, "price", q)
            c.integer(pc, "step_size", q)
            if isinstance(pc.get("step_size"), int) and pc["step_size"] < 0:
                c.fail(f"{q}.step_size", "must not be negative")
        r = el.get("restrictions")
        if r is not None and c.only(r, "restrictions", f"{p}.restrictions"):
            q = f"{p}.restrictions"
            for k in ("start_time", "end_time"):
                if r.get(k) is not None and not HHMM_211.match(str(r[k])):
                    c.fail(f"{q}.{k}", "must be HH:MM")
            for k in ("start_date", "end_date"):
                if r.get(k) is not None and not DATE_211.match(str(r[k])):
                    c.fail(f"{q}.{k}", "must be YYYY-MM-DD")
            for k in ("min_kwh", "max_kwh", "min_power", "max_power"):
                c.number(r, k, q, required=False)
            for k in ("min_duration", "max_duration"):
                c.integer(r, k, q, required=False)
            c.enum_list(r, "day_of_week", q, DAYS)
    if t.get("energy_mix") is not None:
        c.energy_mix(t["energy_mix"], f"{path}.energy_mix")
    c.datetime(t, "start_datetime", path, required=False)
    c.datetime(t, "end_datetime", path, required=False)
    c.datetime(t, "last_updated", path)
    return c.problems


def credentials_211(cred, path="credentials"):
    """An OCPI 2.1.1 Credentials object: one party, flat (no roles)."""
    c = Checker211()
    if not c.only(cred, "credentials", path):
        return c.problems
    token = cred.get("token")
    if not isinstance(token, str) or not 1 <= len(token) <= 64 or not all(0x21 <= ord(ch) <= 0x7E for ch in token):
        c.fail(f"{path}.token", "must be 1 to 64 printable ASCII characters without spaces")
    c.url(cred, "url", path)
    if c.required(cred, "business_details", path):
        c.business(cred["business_details"], f"{path}.business_details")
    c.id(cred, "party_id", path, 3)
    c.id(cred, "country_code", path, 2)
    if isinstance(cred.get("party_id"), str) and not re.fullmatch(r"[A-Za-z0-9]{3}", cred["party_id"]):
        c.fail(f"{path}.party_id", "must be three letters or digits")
    if isinstance(cred.get("country_code"), str) and not re.fullmatch(r"[A-Za-z]{2}", cred["country_code"]):
        c.fail(f"{path}.country_code", "must be an ISO 3166-1 alpha-2 code")
    return c.problems


def versions_211(data, path="versions"):
    """The data of a 2.1.1 versions endpoint: a list of {version, url}."""
    c = Checker211()
    if not isinstance(data, list) or not data:
        c.fail(path, "must be a non-empty list")
        return c.problems
    for i, v in enumerate(data):
        p = f"{path}[{i}]"
        if not isinstance(v, dict) or set(v) != {"version", "url"}:
            c.fail(p, "must be exactly {version, url}")
            continue
        c.enum(v, "version", p, VERSIONS_211)
        c.url(v, "url", p)
    return c.problems


def version_details_211(data, path="details"):
    """The data of a 2.1.1 version details endpoint: version 2.1.1 and its endpoints {identifier, url}, no role,
    each module once."""
    c = Checker211()
    if not isinstance(data, dict) or set(data) != {"version", "endpoints"}:
        c.fail(path, "must be exactly {version, endpoints}")
        return c.problems
    if data["version"] != "2.1.1":
        c.fail(f"{path}.version", f"must be 2.1.1 ({data['version']!r})")
    endpoints = data["endpoints"]
    if not isinstance(endpoints, list) or not endpoints:
        c.fail(f"{path}.endpoints", "must be a non-empty list")
        return c.problems
    seen = set()
    for i, e in enumerate(endpoints):
        p = f"{path}.endpoints[{i}]"
        if not c.only(e, "endpoint", p):
            continue
        c.enum(e, "identifier", p, MODULES_211)
        c.url(e, "url", p)
        if e.get("identifier") in seen:
            c.fail(f"{p}.identifier", f"{e.get('identifier')!r} is listed twice")
        seen.add(e.get("identifier"))
    return c.problems


def token_211(t, path="token"):
    """An OCPI 2.1.1 Token (mod_tokens 3.1)."""
    c = Checker211()
    if not c.only(t, "token", path):
        return c.problems
    c.id(t, "uid", path, 36)
    c.enum(t, "type", path, TOKEN_TYPES_211)
    c.id(t, "auth_id", path, 36)
    c.string(t, "visual_number", path, 64, required=False)
    c.string(t, "issuer", path, 64)
    c.boolean(t, "valid", path)
    c.enum(t, "whitelist", path, WHITELIST_211)
    c.string(t, "language", path, 2, required=False)
    c.datetime(t, "last_updated", path)
    return c.problems


def _charging_periods_211(c, obj, path, at_least_one):
    periods = c.listed(obj, "charging_periods", path)
    if at_least_one and not periods:
        c.fail(f"{path}.charging_periods", "needs at least one period")
    for i, period in enumerate(periods):
        p = f"{path}.charging_periods[{i}]"
        if not c.only(period, "charging_period", p):
            continue
        c.datetime(period, "start_date_time", p)
        dimensions = c.listed(period, "dimensions", p)
        if not dimensions:
            c.fail(f"{p}.dimensions", "needs at least one dimension")
        for j, d in enumerate(dimensions):
            q = f"{p}.dimensions[{j}]"
            if c.only(d, "dimension", q):
                c.enum(d, "type", q, DIMENSIONS_211)
                c.number(d, "volume", q)


def _site_211(c, obj, path):
    """The embedded Location of a 2.1.1 Session or CDR: a valid Location with only the EVSE and connector used."""
    if not c.required(obj, "location", path):
        return
    loc = obj["location"]
    c.problems += location_211(loc, f"{path}.location")
    evses = loc.get("evses") if isinstance(loc, dict) else None
    if not isinstance(evses, list) or len(evses) != 1:
        c.fail(f"{path}.location.evses", "must hold exactly the EVSE used")
    elif not isinstance(evses[0], dict) or len(evses[0].get("connectors") or []) != 1:
        c.fail(f"{path}.location.evses[0].connectors", "must hold exactly the connector used")


def _session_or_cdr_211(c, obj, path):
    """What a 2.1.1 Session and CDR have alike: id, the token's auth_id and method, the site, the meter, the currency."""
    c.id(obj, "id", path, 36)
    c.id(obj, "auth_id", path, 36)
    c.enum(obj, "auth_method", path, AUTH_METHODS_211)
    _site_211(c, obj, path)
    c.string(obj, "meter_id", path, 255, required=False)
    _currency(c, obj, path)


def session_211(s, path="session"):
    """An OCPI 2.1.1 Session (mod_sessions 4.1)."""
    c = Checker211()
    if not c.only(s, "session", path):
        return c.problems
    c.datetime(s, "start_datetime", path)
    c.datetime(s, "end_datetime", path, required=False)
    c.number(s, "kwh", path)
    _session_or_cdr_211(c, s, path)
    _charging_periods_211(c, s, path, at_least_one=False)
    c.number(s, "total_cost", path, required=False)
    c.enum(s, "status", path, SESSION_STATUS_211)
    c.datetime(s, "last_updated", path)
    return c.problems


def cdr_211(r, path="cdr"):
    """An OCPI 2.1.1 CDR (mod_cdrs 3.1)."""
    c = Checker211()
    if not c.only(r, "cdr", path):
        return c.problems
    c.datetime(r, "start_date_time", path)
    c.datetime(r, "stop_date_time", path)
    _session_or_cdr_211(c, r, path)
    for i, t in enumerate(c.listed(r, "tariffs", path)):
        c.problems += tariff_211(t, f"{path}.tariffs[{i}]")
    _charging_periods_211(c, r, path, at_least_one=True)
    c.number(r, "total_cost", path)
    c.number(r, "total_energy", path)
    c.number(r, "total_time", path)
    c.number(r, "total_parking_time", path, required=False)
    c.string(r, "remark", path, 255, required=False)
    c.datetime(r, "last_updated", path)
    return c.problems
