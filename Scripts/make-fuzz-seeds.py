#!/usr/bin/env python3
"""Write the fuzzer's seed corpus and dictionary from the OCPP JSON schemas.

The schemas come from the `ocpp` package pinned in Tests/Interop/requirements.txt, as for
Scripts/generate-ocpp.py. For every station-to-CSMS action of OCPP 1.6 (with the Security Whitepaper
messages) and 2.0.1 this writes two seeds: a minimal CALL (required properties only) and a maximal one
(every property, strings at their maxLength, two array items), each checked against its schema. A few
multi-frame seeds follow a transaction from start to stop, so that the fuzzer reaches the energy rules.

Output (committed; rerun after changing this script or the pinned `ocpp` version):
  Tests/Fuzz/seeds/<16|201>-<Action>-<min|max>.ocpp   one script each (see InboundScript)
  Tests/Fuzz/seeds/<16|201>-scenario-<name>.ocpp
  Tests/Fuzz/ocpp.dict                                 libFuzzer dictionary

Usage: .venv/bin/python Scripts/make-fuzz-seeds.py
"""
import json
import os

import jsonschema
import ocpp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "Tests", "Fuzz", "seeds")
DICT = os.path.join(ROOT, "Tests", "Fuzz", "ocpp.dict")
PKG = os.path.dirname(ocpp.__file__)

# Sources/OCPP/Versions.swift: stationInitiated.
STATION_16 = [
    "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat",
    "MeterValues", "StartTransaction", "StatusNotification", "StopTransaction", "SecurityEventNotification", "SignCertificate",
    "SignedFirmwareStatusNotification", "LogStatusNotification",
]
STATION_201 = [
    "Authorize", "BootNotification", "ClearedChargingLimit", "DataTransfer", "FirmwareStatusNotification", "Get15118EVCertificate",
    "GetCertificateStatus", "Heartbeat", "LogStatusNotification", "MeterValues", "NotifyChargingLimit", "NotifyCustomerInformation",
    "NotifyDisplayMessages", "NotifyEVChargingNeeds", "NotifyEVChargingSchedule", "NotifyEvent", "NotifyMonitoringReport", "NotifyReport",
    "PublishFirmwareStatusNotification", "ReportChargingProfiles", "ReservationStatusUpdate", "SecurityEventNotification", "SignCertificate",
    "StatusNotification", "TransactionEvent",
]

START = "2026-01-01T11:00:00Z"
LATER = "2026-01-01T11:30:00.250Z"

# Values that mean something in the replay world (CSMSMemory/InboundReplay.swift), by property name.
NAMED = {
    "idTag": "TOKEN-OK", "parentIdTag": "FLEET", "idToken": "TOKEN-OK", "vendorId": "org.voltaic", "vendorName": "Voltaic",
    "chargePointVendor": "Voltaic", "chargePointModel": "VX-1", "model": "VX-1", "connectorId": 1, "evseId": 1, "reservationId": 1,
    "meterStart": 1000, "meterStop": 5000, "seqNo": 0, "multiplier": 0, "requestId": 1, "remoteStartId": 1,
}


def load(version_dir):
    d = os.path.join(PKG, version_dir, "schemas")
    return {f[:-5]: json.load(open(os.path.join(d, f))) for f in sorted(os.listdir(d)) if f.endswith(".json")}


class Instance:
    """Builds one instance of a schema: `full` False for required properties only, True for all of them."""

    def __init__(self, root, full, version):
        self.root = root
        self.defs = root.get("definitions", {})
        self.full = full
        self.version = version

    def resolve(self, node):
        while "$ref" in node:
            node = self.defs[node["$ref"].split("/")[-1]]
        return node

    def value(self, node, name):
        node = self.resolve(node)
        kind = node.get("type")
        if "enum" in node:
            values = node["enum"]
            return values[-1] if self.full else values[0]
        if kind == "object":
            out = {}
            props = node.get("properties", {})
            required = node.get("required", [])
            for key, sub in props.items():
                if key in required or self.full:
                    out[key] = self.value(sub, key)
            return out
        if kind == "array":
            lo = node.get("minItems", 1)
            hi = node.get("maxItems", 2)
            count = min(max(lo, 2 if self.full else 1), hi)
            return [self.value(node["items"], name) for _ in range(count)]
        if kind == "string":
            if node.get("format") == "date-time":
                return LATER if self.full else START
            if name == "transactionId":
                return "TX-1"
            if name == "value":
                return "1234.5"
            if name in NAMED and isinstance(NAMED[name], str) and not self.full:
                return NAMED[name]
            limit = node.get("maxLength", 64)
            if self.full:
                return "V" * min(limit, 1000)
            return NAMED.get(name, "x") if isinstance(NAMED.get(name), str) else "x"
        if kind == "integer":
            if name == "transactionId":
                return 1
            if name in NAMED and isinstance(NAMED[name], int):
                return NAMED[name]
            if self.full and "maximum" in node:
                return int(node["maximum"])
            return int(node.get("minimum", 1))
        if kind == "number":
            if name == "value":
                return 1234.5
            return float(node.get("minimum", 1.5)) if not self.full else float(node.get("maximum", 2.5))
        if kind == "boolean":
            return self.full
        return {}


def call(msg_id, action, payload):
    return json.dumps([2, msg_id, action, payload], separators=(",", ":"), sort_keys=True)


def validate(schema, payload, label):
    cls = jsonschema.validators.validator_for(schema)
    errors = sorted(cls(schema).iter_errors(payload), key=str)
    if errors:
        raise SystemExit(f"{label}: {errors[0].message}")


def write(name, header, frames):
    with open(os.path.join(SEEDS, name), "w") as f:
        f.write("\n".join([header] + frames) + "\n")


def main():
    os.makedirs(SEEDS, exist_ok=True)
    for f in os.listdir(SEEDS):
        if f.endswith(".ocpp"):
            os.remove(os.path.join(SEEDS, f))
    v16, v201 = load("v16"), load("v201")
    words = set()
    for version, header, schemas, actions, suffix in (("16", "1.6", v16, STATION_16, ""), ("201", "2.0.1", v201, STATION_201, "Request")):
        for action in actions:
            schema = schemas[action + suffix]
            words.add(action)
            for full in (False, True):
                payload = Instance(schema, full, version).value(schema, action)
                validate(schema, payload, f"{version} {action}")
                write(f"{version}-{action}-{'max' if full else 'min'}.ocpp", header, [call("1", action, payload)])
        for schema in schemas.values():
            collect(schema, words)

    # 1.6: a whole transaction, then the same stop again.
    meter = lambda wh, at: {"timestamp": at, "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}
    frames16 = [
        call("1", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": START}),
        call("2", "StartTransaction", {"connectorId": 1, "idTag": "TOKEN-OK", "meterStart": 1000, "timestamp": START, "reservationId": 1}),
        call("3", "MeterValues", {"connectorId": 1, "transactionId": 1, "meterValue": [meter(3000, "2026-01-01T11:15:00Z")]}),
        call("4", "StopTransaction", {"transactionId": 1, "idTag": "TOKEN-OK", "meterStop": 5000, "timestamp": LATER, "reason": "Local",
                                       "transactionData": [meter(5000, LATER)]}),
        call("5", "StopTransaction", {"transactionId": 1, "meterStop": 5000, "timestamp": LATER}),
    ]
    for frame in frames16:
        _, _, action, payload = json.loads(frame)
        validate(v16[action], payload, f"16 scenario {action}")
    write("16-scenario-transaction.ocpp", "1.6", frames16)

    # 2.0.1: Started, Updated, Ended with register readings in kWh and a multiplier, and a repeated seqNo.
    def event(seq, kind, trigger, at, kwh, extra=None):
        p = {"eventType": kind, "timestamp": at, "triggerReason": trigger, "seqNo": seq,
             "transactionInfo": {"transactionId": "TX-1", "chargingState": "Charging"}, "evse": {"id": 1, "connectorId": 1},
             "meterValue": [{"timestamp": at, "sampledValue": [{"value": kwh, "measurand": "Energy.Active.Import.Register",
                                                                 "unitOfMeasure": {"unit": "kWh", "multiplier": 0}}]}]}
        p.update(extra or {})
        return p
    frames201 = [
        call("1", "TransactionEvent", event(0, "Started", "Authorized", START, 1.0, {"idToken": {"idToken": "TOKEN-OK", "type": "ISO14443"}, "reservationId": 1})),
        call("2", "TransactionEvent", event(1, "Updated", "MeterValuePeriodic", "2026-01-01T11:15:00Z", 2.5)),
        call("3", "MeterValues", {"evseId": 1, "meterValue": [{"timestamp": "2026-01-01T11:16:00Z", "sampledValue": [
            {"value": 2.6, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh", "multiplier": 3}}]}]}),
        call("4", "TransactionEvent", event(2, "Ended", "EVDeparted", LATER, 4.0)),
        call("5", "TransactionEvent", event(2, "Ended", "EVDeparted", LATER, 4.0)),
    ]
    for frame in frames201:
        _, _, action, payload = json.loads(frame)
        validate(v201[action + "Request"], payload, f"201 scenario {action}")
    write("201-scenario-transaction.ocpp", "2.0.1", frames201)

    # Replays after a reconnect: the session's cache is gone, so only the database's replay guard answers the
    # same BootNotification and DataTransfer, within the window (#soon) and, past it (#later), applies them again.
    boot16 = call("1", "BootNotification", {"chargePointVendor": "Voltaic", "chargePointModel": "Fuzz"})
    data16 = call("2", "DataTransfer", {"vendorId": "org.voltaic", "messageId": "m", "data": "hello"})
    frames = [boot16, data16, "#reconnect", boot16, data16, "#soon", "#reconnect", boot16, data16, "#later", "#reconnect", boot16, data16,
              "#maintenance", data16]
    for frame in frames:
        if not frame.startswith("#"):
            _, _, action, payload = json.loads(frame)
            validate(v16[action], payload, f"16 replay scenario {action}")
    write("16-scenario-replay-after-reconnect.ocpp", "1.6", frames)

    # 1.6: a corrected reading (same sample, another value) inside a transaction, and one for no transaction.
    frames = [
        call("1", "StartTransaction", {"connectorId": 1, "idTag": "TOKEN-OK", "meterStart": 1000, "timestamp": START}),
        call("2", "MeterValues", {"connectorId": 1, "transactionId": 1, "meterValue": [meter(3000, "2026-01-01T11:15:00Z")]}),
        call("3", "MeterValues", {"connectorId": 1, "transactionId": 1, "meterValue": [meter(3100, "2026-01-01T11:15:00Z")]}),
        call("4", "MeterValues", {"connectorId": 2, "meterValue": [meter(10, "2026-01-01T11:15:00Z"), meter(11, "2026-01-01T11:15:00Z")]}),
        call("5", "MeterValues", {"connectorId": 2, "meterValue": [meter(12, "2026-01-01T11:15:00Z")]}),
        call("6", "StopTransaction", {"transactionId": 1, "meterStop": 5000, "timestamp": LATER, "transactionData": [meter(5000, LATER)]}),
    ]
    for frame in frames:
        _, _, action, payload = json.loads(frame)
        validate(v16[action], payload, f"16 correction scenario {action}")
    write("16-scenario-corrections.ocpp", "1.6", frames)

    # 2.0.1: a transaction that goes quiet is ended by the stale policy (#later, #maintenance); what comes after is flagged.
    frames = [
        call("1", "TransactionEvent", event(0, "Started", "Authorized", START, 1.0, {"idToken": {"idToken": "TOKEN-OK", "type": "ISO14443"}})),
        call("2", "TransactionEvent", event(1, "Updated", "MeterValuePeriodic", "2026-01-01T11:15:00Z", 2.5)),
        "#later", "#maintenance",
        call("3", "TransactionEvent", event(2, "Updated", "MeterValuePeriodic", "2026-01-01T11:20:00Z", 3.0)),
        call("4", "TransactionEvent", event(3, "Ended", "EVDeparted", LATER, 4.0)),
    ]
    for frame in frames:
        if not frame.startswith("#"):
            _, _, action, payload = json.loads(frame)
            validate(v201[action + "Request"], payload, f"201 stale scenario {action}")
    write("201-scenario-stale-transaction.ocpp", "2.0.1", frames)

    # 2.0.1: a Pending station may boot and send heartbeats, and stays Pending.
    frames = [call("1", "BootNotification", {"chargingStation": {"vendorName": "Voltaic", "model": "Fuzz"}, "reason": "PowerUp"}),
              call("2", "Heartbeat", {})]
    write("201-scenario-pending-station.ocpp", "2.0.1 pending", frames)

    write_dictionary(words)


def collect(node, words):
    if isinstance(node, dict):
        for key, sub in node.items():
            if key == "properties":
                words.update(sub.keys())
            if key == "enum":
                words.update(v for v in sub if isinstance(v, str))
            collect(sub, words)
    elif isinstance(node, list):
        for sub in node:
            collect(sub, words)


EXTREMES = [
    "-9223372036854775808", "9223372036854775807", "9223372036854775808", "-2147483648", "2147483647", "2147483648",
    "9007199254740992", "-9007199254740993", "1000000000", "-1", "0", "-0", "1e308", "1e999", "-1e-999", "1E+2", "0.1",
    "\"NaN\"", "\"Infinity\"", "\"-inf\"", "\"1e999\"", "\"0x10\"",
    "\"0000-01-01T00:00:00Z\"", "\"9999-12-31T23:59:59.999Z\"", "\"2024-02-30T00:00:00Z\"", "\"2026-01-01T23:59:60Z\"",
    "\"2026-01-01T00:00:00+23:59\"", "\"TOKEN-OK\"", "\"TOKEN-BLOCKED\"", "\"TOKEN-EXPIRED\"", "\"TOKEN-MEMBER\"", "\"FLEET\"", "\"TOKEN-LONGGROUP\"",
    "\n#reconnect\n", "\n#soon\n", "\n#later\n", "\n#maintenance\n", "2.0.1 pending\n", "1.6 rejected\n",
    "[2,", "[3,", "[4,", "\\u0000", "\\ud800", "{}", "[]", "null", "true",
]


def dict_entry(text):
    """A libFuzzer dictionary entry: printable ASCII as is, a backslash or quote escaped, any other byte as \\xNN."""
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        if c in '\\"':
            out.append("\\" + c)
        elif 0x20 <= b < 0x7F:
            out.append(c)
        else:
            out.append("\\x%02X" % b)
    return '"' + "".join(out) + '"'


def write_dictionary(words):
    lines = ["# libFuzzer dictionary for voltaic-fuzz, written by Scripts/make-fuzz-seeds.py: every property, enum value",
             "# and action name of the OCPP 1.6 and 2.0.1 schemas, and the values the mutator also inserts."]
    for w in sorted(words):
        lines.append(dict_entry(json.dumps(w)))
    for e in EXTREMES:
        lines.append(dict_entry(e))
    with open(DICT, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
