"""/metrics, scraped the way Prometheus scrapes it, carries the series operators alert on."""
import asyncio
import json
import re
import time
import urllib.error
import urllib.request

from charge_points import api, connected, run
from ocpp.v16 import call
from voltaic_server import ADMIN_TOKEN
from websockets.asyncio.client import connect


def scrape(server, token=ADMIN_TOKEN):
    req = urllib.request.Request(server.base_url + "/metrics")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, None, ""


def value(text, series):
    """The value of one exact series line, e.g. 'voltaic_ocpp_connections{version="ocpp1.6"}'."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def test_metrics_carry_connections_calls_batches_commands_and_backlogs(server, station):
    assert scrape(server, token=None)[0] == 401
    async def refused():
        try:
            async with connect(f"{server.ws_url}/NEVER-ADDED", subprotocols=["ocpp1.6"]):
                pass
        except Exception:
            pass
    run(refused())
    assert value(scrape(server)[2], 'voltaic_ocpp_handshakes_refused_total{status="404"}') >= 1
    assert scrape(server, token="vk_" + "0" * 64)[0] == 401
    # The server is shared with other tests: counters are compared with what they were before.
    first = scrape(server)[2]
    before = value(first, 'voltaic_ocpp_calls_total{action="Heartbeat",result="ok"}') or 0
    commands_before = value(first, 'voltaic_command_round_trip_seconds_count{action="ClearCache",outcome="answered"}') or 0

    async def scenario():
        async with connected(server, station) as cp:
            await cp.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            for _ in range(3):
                await cp.call(call.Heartbeat())
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
            assert (await api(server, "POST", f"/stations/{station}/commands/ClearCache", {}))[0] == 200
            # A connected station counts while it is connected.
            status, kind, text = scrape(server)
            assert status == 200 and kind.startswith("text/plain")
            assert value(text, 'voltaic_ocpp_connections{version="ocpp1.6"}') >= 1
            return text

    text = run(scenario())
    assert value(text, 'voltaic_ocpp_calls_total{action="Heartbeat",result="ok"}') == before + 3
    assert value(text, 'voltaic_ocpp_calls_total{action="BootNotification",result="ok"}') >= 1
    assert value(text, 'voltaic_ocpp_call_duration_seconds_count{action="StatusNotification"}') >= 1
    assert value(text, 'voltaic_commit_batch_size_items_count') >= 2
    assert value(text, 'voltaic_commit_wait_seconds_count') >= 2
    assert value(text, 'voltaic_command_round_trip_seconds_count{action="ClearCache",outcome="answered"}') == commands_before + 1
    # The boot and the status went to the outbox, which the relay drains: the backlog comes back to 0 (polled; the
    # count is bounded in time). The push queue's gauges are there, by state.
    for _ in range(40):
        if value(scrape(server)[2], "voltaic_outbox_backlog") == 0:
            break
        time.sleep(0.25)
    drained = scrape(server)[2]
    assert value(drained, "voltaic_outbox_backlog") == 0
    assert value(drained, 'voltaic_ocpi_pushes{state="pending"}') is not None
    assert value(drained, 'voltaic_ocpi_pushes{state="dead"}') is not None
    assert value(text, "voltaic_liveness_backlog") is not None
    assert value(text, 'voltaic_ocpp_connections{version="ocpp2.0.1"}') is not None

    # A CALL that fails is counted by its error code, and an action no schema knows is not a label.
    async def bad():
        async with connect(f"{server.ws_url}/{station}", subprotocols=["ocpp1.6"]) as ws:
            for frame in ['[2,"n1","NonsenseAction",{}]', '[2,"n2","StatusNotification",{"connectorId":"x"}]']:
                await ws.send(frame)
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))[0] == 4

    run(bad())
    after = scrape(server)[2]
    assert value(after, 'voltaic_ocpp_calls_total{action="unknown",result="NotImplemented"}') >= 1
    assert any(line.startswith('voltaic_ocpp_calls_total{action="StatusNotification",result="') and 'result="ok"' not in line
               for line in after.splitlines())
    # Gone once the socket is: polled, since the server sees the close a moment after the client.
    for _ in range(50):
        if value(scrape(server)[2], 'voltaic_ocpp_connections{version="ocpp1.6"}') == 0:
            break
        time.sleep(0.1)
    assert value(scrape(server)[2], 'voltaic_ocpp_connections{version="ocpp1.6"}') == 0
    assert not re.search(r'action="[^"]*Nonsense', after)


def test_json_logs_carry_the_station_and_message_ids():
    from voltaic_server import VoltaicServer
    server = VoltaicServer(extra_args=["--log-format", "json", "--log-level", "debug"]).start()
    try:
        assert server.api("POST", "/stations", {"id": "LOG-1", "securityProfile": 0})[0] == 201

        async def scenario():
            async with connect(f"{server.ws_url}/LOG-1", subprotocols=["ocpp1.6"]) as ws:
                await ws.send('[2,"bad-frame-1","StatusNotification",{"connectorId":"x"}]')
                await asyncio.wait_for(ws.recv(), 10)
                await ws.send('[2,"m-1","NonsenseAction",{}]')
                await asyncio.wait_for(ws.recv(), 10)

        run(scenario())
    finally:
        server.stop()
    with open(server.log_path, encoding="utf-8", errors="replace") as f:
        lines = [line for line in f.read().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    assert entries and all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
    connected = [e for e in entries if e["message"] == "station connected"]
    assert connected and connected[0]["ocpp.station.id"] == "LOG-1" and connected[0]["ocpp.version"] == "ocpp1.6"
    # Nothing a station sends in the normal course of things is logged at info or above.
    assert not [e for e in entries if e.get("ocpp.msg.id") and e["level"] in ("info", "notice", "warning", "error")], entries
    server.destroy()
