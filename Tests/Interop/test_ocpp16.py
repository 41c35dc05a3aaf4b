"""OCPP 1.6 interop: the `ocpp` package's ChargePoint against a real `voltaic serve`."""
import asyncio
import datetime

from charge_points import api, connected, now, run, send_every_command
from conftest import new_token
from ocpp.v16 import call


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


async def boot(cp):
    r = await cp.call(call.BootNotification(charge_point_model="Wallbox", charge_point_vendor="Alice", firmware_version="1.2.3"))
    assert r.status == "Accepted"
    assert r.interval > 0
    return r


def test_boot_marks_station_online_with_its_details(server, station):
    async def scenario():
        async with connected(server, station) as cp:
            await boot(cp)
            status, body = await api(server, "GET", f"/stations/{station}")
            assert status == 200
            assert body["connected"] is True
            assert body["station"]["online"] is True
            assert body["station"]["vendor"] == "Alice"
            assert body["station"]["ocppVersion"] == "ocpp1.6"
            hb = await cp.call(call.Heartbeat())
            assert hb.current_time.endswith("Z")
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available", timestamp=now()))
            status, body = await api(server, "GET", f"/stations/{station}")
            assert body["connectors"] == [
                {"connectorId": 1, "evseId": 1, "errorCode": "NoError", "reportedAt": body["connectors"][0]["reportedAt"], "status": "Available"}
            ]

    run(scenario())
    # After the socket closes the station is offline again.
    for _ in range(50):
        if server.api("GET", f"/stations/{station}")[1]["station"]["online"] is False:
            break
        asyncio.run(asyncio.sleep(0.1))
    assert server.api("GET", f"/stations/{station}")[1]["station"]["online"] is False


def test_authorize_accepted_invalid_blocked_expired(server, station):
    accepted = new_token(server)
    blocked = new_token(server)
    assert server.api("POST", f"/tokens/{blocked}/block")[0] == 200
    expired = new_token(server, expiresAt="2020-01-01T00:00:00Z")

    async def scenario():
        async with connected(server, station) as cp:
            await boot(cp)
            results = {}
            for name, tag in [("accepted", accepted), ("invalid", "NO-SUCH-TAG"), ("blocked", blocked), ("expired", expired)]:
                r = await cp.call(call.Authorize(id_tag=tag))
                results[name] = r.id_tag_info["status"]
            assert results == {"accepted": "Accepted", "invalid": "Invalid", "blocked": "Blocked", "expired": "Expired"}

    run(scenario())


def meter(ts, value, unit=None, context="Sample.Periodic", measurand="Energy.Active.Import.Register"):
    sv = {"value": str(value), "context": context, "measurand": measurand}
    if unit:
        sv["unit"] = unit
    return {"timestamp": ts, "sampled_value": [sv]}


def test_full_transaction_with_meter_values_in_wh_and_kwh(server, station):
    tag = new_token(server)
    t0 = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    async def scenario():
        async with connected(server, station) as cp:
            await boot(cp)
            assert (await cp.call(call.Authorize(id_tag=tag))).id_tag_info["status"] == "Accepted"
            start = await cp.call(call.StartTransaction(connector_id=1, id_tag=tag, meter_start=1000, timestamp=iso(t0)))
            assert start.id_tag_info["status"] == "Accepted"
            tx = start.transaction_id
            await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[meter(iso(t0 + datetime.timedelta(minutes=5)), 1500, "Wh")]))
            await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[meter(iso(t0 + datetime.timedelta(minutes=10)), "2.5", "kWh")]))
            await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[meter(iso(t0 + datetime.timedelta(minutes=10)), "7.2", "kW", measurand="Power.Active.Import")]))
            stop = await cp.call(call.StopTransaction(meter_stop=3250, timestamp=iso(t0 + datetime.timedelta(minutes=15)), transaction_id=tx, id_tag=tag, reason="EVDisconnected"))
            assert stop.id_tag_info["status"] == "Accepted"
            return tx

    tx = run(scenario())
    status, body = server.api("GET", f"/transactions/{tx}")
    assert status == 200
    t = body["transaction"]
    assert (t["state"], t["meterStartWh"], t["meterStopWh"], t["energyWh"], t["stopReason"]) == ("Ended", 1000, 3250, 2250, "EVDisconnected")
    assert t["suspect"] is False
    values = {(m["measurand"], m["unit"], m["value"]) for m in body["meterValues"]}
    assert ("Energy.Active.Import.Register", "Wh", 1500) in values
    assert ("Energy.Active.Import.Register", "Wh", 2500) in values  # 2.5 kWh normalised
    assert ("Power.Active.Import", "W", 7200) in values
    # And in PostgreSQL itself.
    assert server.sql(f"SELECT energy_wh, state FROM transactions WHERE id = {tx}") == [["2250", "Ended"]]
    assert server.sql(f"SELECT raw_value, raw_unit, value FROM meter_values WHERE transaction_id = {tx} AND raw_unit = 'kWh'") == [["2.5", "kWh", "2500"]]


def test_two_concurrent_transactions(server, station):
    tags = [new_token(server), new_token(server)]
    t0 = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    async def scenario():
        async with connected(server, station) as cp:
            await boot(cp)
            a = await cp.call(call.StartTransaction(connector_id=1, id_tag=tags[0], meter_start=100, timestamp=iso(t0)))
            b = await cp.call(call.StartTransaction(connector_id=2, id_tag=tags[1], meter_start=5000, timestamp=iso(t0)))
            assert a.transaction_id != b.transaction_id
            # The first token is charging: authorizing it again is ConcurrentTx.
            assert (await cp.call(call.Authorize(id_tag=tags[0]))).id_tag_info["status"] == "ConcurrentTx"
            end = iso(t0 + datetime.timedelta(minutes=30))
            await cp.call(call.StopTransaction(meter_stop=2100, timestamp=end, transaction_id=b.transaction_id))
            await cp.call(call.StopTransaction(meter_stop=600, timestamp=end, transaction_id=a.transaction_id))
            return a.transaction_id, b.transaction_id

    a, b = run(scenario())
    assert server.api("GET", f"/transactions/{a}")[1]["transaction"]["energyWh"] == 500
    # Connector 2's register went backwards: stored, and flagged suspect rather than billed.
    tb = server.api("GET", f"/transactions/{b}")[1]["transaction"]
    assert tb["energyWh"] == -2900 and tb["suspect"] is True


def test_duplicate_start_returns_the_same_transaction(server, station):
    tag = new_token(server)
    ts = now()

    async def scenario():
        async with connected(server, station) as cp:
            await boot(cp)
            first = await cp.call(call.StartTransaction(connector_id=1, id_tag=tag, meter_start=42, timestamp=ts))
            second = await cp.call(call.StartTransaction(connector_id=1, id_tag=tag, meter_start=42, timestamp=ts))
            assert first.transaction_id == second.transaction_id
            assert second.id_tag_info["status"] == "Accepted"

    run(scenario())
    assert server.sql(f"SELECT count(*) FROM transactions WHERE station_id = '{station}'") == [["1"]]


def test_stop_for_unknown_transaction_is_acknowledged_and_recorded(server, station):
    async def scenario():
        async with connected(server, station) as cp:
            await boot(cp)
            r = await cp.call(call.StopTransaction(meter_stop=10, timestamp=now(), transaction_id=987654321, id_tag="WHOEVER"))
            assert r.id_tag_info["status"] == "Invalid"
            await cp.call(call.MeterValues(connector_id=1, transaction_id=987654322, meter_value=[meter(now(), 5)]))

    run(scenario())
    kinds = server.sql(f"SELECT kind, suspect FROM station_events WHERE station_id = '{station}' ORDER BY id")
    assert kinds == [["StopTransaction.unknown", "t"], ["MeterValues.unknownTransaction", "t"]]


def test_reservation_is_consumed_by_start(server, station):
    tag = new_token(server)

    async def scenario():
        async with connected(server, station) as cp:
            await boot(cp)
            status, body = await api(server, "POST", "/reservations", {"stationId": station, "evseId": 1, "idToken": tag, "durationMinutes": 30})
            assert status == 201, body
            assert body["stationStatus"] == "Accepted"
            rid = body["reservation"]["id"]
            action, args = cp.received[-1]
            assert action == "ReserveNow" and args["reservation_id"] == rid and args["id_tag"] == tag
            start = await cp.call(call.StartTransaction(connector_id=1, id_tag=tag, meter_start=0, timestamp=now(), reservation_id=rid))
            return rid, start.transaction_id

    rid, tx = run(scenario())
    reservations = server.api("GET", f"/reservations?stationId={station}")[1]["items"]
    r = next(r for r in reservations if r["id"] == rid)
    assert (r["status"], r["transactionId"]) == ("Used", tx)


COMMANDS_16 = {
    "ChangeAvailability": ({"connectorId": 1, "type": "Inoperative"}, {"status": "Accepted"}),
    "ChangeConfiguration": ({"key": "HeartbeatInterval", "value": "120"}, {"status": "Accepted"}),
    "ClearCache": ({}, {"status": "Accepted"}),
    "DataTransfer": ({"vendorId": "org.voltaic", "data": "ping"}, {"status": "Accepted", "data": "pong"}),
    "GetConfiguration": ({"key": ["HeartbeatInterval"]}, {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}),
    "RemoteStartTransaction": ({"idTag": "REMOTE", "connectorId": 1}, {"status": "Accepted"}),
    "RemoteStopTransaction": ({"transactionId": 1}, {"status": "Accepted"}),
    "Reset": ({"type": "Soft"}, {"status": "Accepted"}),
    "UnlockConnector": ({"connectorId": 1}, {"status": "Unlocked"}),
    "TriggerMessage": ({"requestedMessage": "StatusNotification", "connectorId": 1}, {"status": "Accepted"}),
    "GetLocalListVersion": ({}, {"listVersion": 3}),
    "SendLocalList": ({"listVersion": 4, "updateType": "Full", "localAuthorizationList": [{"idTag": "A1", "idTagInfo": {"status": "Accepted"}}]}, {"status": "Accepted"}),
    "ReserveNow": ({"connectorId": 1, "expiryDate": "2030-01-01T00:00:00Z", "idTag": "R1", "reservationId": 77}, {"status": "Accepted"}),
    "CancelReservation": ({"reservationId": 77}, {"status": "Accepted"}),
}


def test_every_station_bound_command_reaches_the_station_and_returns_its_answer(server, station):
    async def scenario():
        async with connected(server, station) as cp:
            await boot(cp)
            await send_every_command(server, station, cp, COMMANDS_16, "ocpp1.6")
            # ReserveNow and CancelReservation sent as raw commands are recorded as reservations too.
            reservations = (await api(server, "GET", f"/reservations?stationId={station}"))[1]["items"]
            assert [(r["id"], r["idToken"], r["status"]) for r in reservations] == [(77, "R1", "Cancelled")]
            # A payload that breaks the schema never reaches the station.
            status, body = await api(server, "POST", f"/stations/{station}/commands/Reset", {"type": "Sideways"})
            assert status == 422 and "type" in body["detail"]
            status, _ = await api(server, "POST", f"/stations/{station}/commands/BootNotification", {})
            assert status == 400

    run(scenario())
    assert server.api("POST", "/stations/NOT-CONNECTED/commands/Reset", {"type": "Soft"})[0] == 409


def test_an_expired_reservation_reads_expired_and_is_not_consumed(server, station):
    tag = new_token(server)

    async def scenario():
        async with connected(server, station) as cp:
            await boot(cp)
            past = {"connectorId": 1, "expiryDate": "2020-01-01T00:00:00Z", "idTag": tag, "reservationId": 9001}
            assert (await api(server, "POST", f"/stations/{station}/commands/ReserveNow", past))[0] == 200
            await cp.call(call.StartTransaction(connector_id=1, id_tag=tag, meter_start=0, timestamp=now(), reservation_id=9001))

    run(scenario())
    r = next(r for r in server.api("GET", f"/reservations?stationId={station}")[1]["items"] if r["id"] == 9001)
    assert (r["status"], r.get("transactionId")) == ("Expired", None)


def test_a_stuck_transaction_is_ended_by_an_operator_through_the_api_and_the_cli(server, station):
    from test_cli import voltaic
    tags = [new_token(server), new_token(server)]

    async def scenario():
        async with connected(server, station) as cp:
            await boot(cp)
            a = await cp.call(call.StartTransaction(connector_id=1, id_tag=tags[0], meter_start=100, timestamp=now()))
            b = await cp.call(call.StartTransaction(connector_id=2, id_tag=tags[1], meter_start=100, timestamp=now()))
            await cp.call(call.MeterValues(connector_id=1, transaction_id=a.transaction_id, meter_value=[
                {"timestamp": now(), "sampled_value": [{"value": "700", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
            # The Stops are lost: both tokens are still charging.
            assert (await cp.call(call.Authorize(id_tag=tags[0]))).id_tag_info["status"] == "ConcurrentTx"
            return a.transaction_id, b.transaction_id

    a, b = run(scenario())
    for bad in [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 201}]:
        assert server.api("POST", f"/transactions/{a}/end", bad)[0] in (400, 422), bad
    assert server.api("POST", "/transactions/999999999/end", {"reason": "lost stop"})[0] == 404
    assert server.api("GET", f"/transactions/{a}")[1]["transaction"]["state"] == "Active"

    status, body = server.api("POST", f"/transactions/{a}/end", {"reason": "cable cut, stop lost"})
    assert status == 200 and body["ended"] is True, body
    tx = body["transaction"]
    assert tx["state"] == "Ended" and tx["energyWh"] == 600 and tx["suspect"] is True
    assert any("cable cut, stop lost" in r for r in tx["suspectReasons"])
    # A replay changes nothing and publishes nothing more.
    status, again = server.api("POST", f"/transactions/{a}/end", {"reason": "cable cut, stop lost"})
    assert status == 200 and again["ended"] is False and again["transaction"]["suspectReasons"] == tx["suspectReasons"]
    assert server.sql(f"SELECT count(*) FROM outbox WHERE topic = 'session.ended' AND payload->>'transactionId' = '{a}'") == [["1"]]

    out = voltaic(server, "transaction", "end", str(b), "--reason", "station replaced").stdout
    assert f"Ended transaction {b}" in out
    assert "had ended already" in voltaic(server, "transaction", "end", str(b), "--reason", "station replaced").stdout
    r = voltaic(server, "transaction", "end", "999999999", "--reason", "x", check=False)
    assert r.returncode != 0 and "no transaction 999999999" in r.stderr
    assert voltaic(server, "transaction", "end", str(b), "--reason", " ", check=False).returncode != 0
    assert server.api("GET", f"/transactions/{b}")[1]["transaction"]["state"] == "Ended"
    audit = server.api("GET", "/audit")[1]["items"]
    assert any(e["action"] == "EndTransaction" and e["target"] == str(a) and e["status"] == 200 for e in audit)

    async def again():
        async with connected(server, station) as cp:
            # Both tokens are free again.
            for tag in tags:
                assert (await cp.call(call.Authorize(id_tag=tag))).id_tag_info["status"] == "Accepted"

    run(again())
