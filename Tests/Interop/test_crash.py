"""SIGKILL in the middle of transactions: nothing acknowledged is lost, nothing replayed is applied twice.

Eight stations drive transactions as fast as the server acknowledges them. The server is killed with
SIGKILL while they run, then restarted on the same data directory. Before anything is replayed, every
message a station saw acknowledged must already be in PostgreSQL. Then each station replays what it had
not seen acknowledged (exactly as a charger's offline queue does) and finishes its work; the end state
must hold every transaction exactly once with all its meter values once.
"""
import asyncio
import datetime
import json

from conftest import new_token
from voltaic_server import VoltaicServer
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

STATIONS = 8
TRANSACTIONS = 15
SAMPLES = 4
BASE = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


def plan(station_index, tag):
    """The messages of one station: a function of the station's state, so replays are identical."""
    steps = []
    for k in range(TRANSACTIONS):
        t = BASE + datetime.timedelta(hours=k, minutes=station_index)
        steps.append(lambda s, k=k, t=t: ("StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": k * 1000, "timestamp": iso(t)}))
        for j in range(1, SAMPLES + 1):
            steps.append(lambda s, k=k, t=t, j=j: ("MeterValues", {
                "connectorId": 1, "transactionId": s["tx"],
                "meterValue": [{"timestamp": iso(t + datetime.timedelta(minutes=j)), "sampledValue": [{"value": str(k * 1000 + j * 100), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}],
            }))
        steps.append(lambda s, k=k, t=t: ("StopTransaction", {"transactionId": s["tx"], "meterStop": k * 1000 + 500, "timestamp": iso(t + datetime.timedelta(minutes=30))}))
    return steps


async def drive(server, station, steps, state, acked, attempt):
    async with connect(f"{server.ws_url}/{station}", subprotocols=["ocpp1.6"]) as ws:
        await ws.send(json.dumps([2, f"boot-{attempt}", "BootNotification", {"chargePointVendor": "Crash", "chargePointModel": "Test"}]))
        assert json.loads(await ws.recv())[0] == 3
        while state["i"] < len(steps):
            action, payload = steps[state["i"]](state)
            await ws.send(json.dumps([2, f"{attempt}-{state['i']}", action, payload]))
            reply = json.loads(await ws.recv())
            assert reply[0] == 3, reply
            if action == "StartTransaction":
                state["tx"] = reply[2]["transactionId"]
            acked.append((action, payload, reply[2]))
            state["i"] += 1


async def run_until_killed(server, stations, plans, states, acked):
    async def one(i):
        try:
            await drive(server, stations[i], plans[i], states[i], acked[i], attempt=1)
        except (ConnectionClosed, OSError, InvalidStatus):
            pass

    async def killer():
        # Kill once some but not all work is acknowledged.
        while sum(len(a) for a in acked) < STATIONS * 10:
            await asyncio.sleep(0.01)
        server.kill()

    await asyncio.gather(killer(), *(one(i) for i in range(STATIONS)))


def test_sigkill_loses_nothing_acknowledged_and_duplicates_nothing():
    server = VoltaicServer().start()
    try:
        stations = [f"CRASH-{i}" for i in range(STATIONS)]
        tags = []
        for s in stations:
            assert server.api("POST", "/stations", {"id": s, "securityProfile": 0})[0] == 201
            tags.append(new_token(server))
        plans = [plan(i, tags[i]) for i in range(STATIONS)]
        states = [{"i": 0, "tx": None} for _ in range(STATIONS)]
        acked = [[] for _ in range(STATIONS)]

        asyncio.run(run_until_killed(server, stations, plans, states, acked))
        total_steps = STATIONS * len(plans[0])
        acknowledged = sum(len(a) for a in acked)
        assert 0 < acknowledged < total_steps, "the kill must land in the middle of the work"

        server.start()  # same data directory: the embedded PostgreSQL outlived the server

        # 1. Everything acknowledged before the kill is in PostgreSQL.
        for i, station in enumerate(stations):
            for action, payload, reply in acked[i]:
                if action == "StartTransaction":
                    assert server.sql(f"SELECT station_id, meter_start_wh FROM transactions WHERE id = {reply['transactionId']}") == [[station, str(payload["meterStart"])]]
                elif action == "MeterValues":
                    ts = payload["meterValue"][0]["timestamp"]
                    rows = server.sql(f"SELECT count(*) FROM meter_values WHERE transaction_id = {payload['transactionId']} AND sampled_at = '{ts}'")
                    assert rows == [["1"]], (station, payload)
                else:
                    assert server.sql(f"SELECT state FROM transactions WHERE id = {payload['transactionId']}") == [["Ended"]]

        # 2. Replay what was not acknowledged, then finish.
        async def finish():
            await asyncio.gather(*(drive(server, stations[i], plans[i], states[i], acked[i], attempt=2) for i in range(STATIONS)))

        asyncio.run(finish())

        # 3. Every transaction exactly once, every sample exactly once, every energy right.
        for station in stations:
            rows = server.sql(f"SELECT meter_start_wh, energy_wh, state FROM transactions WHERE station_id = '{station}' ORDER BY meter_start_wh")
            assert rows == [[str(k * 1000), "500", "Ended"] for k in range(TRANSACTIONS)], station
            samples = server.sql(
                f"SELECT count(*), count(DISTINCT (m.transaction_id, m.sampled_at)) FROM meter_values m JOIN transactions t ON t.id = m.transaction_id WHERE t.station_id = '{station}'"
            )
            assert samples == [[str(TRANSACTIONS * SAMPLES), str(TRANSACTIONS * SAMPLES)]], station
        assert server.sql("SELECT count(*) FROM transactions WHERE suspect") == [["0"]]
    finally:
        server.destroy()
