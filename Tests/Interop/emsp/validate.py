"""Field checks of OCPI 2.2.1 objects, from the specification's tables (mod_locations, mod_tariffs, types).
Each check returns a list of problems, as "path: reason"; an empty list means the object is valid."""
import re

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
