"""OCPP-J transport: malformed frames, limits, subprotocols, Basic auth and reconnects, on raw WebSockets."""
import asyncio
import json

import pytest
from charge_points import basic_auth, connected, run
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


async def exchange(ws, text):
    await ws.send(text)
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


HEARTBEAT = '[2,"hb-1","Heartbeat",{}]'

# (frame, expected 1.6 code, expected 2.0.1 code, expected message id)
MALFORMED = [
    ('[2,"m1","Heartbeat",{}', "FormationViolation", "FormatViolation", "m1"),  # invalid JSON, id readable
    ("{{{ not json", "FormationViolation", "RpcFrameworkError", "-1"),  # invalid JSON, no id
    ('{"hello": 1}', "FormationViolation", "RpcFrameworkError", "-1"),  # not an array
    ('[7,"m2","Heartbeat",{}]', "FormationViolation", "MessageTypeNotSupported", "m2"),  # unknown message type
    ('[2,"' + "x" * 37 + '","Heartbeat",{}]', "FormationViolation", "RpcFrameworkError", "x" * 37),  # id too long
    ('[2,"m3","Heartbeat"]', "FormationViolation", "FormatViolation", "m3"),  # CALL without payload
    ('[2,"m4","FlyToTheMoon",{}]', "NotImplemented", "NotImplemented", "m4"),  # unknown action
]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_malformed_frames_get_a_version_correct_callerror_and_the_socket_stays_usable(server, station, version):
    async def scenario():
        proto = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
        async with connect(f"{server.ws_url}/{station}", subprotocols=[proto]) as ws:
            assert ws.subprotocol == proto
            await exchange(ws, '[2,"boot","BootNotification",' + boot_payload(version) + "]")
            for frame, code16, code201, mid in MALFORMED:
                reply = await exchange(ws, frame)
                assert reply[0] == 4, frame
                assert reply[1] == mid, frame
                assert reply[2] == (code16 if version == "1.6" else code201), (frame, reply)
                assert (await exchange(ws, HEARTBEAT))[0] == 3  # still usable
            for i, (payload, code16, code201, field) in enumerate(schema_breaks(version)):
                payload = payload.replace('"s1"', f'"s{i}"')  # a repeated id would get the earlier answer again
                reply = await exchange(ws, payload)
                assert reply[:3] == [4, f"s{i}", code16 if version == "1.6" else code201], (payload, reply)
                assert field in reply[3], reply
            # A CALLRESULT for an id we never used is ignored: nothing comes back, the socket stays open.
            await ws.send('[3,"never-sent",{}]')
            assert (await exchange(ws, HEARTBEAT))[0] == 3
            # A repeated CALL id is answered again without being applied twice.
            first = await exchange(ws, '[2,"dup-1","StatusNotification",' + status_payload(version) + "]")
            second = await exchange(ws, '[2,"dup-1","StatusNotification",' + status_payload(version) + "]")
            assert first == second and first[0] == 3

    run(scenario())
    assert server.sql(f"SELECT count(*) FROM status_history WHERE station_id = '{station}'") == [["1"]]
    # One status change, one event in the outbox (written in the same transaction, not repeated on replay).
    assert server.sql(f"SELECT count(*) FROM outbox WHERE topic = 'connector.status' AND payload->>'stationId' = '{station}'") == [["1"]]


def boot_payload(version):
    if version == "1.6":
        return '{"chargePointVendor":"V","chargePointModel":"M"}'
    return '{"chargingStation":{"vendorName":"V","model":"M"},"reason":"PowerUp"}'


def status_payload(version):
    if version == "1.6":
        return '{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"2026-01-01T00:00:00Z"}'
    return '{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Available","evseId":1,"connectorId":1}'


def schema_breaks(version):
    """Payloads that parse but break the schema: (frame, 1.6 code, 2.0.1 code, field named in the description)."""
    if version == "1.6":
        return [
            ('[2,"s1","Authorize",{}]', "OccurenceConstraintViolation", None, "idTag"),
            ('[2,"s1","Authorize",{"idTag":42}]', "TypeConstraintViolation", None, "idTag"),
            ('[2,"s1","Authorize",{"idTag":"' + "A" * 21 + '"}]', "PropertyConstraintViolation", None, "idTag"),
            ('[2,"s1","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Dancing"}]', "PropertyConstraintViolation", None, "status"),
            ('[2,"s1","StartTransaction",{"connectorId":1,"idTag":"A","meterStart":1.5,"timestamp":"2026-01-01T00:00:00Z"}]', "TypeConstraintViolation", None, "meterStart"),
            ('[2,"s1","StartTransaction",{"connectorId":1,"idTag":"A","meterStart":1,"timestamp":"yesterday"}]', "TypeConstraintViolation", None, "timestamp"),
            ('[2,"s1","Heartbeat",{"extra":true}]', "FormationViolation", None, "extra"),
        ]
    return [
        ('[2,"s1","Authorize",{}]', None, "OccurrenceConstraintViolation", "idToken"),
        ('[2,"s1","Authorize",{"idToken":{"idToken":"A","type":7}}]', None, "TypeConstraintViolation", "idToken.type"),
        ('[2,"s1","Authorize",{"idToken":{"idToken":"A","type":"Carrier-Pigeon"}}]', None, "PropertyConstraintViolation", "idToken.type"),
        ('[2,"s1","Heartbeat",{"extra":true}]', None, "FormatViolation", "extra"),
    ]


def test_frame_above_the_limit_closes_with_1009():
    """A server with a 64 KiB limit, and a message a little above it (a multi-megabyte one could still be in
    flight when the server closes, and the peer's TCP reset would swallow the close frame)."""
    from voltaic_server import VoltaicServer

    small = VoltaicServer(extra_args=["--max-frame-size", "65536", "--unknown-stations", "accept"]).start()
    try:
        async def scenario():
            async with connect(f"{small.ws_url}/BIG-1", subprotocols=["ocpp1.6"], max_size=None) as ws:
                assert (await exchange(ws, HEARTBEAT))[0] == 3
                await ws.send('[2,"big","DataTransfer",{"vendorId":"x","data":"' + "a" * 70_000 + '"}]')
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 10)
                assert closed.value.rcvd.code == 1009

        run(scenario())
    finally:
        small.destroy()


def test_invalid_utf8_closes_with_1007(server, station):
    async def scenario():
        async with connect(f"{server.ws_url}/{station}", subprotocols=["ocpp1.6"]) as ws:
            # A text frame whose bytes are not UTF-8 (the client library would refuse to build one from str).
            await ws.send(b'[2,"u","Heartbeat",{"x":"\xff\xfe"}]', text=True)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd.code == 1007

    run(scenario())


def test_subprotocol_negotiation(server, station):
    async def scenario():
        async with connect(f"{server.ws_url}/{station}", subprotocols=["ocpp2.0.1", "ocpp1.6"]) as ws:
            assert ws.subprotocol == "ocpp2.0.1"
        # Nothing we support: the handshake completes without Sec-WebSocket-Protocol, then the server closes.
        async with connect(f"{server.ws_url}/{station}", subprotocols=["ocpp1.5"]) as ws:
            assert ws.subprotocol is None
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)

    run(scenario())


def test_invalid_and_unknown_station_ids_are_refused_at_the_handshake(server):
    async def scenario():
        for path, status in [("a" * 49, 400), ("bad%20id", 400), ("NEVER-REGISTERED", 404)]:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{server.ws_url}/{path}", subprotocols=["ocpp1.6"]):
                    pass
            assert refused.value.response.status_code == status, path

    run(scenario())


def test_basic_auth_right_wrong_and_missing(server, station_id):
    password = "correct-horse-battery"
    status, _ = server.api("POST", "/stations", {"id": station_id, "password": password})
    assert status == 201

    async def scenario():
        async with connected(server, station_id, headers=basic_auth(station_id, password)) as cp:
            from ocpp.v16 import call
            assert (await cp.call(call.Heartbeat())).current_time
        for headers in [basic_auth(station_id, "wrong-password-123"), basic_auth("someone-else", password), {}]:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{server.ws_url}/{station_id}", subprotocols=["ocpp1.6"], additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 401
            assert refused.value.response.headers["WWW-Authenticate"].startswith("Basic")

    run(scenario())


def test_a_station_added_without_a_password_gets_one_and_needs_it(server, station_id):
    status, body = server.api("POST", "/stations", {"id": station_id})
    assert status == 201 and body["station"]["securityProfile"] == 1
    password = body["generatedPassword"]

    async def scenario():
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{server.ws_url}/{station_id}", subprotocols=["ocpp1.6"]):
                pass
        assert refused.value.response.status_code == 401
        async with connected(server, station_id, headers=basic_auth(station_id, password)) as cp:
            from ocpp.v16 import call
            assert (await cp.call(call.Heartbeat())).current_time

    run(scenario())


def test_a_new_connection_replaces_the_old_one(server, station):
    async def scenario():
        async with connect(f"{server.ws_url}/{station}", subprotocols=["ocpp1.6"]) as old:
            await exchange(old, '[2,"b","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
            async with connected(server, station) as new:
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(old.recv(), 10)
                status, body = await asyncio.to_thread(server.api, "POST", f"/stations/{station}/commands/ClearCache", {})
                assert status == 200 and body["response"] == {"status": "Accepted"}
                assert new.received[-1][0] == "ClearCache"
                assert (await asyncio.to_thread(server.api, "GET", f"/stations/{station}"))[1]["station"]["online"] is True

    run(scenario())


def test_a_station_that_stops_answering_pings_is_dropped(server, station):
    async def scenario():
        # ping_interval=None and a paused reader: the client never answers the server's pings.
        ws = await connect(f"{server.ws_url}/{station}", subprotocols=["ocpp1.6"], ping_interval=None)
        await exchange(ws, '[2,"b","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
        ws.transport.pause_reading()
        for _ in range(100):  # ping interval is 2 s in the test server: dropped within two intervals (plus slack)
            await asyncio.sleep(0.1)
            body = (await asyncio.to_thread(server.api, "GET", f"/stations/{station}"))[1]
            # The socket is gone at once; the stored online flag follows with the next presence write.
            if not body["connected"] and not body["station"]["online"]:
                break
        assert body["connected"] is False and body["station"]["online"] is False
        ws.transport.abort()

    run(scenario())


def test_one_csms_call_in_flight_per_station_and_timeouts_give_504(server, station):
    """Raw station: it holds each CALL for a while before answering and never sees two at once."""
    async def scenario():
        async with connect(f"{server.ws_url}/{station}", subprotocols=["ocpp1.6"]) as ws:
            await exchange(ws, '[2,"b","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
            commands = [asyncio.create_task(asyncio.to_thread(server.api, "POST", f"/stations/{station}/commands/ClearCache", {})) for _ in range(3)]
            seen = []
            for _ in range(3):
                call = json.loads(await asyncio.wait_for(ws.recv(), 10))
                seen.append(call[1])
                # While this call is unanswered no other arrives.
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.4)
                await ws.send(json.dumps([3, call[1], {"status": "Accepted"}]))
            results = await asyncio.gather(*commands)
            assert [r[0] for r in results] == [200, 200, 200] and len(set(seen)) == 3
            # A call the station never answers times out (the test server waits 5 s).
            status, body = await asyncio.to_thread(server.api, "POST", f"/stations/{station}/commands/ClearCache", {})
            assert status == 504, body
            json.loads(await asyncio.wait_for(ws.recv(), 1))  # the unanswered call itself
            # A CALLERROR from the station is returned as 502 with its code.
            task = asyncio.create_task(asyncio.to_thread(server.api, "POST", f"/stations/{station}/commands/ClearCache", {}))
            call = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await ws.send(json.dumps([4, call[1], "NotSupported", "no cache here", {}]))
            status, body = await task
            assert status == 502 and "NotSupported" in body["detail"]

    run(scenario())


def test_pending_policy_registers_unknown_stations_until_accepted():
    from voltaic_server import VoltaicServer

    pending = VoltaicServer(extra_args=["--unknown-stations", "pending"]).start()
    try:
        async def scenario():
            async with connect(f"{pending.ws_url}/NEW-STATION", subprotocols=["ocpp2.0.1"]) as ws:
                boot = '[2,"b1","BootNotification",{"chargingStation":{"vendorName":"V","model":"M"},"reason":"PowerUp"}]'
                assert (await exchange(ws, boot))[2]["status"] == "Pending"
                refused = await exchange(ws, '[2,"a1","Authorize",{"idToken":{"idToken":"X","type":"Central"}}]')
                assert refused[:3] == [4, "a1", "SecurityError"]
                status, body = await asyncio.to_thread(pending.api, "PATCH", "/stations/NEW-STATION", {"registrationStatus": "Accepted"})
                assert status == 200 and body["station"]["registrationStatus"] == "Accepted"
                assert (await exchange(ws, boot.replace("b1", "b2")))[2]["status"] == "Accepted"
                assert (await exchange(ws, '[2,"a2","Authorize",{"idToken":{"idToken":"X","type":"Central"}}]'))[0] == 3

        run(scenario())
    finally:
        pending.destroy()


def test_over_the_connection_cap_a_handshake_gets_503_and_a_known_station_may_still_reconnect():
    import os
    import subprocess

    from voltaic_server import BINARY, VoltaicServer
    import tempfile
    r = subprocess.run([os.environ.get("VOLTAIC_BIN", BINARY), "serve", "--max-connections", "99999999", "--data-dir", tempfile.mkdtemp()],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--max-connections" in r.stderr
    server = VoltaicServer(extra_args=["--max-connections", "2"]).start()
    try:
        for s in ["CAP-1", "CAP-2", "CAP-3"]:
            assert server.api("POST", "/stations", {"id": s, "securityProfile": 0})[0] == 201

        async def scenario():
            async with connect(f"{server.ws_url}/CAP-1", subprotocols=["ocpp1.6"]), \
                       connect(f"{server.ws_url}/CAP-2", subprotocols=["ocpp1.6"]):
                # The 101 comes before the server registers the session: wait until both count.
                for _ in range(100):
                    listed = (await asyncio.to_thread(server.api, "GET", "/stations"))[1]["items"]
                    if sum(1 for s in listed if s["connected"]) == 2:
                        break
                    await asyncio.sleep(0.05)
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(f"{server.ws_url}/CAP-3", subprotocols=["ocpp1.6"]):
                        pass
                assert refused.value.response.status_code == 503
                # A station already connected replaces its own connection: that is not one more.
                async with connect(f"{server.ws_url}/CAP-2", subprotocols=["ocpp1.6"]) as again:
                    await again.send('[2,"h","Heartbeat",{}]')
                    assert json.loads(await asyncio.wait_for(again.recv(), 10))[0] == 3

        run(scenario())
    finally:
        server.destroy()
