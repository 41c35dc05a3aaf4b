"""Three `voltaic serve` nodes behind HAProxy (TCP mode) on loopback, sharing one PostgreSQL, no other broker.

Stations connect through HAProxy and spread over the nodes; each sends MeterValues as fast as they are
acknowledged, and remembers what was. Along the way:
- every station is commanded through every node (most commands travel to the holding node by LISTEN/NOTIFY);
- one node is killed with SIGKILL: its stations reconnect through HAProxy to the others, and are commanded again;
- a station that connects to another node directly takes itself over: the old node closes its old socket;
- every node is restarted in turn (SIGTERM, then started again): a rolling restart;
and in the end every acknowledged message is in PostgreSQL, every station is online on a live node, and the eMSP
registered with the cluster got each push once (no X-Request-ID accepted twice) with nothing left undelivered.
"""
import asyncio
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest
from emsp.party import EMSP
from test_ocpi import admin_ok, connector, register, site, tariff_body
from voltaic_server import ADMIN_TOKEN, PG_PORT, VoltaicServer, free_port
from websockets.asyncio.client import connect

STATIONS = 18
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


class Cluster:
    def __init__(self, work):
        self.work = work
        # A launcher node starts the embedded PostgreSQL and is killed at once: PostgreSQL keeps running, and every
        # node reaches it by its socket, as it would a shared server.
        self.db = VoltaicServer().start()
        self.db.kill()
        self.url = f"postgres://voltaic@/voltaic?host={self.db.pg_socket_dir}"
        self.key = os.path.join(work, "receipt.key")
        self.nodes = [self.node(i) for i in range(3)]
        for n in self.nodes:
            n.start()
        self.port = free_port()
        cfg = os.path.join(work, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(self.haproxy_config())
        check = subprocess.run([HAPROXY, "-c", "-f", cfg], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.haproxy = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "haproxy.log"), "ab"))

    def node(self, i):
        return VoltaicServer(extra_args=["--database-url", self.url, "--node-id", f"n{i}", "--receipt-key-file", self.key,
                                         "--ocpi-push-backoff", "0.2", "--ocpi-push-backoff-max", "1"])

    def haproxy_config(self):
        servers = "\n".join(f"    server n{i} 127.0.0.1:{n.port} check inter 300 fall 2 rise 1" for i, n in enumerate(self.nodes))
        return f"""global
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout check 1s
frontend ocpp
    bind 127.0.0.1:{self.port}
    default_backend voltaic
backend voltaic
    balance roundrobin
    option httpchk GET /health
{servers}
"""

    def sql(self, q):
        return self.db.sql(q)

    def close(self):
        self.haproxy.terminate()
        self.haproxy.wait()
        for n in self.nodes:
            if n.process and n.process.poll() is None:
                n.kill()
        self.db.stop_postgres()
        for n in self.nodes:
            shutil.rmtree(n.data_dir, ignore_errors=True)
        shutil.rmtree(self.db.data_dir, ignore_errors=True)


class Station:
    """A 1.6 station over raw OCPP-J through HAProxy: it reconnects whenever its socket goes, answers the CSMS's
    CALLs, and sends MeterValues one at a time, remembering each one acknowledged."""

    def __init__(self, cluster, sid):
        self.cluster, self.sid = cluster, sid
        self.acked, self.commands, self.closes, self.connects = [], [], [], 0
        self.connected = asyncio.Event()

    async def run(self, stop):
        n = 0
        while not stop.is_set():
            try:
                async with connect(f"ws://127.0.0.1:{self.cluster.port}/ocpp/{self.sid}", subprotocols=["ocpp1.6"], open_timeout=5) as ws:
                    self.connects += 1
                    pending = {}

                    async def reader():
                        async for raw in ws:
                            m = json.loads(raw)
                            if m[0] == 2:
                                self.commands.append(m[2])
                                await ws.send(json.dumps([3, m[1], {"status": "Accepted"}]))
                            elif m[1] in pending:
                                pending.pop(m[1]).set_result(m)

                    task = asyncio.create_task(reader())

                    async def call(action, payload):
                        mid = uuid.uuid4().hex
                        fut = asyncio.get_running_loop().create_future()
                        pending[mid] = fut
                        await ws.send(json.dumps([2, mid, action, payload]))
                        return await asyncio.wait_for(fut, 10)

                    try:
                        reply = await call("BootNotification", {"chargePointVendor": "Cluster", "chargePointModel": "Test"})
                        assert reply[0] == 3, reply
                        self.connected.set()
                        while not stop.is_set():
                            n += 1
                            # A distinct time per message of this station: each is one row, whichever node stored it.
                            at = f"2026-12-01T{n // 3_600_000 % 24:02d}:{n // 60000 % 60:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}Z"
                            payload = {"connectorId": 1, "meterValue": [{"timestamp": at, "sampledValue": [{"value": str(n), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]}
                            reply = await call("MeterValues", payload)
                            if reply[0] == 3:
                                self.acked.append(at)
                            await asyncio.sleep(0.05)
                    finally:
                        task.cancel()
            except Exception as e:  # noqa: BLE001 - any socket failure: reconnect, as a charger does
                self.closes.append(type(e).__name__)
                self.connected.clear()
                await asyncio.sleep(0.2 + random.random() * 0.3)


def millis(at):
    t = datetime.datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return round(t.timestamp() * 1000)


def api(node, method, path, body=None):
    return node.api(method, path, body, token=ADMIN_TOKEN)


def command_everyone(cluster, stations, nodes):
    """Every station commanded through every given node, and answered by the station itself. A station that is
    moving between nodes at that moment may make a command fail, but only honestly (409 offline, 502, 504, as a
    problem): the caller tries again, at most three times, and then it must be answered."""
    failures, dishonest = [], []
    for s in stations:
        for node in nodes:
            for attempt in range(3):
                status, body = api(node, "POST", f"/stations/{s.sid}/commands/ChangeAvailability", {"connectorId": 0, "type": "Operative"})
                if status == 200 and "Accepted" in json.dumps(body):
                    break
                if status not in (409, 502, 504) or not isinstance(body, dict) or "title" not in body:
                    dishonest.append((s.sid, node.port, status, body))
                time.sleep(1)
            else:
                failures.append((s.sid, node.port, status, body))
    assert not dishonest, dishonest[:5]
    assert not failures, failures[:5]


def wait(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout} s")


def alive_nodes(cluster):
    return {r[0] for r in cluster.sql("SELECT id FROM nodes WHERE lease_until > now()")}


def holders(cluster):
    return dict(cluster.sql("SELECT id, coalesce(connected_node, '') FROM stations WHERE id LIKE 'CL-%' AND online"))


def test_three_nodes_behind_haproxy():
    work = tempfile.mkdtemp(prefix="voltaic-cluster-")
    cluster = Cluster(work)
    emsp = EMSP()
    try:
        first = cluster.nodes[0]
        tag = uuid.uuid4().hex[:4].upper()
        admin_ok(first, "PUT", f"/tariffs/T-{tag}", tariff_body(f"T-{tag}"))
        admin_ok(first, "PUT", f"/locations/L-{tag}", site(f"L-{tag}"))
        stations = [Station(cluster, f"CL-{tag}-{i:02d}") for i in range(STATIONS)]
        for s in stations:
            admin_ok(first, "POST", "/stations", {"id": s.sid, "securityProfile": 0})
            admin_ok(first, "PUT", f"/stations/{s.sid}/evses/1", {"location_id": f"L-{tag}", "evse_id": f"NL*VOL*E{s.sid.replace('-', '')}*1", "connectors": [connector(f"T-{tag}")]})
        # The eMSP registers through another node than the catalog was written on: it is one system.
        register(cluster.nodes[1], emsp)

        async def scenario():
            stop = asyncio.Event()
            tasks = [asyncio.create_task(s.run(stop)) for s in stations]
            await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in stations)), 60)
            await asyncio.to_thread(wait, lambda: len(holders(cluster)) == STATIONS, 30, "every station online")
            spread = set(holders(cluster).values())
            assert len(spread) == 3, spread  # HAProxy spread them over the three nodes

            # Commands through every node, whichever holds the station.
            await asyncio.to_thread(command_everyone, cluster, stations, cluster.nodes)

            # SIGKILL the node that holds the most stations: they reconnect through HAProxy to the others.
            counts = {}
            for node_id in holders(cluster).values():
                counts[node_id] = counts.get(node_id, 0) + 1
            victim_id = max(counts, key=counts.get)
            victim = next(n for n in cluster.nodes if holders_of(cluster, n) == victim_id)
            victim.kill()
            survivors = [n for n in cluster.nodes if n is not victim]
            await asyncio.to_thread(wait, lambda: len(holders(cluster)) == STATIONS and victim_id not in holders(cluster).values(), 60,
                                    "every station back online on a live node after the SIGKILL")
            await asyncio.to_thread(wait, lambda: victim_id not in alive_nodes(cluster), 30, "the dead node's lease lapsed")
            await asyncio.to_thread(command_everyone, cluster, stations, survivors)

            # Replacement across nodes: the same station directly on two nodes, one after the other.
            lone = f"CL-{tag}-X"
            admin_ok(survivors[0], "POST", "/stations", {"id": lone, "securityProfile": 0})  # the first node may be the one killed
            a, b = survivors
            async with connect(f"ws://127.0.0.1:{a.port}/ocpp/{lone}", subprotocols=["ocpp1.6"]) as old:
                await old.send(json.dumps([2, "b1", "BootNotification", {"chargePointVendor": "X", "chargePointModel": "Y"}]))
                assert json.loads(await old.recv())[0] == 3
                async with connect(f"ws://127.0.0.1:{b.port}/ocpp/{lone}", subprotocols=["ocpp1.6"]) as new:
                    await new.send(json.dumps([2, "b2", "BootNotification", {"chargePointVendor": "X", "chargePointModel": "Y"}]))
                    assert json.loads(await new.recv())[0] == 3
                    try:
                        await asyncio.wait_for(old.recv(), 10)
                        raise AssertionError("the old socket got a message instead of being closed")
                    except Exception as e:  # noqa: BLE001
                        assert type(e).__name__.startswith("ConnectionClosed"), repr(e)
                    assert old.close_code == 1008, old.close_code
                    new_holder = await asyncio.to_thread(holders_of, cluster, b)
                    assert cluster.sql(f"SELECT online, connected_node FROM stations WHERE id = '{lone}'") == [["t", new_holder]]

                    # A command asked of the old node now travels to the new one, and the station there answers it.
                    async def answer_one():
                        m = json.loads(await asyncio.wait_for(new.recv(), 15))
                        assert m[0] == 2 and m[2] == "ChangeAvailability", m
                        await new.send(json.dumps([3, m[1], {"status": "Scheduled"}]))

                    answering = asyncio.create_task(answer_one())
                    status, body = await asyncio.to_thread(api, a, "POST", f"/stations/{lone}/commands/ChangeAvailability", {"connectorId": 0, "type": "Operative"})
                    await answering
                    assert status == 200 and "Scheduled" in json.dumps(body), (status, body)

            # The killed node comes back, then a rolling restart of all three: SIGTERM, start, next.
            victim.start()
            for node in cluster.nodes:
                node.stop()
                node.start()
                await asyncio.to_thread(wait, lambda: len(holders(cluster)) == STATIONS, 60, f"every station online after restarting a node")
            await asyncio.to_thread(command_everyone, cluster, stations, cluster.nodes)
            # Offline states: every station online on a live node, and the live nodes are the three processes running
            # now (those that left on SIGTERM are gone; the killed one's lease lapsed).
            # A node that left on SIGTERM is gone at once when its leave was recorded, else when its lease lapses (15 s).
            current = {await asyncio.to_thread(holders_of, cluster, n) for n in cluster.nodes}
            assert len(current) == 3, current
            await asyncio.to_thread(wait, lambda: alive_nodes(cluster) == current, 25, "only the three running processes alive")
            live = current
            held = await asyncio.to_thread(holders, cluster)
            assert len(held) == STATIONS and set(held.values()) <= live, held
            await asyncio.sleep(1)
            stop.set()
            await asyncio.gather(*tasks)
            # Stations that went away are offline.
            await asyncio.to_thread(wait, lambda: holders(cluster) == {}, 20, "every station offline once its socket closed")

        asyncio.run(scenario())

        # Nothing acknowledged was lost: every MeterValues a station saw acknowledged is in PostgreSQL, once.
        for s in stations:
            assert len(s.acked) > 10, (s.sid, len(s.acked))
            # Compared in whole milliseconds (a time's microseconds may carry a float's rounding).
            stored = {int(r[0]) for r in cluster.sql(f"SELECT round(extract(epoch FROM sampled_at) * 1000)::int8 FROM meter_values WHERE station_id = '{s.sid}'")}
            missing = [a for a in s.acked if millis(a) not in stored]
            assert not missing, (s.sid, missing[:5], len(s.acked))
            assert s.connects >= 3, (s.sid, s.connects, s.closes)  # it went through the kill or the restarts
        # Outbox: relayed once, pushes each delivered once (no X-Request-ID accepted twice), none left behind.
        wait(lambda: cluster.sql("SELECT count(*) FROM outbox WHERE processed_at IS NULL") == [["0"]], 30, "the outbox relayed")
        wait(lambda: cluster.sql("SELECT count(*) FROM ocpi_pushes WHERE state = 'pending'") == [["0"]], 60, "every push delivered")
        accepted = [p["request_id"] for p in emsp.received() if p["accepted"]]
        assert accepted, "the eMSP got no pushes"
        assert len(accepted) == len(set(accepted)), [r for r in set(accepted) if accepted.count(r) > 1][:5]
        assert cluster.sql("SELECT count(*) FROM ocpi_pushes WHERE state = 'dead'") == [["0"]]
    except BaseException:
        for i, n in enumerate(cluster.nodes):
            print(f"---- node {i} ----")
            print(n.tail(4000))
        raise
    finally:
        emsp.close()
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)


def holders_of(cluster, node):
    """The node id (name-suffix) a node process registered, by its port's name."""
    i = cluster.nodes.index(node)
    rows = cluster.sql(f"SELECT id FROM nodes WHERE name = 'n{i}' AND lease_until > now() ORDER BY started_at DESC LIMIT 1")
    return rows[0][0] if rows else None
