"""Issue 6, "PostgreSQL stopped under load": every outage answer is bounded, the server recovers alone, and
nothing acknowledged is lost or applied twice.

Twenty stations (ten OCPP 1.6, ten 2.0.1) drive transactions continuously against a real `voltaic serve`
started with `--db-timeout 2 --api-timeout 2`. While they run, the embedded PostgreSQL is stopped with
`pg_ctl stop -m fast` and, in a second outage, `-m immediate`, and started again each time with `pg_ctl start`
on the same data directory, port and socket directory; voltaic itself is never restarted.

During each outage:
- `/health` answers 503 with `"database":"down"` (once its 1 s cache has expired), every answer in under 1 s;
- every CALL is answered within the deadline (plus a margin): those that need the database get `InternalError`;
- the admin API answers 503 `application/problem+json` within `--api-timeout` (plus the margin).

Each station behaves like a charger with an offline queue: a CALL answered `InternalError` is sent again
with the same message id until it is acknowledged. Every fifth station also drops its socket with a CALL in
flight and sends it again, same id, after reconnecting: once during each outage (the CALL cannot commit), and
once while PostgreSQL is up (the CALL commits and only its acknowledgement is lost). After each restart
`/health`, the admin API and every station recover on their own, without restarting voltaic. At the end the
database must hold exactly what was acknowledged: every acknowledged message is there, and none is there twice.
The messages are chosen so that a second application would show: StartTransaction and TransactionEvent append
`session.started`/`session.ended` to the outbox, and DataTransfer and NotifyEvent are stored verbatim, kept
from a second application only by their message id.
"""
import asyncio
import collections
import datetime
import json
import statistics
import time
import urllib.error
import urllib.request

from conftest import new_token
from voltaic_server import ADMIN_TOKEN, VoltaicServer
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

DB_TIMEOUT = 2.0  # --db-timeout
API_TIMEOUT = 2.0  # --api-timeout
PING_INTERVAL = 10.0  # --ping-interval, well above --db-timeout (see the test)
MARGIN = 1.5  # scheduling slack on a shared machine, on top of the deadlines
HEALTH_LIMIT = 1.0  # /health answers within a second, always
HEALTH_CACHE = 1.0  # /health may still say "ok" this long after the database went away (its cached probe)
OUTAGE_MODES = ["fast", "immediate"]  # one outage each, in this order
OUTAGE_SECONDS = 6.0  # how long PostgreSQL stays down: several deadlines
STATIONS_16 = 10
STATIONS_201 = 10
PACE = 0.05  # pause between a station's messages
RETRY_PAUSE = 0.5  # pause before sending again what was not acknowledged
NO_ANSWER = 10.0  # a CALL unanswered this long counts as not answered at all; the station reconnects
RECOVERY_LIMIT = 30.0
SHUTDOWN_GRACE = 5.0  # SIGTERM, then SIGKILL (the harness waits 30 s)
WARMUP_ACKS = 60  # acknowledgements wanted before each outage (and at least WARMUP_SECONDS of load)
WARMUP_SECONDS = 2.0
AFTER_RECOVERY_SECONDS = 2.0
BASE = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(days=2)
VENDOR = "org.voltaic.outage"
# Stored verbatim, so that only the message id protects them from a second application (InboundDispatcher.replayGuarded).
REPLAY_GUARDED = {"DataTransfer", "NotifyEvent"}


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


def epoch(dt):
    return str(int(dt.timestamp()))


class Message:
    """One CALL and every attempt to deliver it; retries reuse `id`."""

    def __init__(self, station, id, action, payload):
        self.station, self.id, self.action, self.payload = station, id, action, payload
        # dicts: outcome (result | InternalError | <other code> | dropped-down | dropped-up | closed | no-answer), sent, latency
        self.attempts = []
        self.reply = None

    @property
    def retried(self):
        return len(self.attempts) > 1


class Station:
    """A charger: a deterministic plan of transactions, and delivery that retries until acknowledged."""

    def __init__(self, index, sid, version, token, dropper):
        self.index, self.sid, self.version, self.token, self.dropper = index, sid, version, token, dropper
        self.k = 0  # transaction number
        self.step = 0  # step inside the transaction
        self.seq = 0  # 2.0.1 TransactionEvent seqNo, per station
        self.tx = None  # 1.6 transactionId of the open transaction
        self.msg_no = 0
        self.messages = []  # every Message, acknowledged or not, in order
        self.ws = None
        self.dropped = set()  # ("down", outage) and ("up", phase) in which this station already dropped its socket
        self.unexpected_closes = []
        self.failures = []
        self.last_ack_at = 0.0

    # The plan ----------------------------------------------------------------------------------------------

    def t(self, minutes):
        return BASE + datetime.timedelta(hours=self.k, minutes=minutes + self.index)

    def wh(self, offset):
        return 10000 + 1000 * self.k + offset

    def plan16(self):
        reg = "Energy.Active.Import.Register"
        if self.step == 0:
            return "StartTransaction", {"connectorId": 1, "idTag": self.token, "meterStart": self.wh(0), "timestamp": iso(self.t(0))}
        if self.step in (1, 2, 3):
            j = self.step
            return "MeterValues", {
                "connectorId": 1, "transactionId": self.tx,
                "meterValue": [{"timestamp": iso(self.t(j)), "sampledValue": [{"value": str(self.wh(100 * j)), "measurand": reg, "unit": "Wh", "context": "Sample.Periodic"}]}],
            }
        if self.step == 4:
            return "DataTransfer", {"vendorId": VENDOR, "messageId": "probe", "data": f"{self.sid}/{self.k}"}
        return "StopTransaction", {"transactionId": self.tx, "meterStop": self.wh(500), "timestamp": iso(self.t(5)), "reason": "EVDisconnected", "idTag": self.token}

    def plan201(self):
        uid = f"{self.sid}-tx{self.k}"

        def register(minutes, offset, context):
            return [{"timestamp": iso(self.t(minutes)), "sampledValue": [
                {"value": self.wh(offset), "context": context, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}}]}]

        def event(kind, trigger, minutes, offset, context, **extra):
            info = {"transactionId": uid, **extra.pop("info", {})}
            return "TransactionEvent", {"eventType": kind, "timestamp": iso(self.t(minutes)), "triggerReason": trigger, "seqNo": self.seq,
                                        "transactionInfo": info, "meterValue": register(minutes, offset, context), **extra}

        if self.step == 0:
            return event("Started", "Authorized", 0, 0, "Transaction.Begin", idToken={"idToken": self.token, "type": "ISO14443"},
                         evse={"id": 1, "connectorId": 1}, info={"chargingState": "Charging"})
        if self.step == 1:
            return event("Updated", "MeterValuePeriodic", 2, 200, "Sample.Periodic")
        if self.step == 2:
            return "MeterValues", {"evseId": 1, "meterValue": [{"timestamp": iso(self.t(3)), "sampledValue": [
                {"value": 7000, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}}]}]}
        if self.step == 3:
            return "NotifyEvent", {"generatedAt": iso(self.t(3)), "seqNo": self.k, "eventData": [{
                "eventId": self.k, "timestamp": iso(self.t(3)), "trigger": "Delta", "actualValue": "Occupied",
                "eventNotificationType": "HardWiredNotification", "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                "variable": {"name": "AvailabilityState"}}]}
        if self.step == 4:
            return event("Updated", "MeterValuePeriodic", 4, 400, "Sample.Periodic")
        return event("Ended", "EVDeparted", 5, 500, "Transaction.End", info={"stoppedReason": "EVDisconnected"})

    def next_message(self):
        action, payload = self.plan16() if self.version == "1.6" else self.plan201()
        self.msg_no += 1
        return Message(self, f"{self.sid}-{self.msg_no}", action, payload)

    def advance(self, msg):
        if msg.action == "StartTransaction":
            self.tx = msg.reply["transactionId"]
        if msg.action == "TransactionEvent":
            self.seq += 1
        self.step += 1
        if self.step == 6:
            self.step, self.k, self.tx = 0, self.k + 1, None


class Run:
    """The whole scenario and what it saw."""

    def __init__(self, server, stations):
        self.server, self.stations = server, stations
        self.outage = None  # index of the outage under way, or None
        self.up_phase = -1  # the outage the stations last recovered from (-1: before the first)
        self.finish = asyncio.Event()
        self.health = []  # (sent, latency, status, body, outage index or None)
        self.api_probes = []  # (sent, latency, status, content type, body)
        self.outages = []  # dicts: mode, stopped, started, health_ok_after, api_ok_after, stations_ok_after
        self.problems = []  # what went wrong while the scenario ran (a recovery that did not come)

    @property
    def acks(self):
        return sum(1 for s in self.stations for m in s.messages if m.reply is not None)

    # Stations ------------------------------------------------------------------------------------------------

    async def connect(self, st):
        subprotocol = "ocpp1.6" if st.version == "1.6" else "ocpp2.0.1"
        give_up = time.monotonic() + RECOVERY_LIMIT + OUTAGE_SECONDS + 10
        while True:
            try:
                st.ws = await connect(f"{self.server.ws_url}/{st.sid}", subprotocols=[subprotocol], open_timeout=NO_ANSWER, max_queue=None)
                return
            except (OSError, InvalidHandshake, TimeoutError) as e:
                # During an outage the handshake (which reads the station from the database) may fail or hang.
                if time.monotonic() > give_up:
                    raise AssertionError(f"{st.sid} could not reconnect: {e!r}")
                await asyncio.sleep(1.0)

    async def deliver(self, st, msg):
        """Sends `msg` until it is acknowledged; every attempt is recorded."""
        st.messages.append(msg)
        frame = json.dumps([2, msg.id, msg.action, msg.payload])
        give_up = time.monotonic() + 2 * RECOVERY_LIMIT + len(OUTAGE_MODES) * OUTAGE_SECONDS
        while True:
            if self.finish.is_set() and self.problems:
                return  # the run failed already: leave it unacknowledged
            if time.monotonic() > give_up:
                raise AssertionError(f"{st.sid}: {msg.action} {msg.id} never acknowledged: {msg.attempts}")
            if st.ws is None:
                await self.connect(st)
            sent = time.monotonic()
            drop = None
            if st.dropper and self.outage is not None:
                # While PostgreSQL is down: the CALL is in flight when the socket goes; it cannot commit.
                drop = ("down", self.outage)
            elif st.dropper and msg.action in REPLAY_GUARDED and not self.finish.is_set():
                # While it is up: the CALL commits, but its answer never reaches the station (a lost
                # acknowledgement). Only the message id tells the retry from a new message.
                drop = ("up", self.up_phase)
            if drop and drop not in st.dropped:
                st.dropped.add(drop)
                await st.ws.send(frame)
                await asyncio.sleep(0.3)
                await st.ws.close()  # the answer, if any, is never read
                st.ws = None
                msg.attempts.append({"outcome": f"dropped-{drop[0]}", "sent": sent, "latency": None})
                continue
            try:
                await st.ws.send(frame)
                raw = await asyncio.wait_for(st.ws.recv(), NO_ANSWER)
            except TimeoutError:
                msg.attempts.append({"outcome": "no-answer", "sent": sent, "latency": None})
                await st.ws.close()
                st.ws = None
                continue
            except ConnectionClosed as e:
                st.unexpected_closes.append((time.monotonic(), repr(e)))
                msg.attempts.append({"outcome": "closed", "sent": sent, "latency": None, "error": repr(e)})
                st.ws = None
                await asyncio.sleep(RETRY_PAUSE)
                continue
            latency = time.monotonic() - sent
            reply = json.loads(raw)
            if reply[1] != msg.id:
                raise AssertionError(f"{st.sid}: answer to {msg.id} carries id {reply[1]}: {reply}")
            if reply[0] == 3:
                msg.attempts.append({"outcome": "result", "sent": sent, "latency": latency})
                msg.reply = reply[2]
                st.last_ack_at = time.monotonic()
                return
            msg.attempts.append({"outcome": reply[2], "sent": sent, "latency": latency, "error": reply})
            if reply[2] != "InternalError":
                raise AssertionError(f"{st.sid}: {msg.action} {msg.id} refused with {reply}")
            await asyncio.sleep(RETRY_PAUSE)

    async def drive(self, st):
        try:
            await self.connect(st)
            boot = Message(st, f"{st.sid}-boot", "BootNotification",
                           {"chargePointVendor": "Outage", "chargePointModel": "Test"} if st.version == "1.6"
                           else {"chargingStation": {"vendorName": "Outage", "model": "Test"}, "reason": "PowerUp"})
            await self.deliver(st, boot)
            assert boot.reply and boot.reply["status"] == "Accepted", boot.reply
            while not self.finish.is_set():
                msg = st.next_message()
                await self.deliver(st, msg)
                if msg.reply is None:
                    return
                st.advance(msg)
                await asyncio.sleep(PACE)
        except Exception as e:  # noqa: BLE001 - reported by the test, with the station
            st.failures.append(repr(e))
        finally:
            if st.ws is not None:
                await st.ws.close()

    # Probes ----------------------------------------------------------------------------------------------------

    def http(self, path, token=None):
        """One request on a fresh connection: (sent, latency, status, content type, body)."""
        req = urllib.request.Request(self.server.base_url + path)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        sent = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, ctype, body = r.status, r.headers.get("Content-Type"), r.read()
        except urllib.error.HTTPError as e:
            status, ctype, body = e.code, e.headers.get("Content-Type"), e.read()
        latency = time.monotonic() - sent
        try:
            body = json.loads(body)
        except ValueError:
            body = body.decode(errors="replace")
        return sent, latency, status, ctype, body

    async def probe_health(self):
        sent, latency, status, _, body = await asyncio.to_thread(self.http, "/health")
        self.health.append((sent, latency, status, body, self.outage))
        return status, body

    async def probe_api(self, station):
        # A read the database must answer: the station's transactions.
        probe = await asyncio.to_thread(self.http, f"/api/v1/transactions?stationId={station}", ADMIN_TOKEN)
        self.api_probes.append(probe)
        return probe

    async def until(self, condition, limit, what, step=0.25):
        t0 = time.monotonic()
        while not await condition():
            if time.monotonic() - t0 > limit:
                raise AssertionError(f"{what} not within {limit} s")
            await asyncio.sleep(step)
        return time.monotonic() - t0

    # The scenario ------------------------------------------------------------------------------------------

    async def one_outage(self, n, mode):
        record = {"mode": mode}
        self.outages.append(record)
        acks_before = self.acks
        t_load = time.monotonic()

        async def warmed_up():
            return self.acks - acks_before >= WARMUP_ACKS and time.monotonic() - t_load >= WARMUP_SECONDS

        await self.until(warmed_up, 60, f"{WARMUP_ACKS} acknowledgements before outage {n}")
        record["acks_before"] = self.acks
        await asyncio.to_thread(self.server.stop_postgres, mode)
        record["stopped"] = time.monotonic()
        self.outage = n

        async def health_loop():
            while time.monotonic() - record["stopped"] < OUTAGE_SECONDS:
                await self.probe_health()
                await asyncio.sleep(0.25)

        async def api_checks():
            for at in (HEALTH_CACHE, OUTAGE_SECONDS - API_TIMEOUT - MARGIN):
                await asyncio.sleep(max(0.0, record["stopped"] + at - time.monotonic()))
                record.setdefault("api", []).append(await self.probe_api(self.stations[n].sid))

        await asyncio.gather(health_loop(), api_checks())
        record["start_requested"] = time.monotonic()
        await asyncio.to_thread(self.server.start_postgres)
        record["started"] = time.monotonic()
        self.outage = None

        async def health_ok():
            return (await self.probe_health())[0] == 200

        async def api_ok():
            return (await self.probe_api(self.stations[0].sid))[2] == 200

        async def stations_ok():
            return all(st.last_ack_at > record["started"] or st.failures for st in self.stations)

        def stuck():
            return {st.sid: {"last": st.messages[-1].action if st.messages else None, "id": st.messages[-1].id if st.messages else None,
                             "attempts": [(a["outcome"], round(a["sent"] - record["started"], 2), a["latency"] and round(a["latency"], 2))
                                          for a in (st.messages[-1].attempts[-6:] if st.messages else [])],
                             "connected": st.ws is not None}
                    for st in self.stations if not st.last_ack_at > record["started"]}

        record["health_ok_after"] = await self.until(health_ok, RECOVERY_LIMIT, f"/health 200 after outage {n}", step=0.5)
        await self.until(api_ok, RECOVERY_LIMIT, f"admin API 200 after outage {n}", step=0.5)
        record["api_ok_after"] = time.monotonic() - record["started"]
        try:
            await self.until(stations_ok, RECOVERY_LIMIT, f"every station acknowledged again after outage {n} ({mode})")
        except AssertionError as e:
            waiting = stuck()
            raise AssertionError(f"{e}: {len(waiting)} stations still get only InternalError, e.g. (outcome, sent and latency in s after pg_ctl start): "
                                 f"{dict(list(waiting.items())[:3])}\n{await self.diagnose()}") from None
        record["stations_ok_after"] = time.monotonic() - record["started"]
        self.up_phase = n

    async def diagnose(self):
        """What the server and PostgreSQL are doing when the stations do not recover."""
        def collect():
            with open(self.server.log_path, "rb") as f:
                log = f.read().decode(errors="replace")
            try:
                activity = self.server.sql("SELECT state, coalesce(wait_event, ''), left(query, 60), count(*) FROM pg_stat_activity "
                                           "WHERE datname = 'voltaic' AND pid <> pg_backend_pid() GROUP BY 1, 2, 3")
            except Exception as e:  # noqa: BLE001
                activity = repr(e)
            lines = [line for line in log.splitlines() if "Connection creation failed" not in line and "could not apply" not in line]
            return (f"voltaic's sessions in pg_stat_activity (state, wait event, query, count): {activity}\n"
                    f"'group commit failed' logged {log.count('group commit failed')} times, 'database deadline passed' {log.count('database deadline passed')} times\n"
                    + "\n".join(lines[-12:]))
        return await asyncio.to_thread(collect)

    async def scenario(self):
        drivers = [asyncio.create_task(self.drive(st)) for st in self.stations]
        try:
            try:
                for n, mode in enumerate(OUTAGE_MODES):
                    await self.one_outage(n, mode)
                await asyncio.sleep(AFTER_RECOVERY_SECONDS)
            except AssertionError as e:
                self.problems.append(str(e))  # no further outage; the load stops and what was stored is checked
            self.finish.set()
            # Each station finishes the message it is delivering; one that cannot is left unacknowledged.
            await asyncio.wait([*drivers], timeout=RECOVERY_LIMIT if not self.problems else 2 * RETRY_PAUSE + DB_TIMEOUT)
        finally:
            for d in drivers:
                d.cancel()
            await asyncio.gather(*drivers, return_exceptions=True)


# What the database must hold -------------------------------------------------------------------------------------


def expected_state(stations):
    """The rows that the acknowledged messages, each applied exactly once, leave (as multisets of tuples), and
    what is wrong with the replies themselves."""
    tx, meters, tx_events, events, outbox = {}, collections.Counter(), collections.Counter(), collections.Counter(), collections.Counter()
    problems = []
    for st in stations:
        outbox[(st.sid, "", "station.booted")] += 1
        for m in st.messages:
            if m.reply is None:
                continue
            p = m.payload
            if m.action == "StartTransaction":
                if m.reply["idTagInfo"]["status"] != "Accepted":
                    problems.append(f"{st.sid} {m.id}: StartTransaction answered {m.reply}")
                uid = str(m.reply["transactionId"])
                tx[(st.sid, uid)] = {"ocpp": "ocpp1.6", "state": "Active", "start": str(p["meterStart"]), "stop": "", "energy": ""}
                outbox[(st.sid, uid, "session.started")] += 1
            elif m.action == "MeterValues" and st.version == "1.6":
                for mv in p["meterValue"]:
                    for sv in mv["sampledValue"]:
                        meters[(st.sid, str(p["transactionId"]), epoch(datetime.datetime.fromisoformat(mv["timestamp"])), sv["measurand"], sv["value"])] += 1
            elif m.action == "StopTransaction":
                uid = str(p["transactionId"])
                tx[(st.sid, uid)].update(state="Ended", stop=str(p["meterStop"]), energy=str(p["meterStop"] - int(tx[(st.sid, uid)]["start"])))
                outbox[(st.sid, uid, "session.ended")] += 1
            elif m.action == "TransactionEvent":
                uid = p["transactionInfo"]["transactionId"]
                samples = [(mv["timestamp"], sv) for mv in p["meterValue"] for sv in mv["sampledValue"]]
                for ts, sv in samples:
                    meters[(st.sid, uid, epoch(datetime.datetime.fromisoformat(ts)), sv["measurand"], str(sv["value"]))] += 1
                tx_events[(st.sid, uid, str(p["seqNo"]), p["eventType"])] += 1
                if p["eventType"] == "Started":
                    if m.reply["idTokenInfo"]["status"] != "Accepted":
                        problems.append(f"{st.sid} {m.id}: TransactionEvent Started answered {m.reply}")
                    tx[(st.sid, uid)] = {"ocpp": "ocpp2.0.1", "state": "Active", "start": str(samples[0][1]["value"]), "stop": "", "energy": ""}
                    outbox[(st.sid, uid, "session.started")] += 1
                elif p["eventType"] == "Ended":
                    end = samples[-1][1]["value"]
                    tx[(st.sid, uid)].update(state="Ended", stop=str(end), energy=str(end - int(tx[(st.sid, uid)]["start"])))
                    outbox[(st.sid, uid, "session.ended")] += 1
            elif m.action == "MeterValues":
                for mv in p["meterValue"]:
                    for sv in mv["sampledValue"]:
                        meters[(st.sid, "", epoch(datetime.datetime.fromisoformat(mv["timestamp"])), sv["measurand"], str(sv["value"]))] += 1
            elif m.action == "DataTransfer":
                events[(st.sid, "DataTransfer", p["data"])] += 1
            elif m.action == "NotifyEvent":
                events[(st.sid, "NotifyEvent", str(p["seqNo"]))] += 1
    transactions = collections.Counter((sid, uid, v["ocpp"], v["state"], v["start"], v["stop"], v["energy"], "f") for (sid, uid), v in tx.items())
    return {"transactions": transactions, "meter_values": meters, "transaction_events": tx_events, "station_events": events, "outbox": outbox}, problems


def database_state(server):
    mine = "LIKE 'PGO-%'"
    rows = {
        "transactions": server.sql(
            f"SELECT station_id, uid, ocpp_version, state, coalesce(meter_start_wh::text, ''), coalesce(meter_stop_wh::text, ''), "
            f"coalesce(energy_wh::text, ''), CASE WHEN suspect THEN 't' ELSE 'f' END FROM transactions WHERE station_id {mine}"),
        "meter_values": server.sql(
            "SELECT m.station_id, coalesce(t.uid, ''), extract(epoch FROM m.sampled_at)::bigint::text, m.measurand, m.raw_value "
            f"FROM meter_values m LEFT JOIN transactions t ON t.id = m.transaction_id WHERE m.station_id {mine}"),
        "transaction_events": server.sql(
            "SELECT t.station_id, t.uid, e.seq_no::text, e.event_type FROM transaction_events e JOIN transactions t ON t.id = e.transaction_id "
            f"WHERE t.station_id {mine}"),
        "station_events": server.sql(
            f"SELECT station_id, kind, coalesce(payload->>'data', payload->>'seqNo', '') FROM station_events WHERE station_id {mine}"),
        "outbox": server.sql(
            "SELECT payload->>'stationId', coalesce(payload->>'uid', ''), topic FROM outbox "
            f"WHERE payload->>'stationId' {mine}"),
    }
    return {k: collections.Counter(tuple(r) for r in v) for k, v in rows.items()}


def normalise_201_raw_values(state):
    """2.0.1 sampled values are numbers; the server keeps them as it printed them ("10000.0")."""
    meters = collections.Counter()
    for (sid, uid, ts, measurand, raw), n in state["meter_values"].items():
        if raw.endswith(".0"):
            raw = raw[:-2]
        meters[(sid, uid, ts, measurand, raw)] += n
    state["meter_values"] = meters
    return state


def diff(expected, actual):
    lost = expected - actual
    extra = actual - expected
    return {"missing (acknowledged, not stored)": dict(list(lost.items())[:10]), "extra (stored twice or never acknowledged)": dict(list(extra.items())[:10])}


# The test --------------------------------------------------------------------------------------------------------


def test_postgres_outage_under_load_is_answered_recovered_and_loses_nothing():
    # The harness pings every 2 s; a pong is only read between two messages of the station, and during the outage
    # each message takes the whole --db-timeout, so pings are spaced well past it here (the last flag wins).
    server = VoltaicServer(extra_args=["--db-timeout", str(DB_TIMEOUT), "--api-timeout", str(API_TIMEOUT), "--ping-interval", str(PING_INTERVAL)]).start()
    try:
        stations = []
        for i in range(STATIONS_16 + STATIONS_201):
            version = "1.6" if i < STATIONS_16 else "2.0.1"
            sid = f"PGO-{version.replace('.', '')}-{i:02d}"
            assert server.api("POST", "/stations", {"id": sid, "securityProfile": 0})[0] == 201
            # Every fifth station drops its socket with a CALL in flight: once in each outage, and once between outages.
            stations.append(Station(i, sid, version, new_token(server), dropper=i % 5 == 0))
        run = Run(server, stations)
        asyncio.run(asyncio.wait_for(run.scenario(), 150))
        print("\n" + json.dumps(summarise(run), indent=1))

        # Every claim is checked, also after one failed, so that a failure shows the whole picture.
        problems = list(run.problems)

        def check(ok, what):
            if not ok:
                problems.append(what)

        for st in stations:
            check(not st.failures, f"{st.sid} failed: {st.failures}")

        # 1. /health: always under a second; 503 "database":"down" once its cache has expired, until PostgreSQL is back.
        outages = [o for o in run.outages if "start_requested" in o]  # those that stopped PostgreSQL and started it again
        for n, o in enumerate(outages):
            during = [h for h in run.health if h[4] == n and h[0] >= o["stopped"] + HEALTH_CACHE]
            check(len(during) >= 5, f"too few health probes in outage {n}: {during}")
            bad = [h for h in during if h[2] != 503 or not isinstance(h[3], dict) or h[3].get("database") != "down"]
            check(not bad, f"/health during outage {n} ({o['mode']}) did not say 503 database down: {bad}")
        slow = [h for h in run.health if h[1] >= HEALTH_LIMIT]
        check(not slow, f"/health took {HEALTH_LIMIT} s or more: {slow}")

        # 2. Every CALL answered within --db-timeout (+ margin); the outage gives InternalError, nothing else.
        attempts = [(st.sid, m.id, m.action, a) for st in stations for m in st.messages for a in m.attempts]
        unanswered = [x for x in attempts if x[3]["outcome"] in ("no-answer", "closed")]
        check(not unanswered, f"CALLs not answered (no reply within {NO_ANSWER} s, or the server closed the socket): {unanswered[:10]}")
        late = [x for x in attempts if x[3]["latency"] is not None and x[3]["latency"] > DB_TIMEOUT + MARGIN]
        check(not late, f"answers later than {DB_TIMEOUT} + {MARGIN} s: {late[:10]}")
        for n, o in enumerate(outages):
            # Stations that keep their socket send all through the outage: each must have been told InternalError.
            told = {st.sid: sum(1 for m in st.messages for a in m.attempts if a["outcome"] == "InternalError" and o["stopped"] <= a["sent"] < o["start_requested"])
                    for st in stations if not st.dropper}
            check(all(told.values()), f"outage {n} ({o['mode']}): InternalError answers by station: {told}")

        # 3. The admin API: 503 application/problem+json within --api-timeout (+ margin).
        for n, o in enumerate(outages):
            check(len(o.get("api", [])) == 2, f"outage {n}: admin API probes missing: {o.get('api')}")
            for sent, latency, status, ctype, body in o.get("api", []):
                ok = status == 503 and (ctype or "").startswith("application/problem+json") and isinstance(body, dict) and body.get("status") == 503
                check(ok, f"outage {n}: admin API answered {status} {ctype} {body}, not a 503 problem")
                check(latency <= API_TIMEOUT + MARGIN, f"outage {n}: admin API answered after {latency:.2f} s")

        # 4. Recovered alone: /health 200, admin API 200 and every station acknowledged again, each within
        #    RECOVERY_LIMIT of `pg_ctl start` (Run.one_outage records a problem otherwise); voltaic never restarted.
        check(len(outages) == len(OUTAGE_MODES), f"only {len(outages)} of {len(OUTAGE_MODES)} outages ran")
        check(server.process.poll() is None, "voltaic serve exited")

        # 5. Every unacknowledged CALL was accepted on retry with the same id, and every station had some.
        never = [(st.sid, m.id, m.action, [a["outcome"] for a in m.attempts][-3:]) for st in stations for m in st.messages if m.reply is None]
        check(not never, f"{len(never)} messages never acknowledged, though sent again with the same id: {never[:10]}")
        unretried = [st.sid for st in stations if not any(m.retried and m.reply is not None for m in st.messages)]
        check(not unretried, f"stations with no message acknowledged on retry (the outage did not reach them?): {unretried}")
        droppers = [st for st in stations if st.dropper]
        recovered = sum(1 for o in run.outages if "stations_ok_after" in o)
        for kind, want in (("dropped-down", len(outages)), ("dropped-up", recovered + 1)):
            done = {st.sid: sum(1 for m in st.messages if m.reply is not None and any(a["outcome"] == kind for a in m.attempts)) for st in droppers}
            check(all(n >= want for n in done.values()), f"CALLs {kind} then acknowledged after reconnecting, by station: {done} (want {want} each)")

        # 6. The database holds exactly what was acknowledged: nothing lost, nothing applied twice.
        expected, replies = expected_state(stations)
        problems += replies
        actual = normalise_201_raw_values(database_state(server))
        # A message left unacknowledged (only when the run failed) may have committed before its InternalError.
        note = f" ({len(never)} messages were left unacknowledged: an extra row may be one of them, stored once)" if never else ""
        for table in expected:
            check(actual[table] == expected[table], f"{table} differs from the acknowledged messages{note}: {diff(expected[table], actual[table])}")

        assert not problems, f"{len(problems)} problem(s):\n- " + "\n- ".join(p[:3000] for p in problems)
    finally:
        t = time.monotonic()
        server.stop(timeout=SHUTDOWN_GRACE)
        print(f"voltaic serve after SIGTERM: exit status {server.process.returncode} after {time.monotonic() - t:.1f} s")
        server.destroy()


def summarise(run):
    msgs = [m for st in run.stations for m in st.messages]
    errors = [a["latency"] for m in msgs for a in m.attempts if a["outcome"] == "InternalError"]
    health_down = [h[1] for h in run.health if h[2] == 503]
    return {
        "acknowledged": sum(1 for m in msgs if m.reply is not None),
        "retried_then_acknowledged": sum(1 for m in msgs if m.retried and m.reply is not None),
        **{f"{kind}_then_acknowledged": sum(1 for m in msgs if m.reply is not None and any(a["outcome"] == kind for a in m.attempts))
           for kind in ("dropped-down", "dropped-up")},
        "internal_errors": len(errors),
        "internal_errors_by_outage": [sum(1 for m in msgs for a in m.attempts if a["outcome"] == "InternalError" and o["stopped"] <= a["sent"] < o["start_requested"])
                                      for o in run.outages if "start_requested" in o],
        "internal_error_latency_s": {"min": round(min(errors), 3), "median": round(statistics.median(errors), 3), "max": round(max(errors), 3)} if errors else None,
        "health_503_latency_s": {"min": round(min(health_down), 3), "max": round(max(health_down), 3), "n": len(health_down)} if health_down else None,
        "health_max_latency_s": round(max(h[1] for h in run.health), 3) if run.health else None,
        "api_503_latency_s": [round(p[1], 3) for o in run.outages for p in o.get("api", [])],
        "unexpected_closes": {st.sid: st.unexpected_closes for st in run.stations if st.unexpected_closes},
        "outages": [{"mode": o["mode"], "acks_before": o.get("acks_before"), "down_s": round(o["start_requested"] - o["stopped"], 2) if "start_requested" in o else None,
                     **{k + "_s": round(o[k], 2) if k in o else None for k in ("health_ok_after", "api_ok_after", "stations_ok_after")}} for o in run.outages],
    }
