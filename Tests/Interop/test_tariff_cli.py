"""`voltaic tariff price`: an OCPI 2.2.1 Tariff and CDR in, the CDR's totals out; bad files exit 2 naming the field."""
import json
import subprocess

import pytest
from voltaic_server import BINARY

TARIFF = {
    "country_code": "NL", "party_id": "VLT", "id": "NIGHT", "currency": "EUR", "last_updated": "2026-11-01T00:00:00Z",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": 0.5, "vat": 21, "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": 0.19, "vat": 21, "step_size": 1}],
         "restrictions": {"start_time": "23:00", "end_time": "07:00"}},
        {"price_components": [{"type": "ENERGY", "price": 0.39, "vat": 21, "step_size": 1},
                              {"type": "PARKING_TIME", "price": 3.0, "vat": 21, "step_size": 900}]},
    ],
}

# 22:30–23:00 Amsterdam (21:30Z) at the day price, 23:00–23:45 at the night price, then 20 minutes parked.
CDR = {
    "country_code": "NL", "party_id": "VLT", "id": "CDR-1", "currency": "EUR",
    "start_date_time": "2026-11-30T21:30:00Z", "end_date_time": "2026-11-30T23:05:00Z",
    "cdr_token": {"country_code": "NL", "party_id": "EMS", "uid": "0102", "type": "RFID", "contract_id": "NL-EMS-C1"},
    "charging_periods": [
        {"start_date_time": "2026-11-30T21:30:00Z", "dimensions": [{"type": "ENERGY", "volume": 5.5}, {"type": "TIME", "volume": 0.5}]},
        {"start_date_time": "2026-11-30T22:00:00Z", "dimensions": [{"type": "ENERGY", "volume": 8.25}, {"type": "TIME", "volume": 0.75}]},
        {"start_date_time": "2026-11-30T22:45:00Z", "dimensions": [{"type": "PARKING_TIME", "volume": 0.3333}]},
    ],
    "total_cost": {"excl_vat": 999},
}


def price(tmp_path, tariff, cdr, *extra):
    t, c = tmp_path / "tariff.json", tmp_path / "cdr.json"
    t.write_text(tariff if isinstance(tariff, str) else json.dumps(tariff))
    c.write_text(cdr if isinstance(cdr, str) else json.dumps(cdr))
    return subprocess.run([BINARY, "tariff", "price", "--tariff", str(t), "--cdr", str(c), *extra],
                          capture_output=True, text=True, timeout=60)


def test_prices_by_the_locations_wall_clock(tmp_path):
    r = price(tmp_path, TARIFF, CDR, "--time-zone", "Europe/Amsterdam")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert list(out) == ["total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost", "total_parking_cost",
                         "total_reservation_cost", "total_energy", "total_time", "total_parking_time"]
    # Energy: 5.5 × 0.39 + 8.25 × 0.19 = 2.145 + 1.5675 = 3.7125; parking 20 min stepped to 30 at €3/h = 1.50.
    assert out["total_energy_cost"] == {"excl_vat": 3.71, "incl_vat": 4.49}
    assert out["total_parking_cost"] == {"excl_vat": 1.5, "incl_vat": 1.82}
    assert out["total_fixed_cost"] == {"excl_vat": 0.5, "incl_vat": 0.61}
    # 0.5 + 3.7125 + 1.5 = 5.7125; × 1.21 = 6.912125
    assert out["total_cost"] == {"excl_vat": 5.71, "incl_vat": 6.91}
    assert out["total_time_cost"] is None and out["total_reservation_cost"] is None
    assert out["total_energy"] == 13.75 and out["total_time"] == 1.5833 and out["total_parking_time"] == 0.3333


def test_the_same_cdr_in_utc_is_all_day_price(tmp_path):
    out = json.loads(price(tmp_path, TARIFF, CDR).stdout)
    # In UTC every period starts before 23:00: 13.75 kWh × 0.39 = 5.3625.
    assert out["total_energy_cost"]["excl_vat"] == 5.36


@pytest.mark.parametrize("tariff,cdr,message", [
    ("{", CDR, "tariff.json: is not valid JSON"),
    ({**TARIFF, "currency": "eur"}, CDR, "tariff.json: currency: must be an ISO 4217 code"),
    ({k: v for k, v in TARIFF.items() if k != "elements"}, CDR, "tariff.json: elements: is required"),
    ({**TARIFF, "elements": [{"price_components": [{"type": "ENERGY", "price": 0.19, "step_size": -9223372036854775808}]}]}, CDR,
     "tariff.json: elements[0].price_components[0].step_size: must be between 0 and 100000000"),
    (TARIFF, {**CDR, "end_date_time": "2026-11-30T21:00:00Z"}, "cdr.json: end_date_time: must not be before start_date_time"),
    (TARIFF, {**CDR, "charging_periods": [{"start_date_time": "2026-11-30T21:30:00Z", "dimensions": [{"type": "ENERGY", "volume": 1e30}]}]},
     "cdr.json: charging_periods[0].dimensions[0].volume: must be between 0 and 100000"),
    (TARIFF, {**CDR, "charging_periods": [{"start_date_time": "2026-11-30T21:30:00Z", "dimensions": [{"type": "ENERGY", "volume": 1e308}]}]},
     "cdr.json: is not valid JSON (or holds a number too large to read)"),
    (TARIFF, {**CDR, "charging_periods": [{"start_date_time": "2026-11-30T21:30:00Z", "dimensions": [{"type": "ENERGY", "volume": 0.1234567}]}]},
     "cdr.json: charging_periods[0].dimensions[0].volume: must have at most 6 decimal places"),
    (TARIFF, {**CDR, "charging_periods": []}, "cdr.json: charging_periods: must hold 1 to 10000 periods"),
    (TARIFF, {**CDR, "currency": "USD"}, "cdr.json: currency: is USD but the tariff's is EUR"),
])
def test_a_bad_file_names_the_field_and_exits_2(tmp_path, tariff, cdr, message):
    r = price(tmp_path, tariff, cdr)
    assert r.returncode == 2 and message in r.stderr, (r.returncode, r.stderr)
    assert r.stdout == ""


def test_an_unknown_time_zone_exits_2(tmp_path):
    r = price(tmp_path, TARIFF, CDR, "--time-zone", "Mars/Olympus")
    assert r.returncode == 2 and "--time-zone" in r.stderr
