"""OCPI 2.2.1 pushes, CPO -> eMSP: the independent eMSP (Tests/Interop/emsp) registers with its own `voltaic serve`
and receives PUTs of Locations, EVSEs and Tariffs and DELETEs of Tariffs. What it stores from the pushes must end
equal to what it pulls, whatever happened on the way: the eMSP down for a while, the server killed with SIGKILL,
a partner that refuses a module (a dead letter an admin replays).

Each test starts its own server with a fast retry backoff (`--ocpi-push-backoff`, `--ocpi-push-backoff-max`) so
that retries happen within seconds."""
import asyncio
import contextlib
import collections
import copy
import time
import types
import uuid

from charge_points import connected, now, run
from emsp.party import EMSP, instant
from ocpp.v16 import call
from test_ocpi import admin_ok, connector, register, site, tariff_body
from voltaic_server import VoltaicServer

CPO = ("NL", "VOL")
FAST_BACKOFF = ["--ocpi-push-backoff", "0.2", "--ocpi-push-backoff-max", "1"]


def start_server(attempts, data_dir=None, port=None):
    server = VoltaicServer(data_dir=data_dir, extra_args=FAST_BACKOFF + ["--ocpi-push-attempts", str(attempts)])
    if port is not None:
        server.port = port  # a restart keeps the URLs the partner was given
    return server.start()


def dump_on_failure(server, emsp):
    """What a failing test prints: the server's log tail and the eMSP's last requests."""
    print("---- voltaic serve log tail ----")
    print(server.tail(12000))
    print("---- last pushes received by the eMSP ----")
    for p in emsp.received()[-30:]:
        print(p["method"], p["path"], p["status"], p["request_id"], p["problems"])


@contextlib.contextmanager
def running(server, emsp):
    """The test's server and eMSP: on a failure the server's log tail and the eMSP's last pushes are printed; both
    are stopped either way. A test that starts the server again sets the scene's `server` to the new one."""
    scene = types.SimpleNamespace(server=server)
    try:
        yield scene
    except BaseException:
        dump_on_failure(scene.server, emsp)
        raise
    finally:
        emsp.close()
        scene.server.destroy()


def wait_until(check, timeout=30.0, interval=0.25):
    """Polls `check` (None when satisfied, else a description of what is still wrong) until it is satisfied or
    `timeout` seconds have passed; then fails with the last description."""
    deadline = time.time() + timeout
    while True:
        wrong = check()
        if wrong is None:
            return
        if time.time() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {wrong}")
        time.sleep(interval)


async def wait_until_async(check, timeout=30.0):
    """`wait_until` on a thread, so that a connected charge point's event loop keeps answering meanwhile."""
    await asyncio.to_thread(wait_until, check, timeout)


def push_list(server, partner_id, state=None):
    query = f"?partnerId={partner_id}&limit=1000" + (f"&state={state}" if state else "")
    status, body = server.api("GET", "/ocpi/pushes" + query)
    assert status == 200, (status, body)
    items = body["items"]
    assert [i["id"] for i in items] == sorted(i["id"] for i in items), "the pushes are not ordered by id"
    for item in items:
        assert item["partnerId"] == partner_id, item
        if state:
            assert item["state"] == state, item
    return items


class Pull:
    """The CPO's state as the eMSP pulls it with token C."""

    def __init__(self, emsp, token, endpoints):
        self.emsp, self.token = emsp, token
        self.locations_url = endpoints[("locations", "SENDER")]
        self.tariffs_url = endpoints[("tariffs", "SENDER")]

    def location(self, location_id):
        status, _, body = self.emsp.call("GET", f"{self.locations_url}/{location_id}", self.token)
        assert status == 200 and body["status_code"] == 1000, (status, body)
        return body["data"]

    def tariffs(self):
        objects, _, _ = self.emsp.pull_all(self.tariffs_url, self.token, limit=100)
        return {t["id"]: t for t in objects}


def normalized(location):
    """A location with its EVSEs in uid order: a receiver appends an EVSE it is first sent on its own, so the
    order of the list is not the sender's to keep. Every field is compared."""
    if location is None:
        return None
    location = copy.deepcopy(location)
    if isinstance(location.get("evses"), list):
        location["evses"] = sorted(location["evses"], key=lambda e: str(e.get("uid")).upper())
    return location


def difference(emsp, pull, locations=(), tariffs=(), deleted_tariffs=()):
    """None when the eMSP's stored objects equal the pulled ones, else the first difference."""
    for location_id in locations:
        pulled, stored = pull.location(location_id), emsp.stored_location(*CPO, location_id)
        if normalized(stored) != normalized(pulled):
            return f"location {location_id}: stored {stored} != pulled {pulled}"
    if tariffs or deleted_tariffs:
        pulled = pull.tariffs()
        for tariff_id in tariffs:
            if tariff_id not in pulled:
                return f"tariff {tariff_id} is not pulled"
            stored = emsp.stored_tariff(*CPO, tariff_id)
            if stored != pulled[tariff_id]:
                return f"tariff {tariff_id}: stored {stored} != pulled {pulled[tariff_id]}"
        for tariff_id in deleted_tariffs:
            if tariff_id in pulled:
                return f"deleted tariff {tariff_id} is still pulled"
            if emsp.stored_tariff(*CPO, tariff_id) is not None:
                return f"deleted tariff {tariff_id} is still stored at the eMSP"
    return None


def check_requests(emsp, received):
    """Every request to the receivers: a valid body, token B Base64-encoded, routing headers, message ids."""
    assert received, "the eMSP received no push"
    for p in received:
        assert p["problems"] == [], p
        assert p["authorization"] == "base64", p
        assert p["request_id"] and p["correlation_id"], p
        assert p["from"] == CPO, p
        assert p["to"] == (emsp.country_code, emsp.party_id), p
        assert (p["country_code"], p["party_id"]) == CPO, p
        assert p["method"] in ("PUT", "DELETE"), p
        if p["method"] == "PUT" and p["accepted"]:
            assert (p["content_type"] or "").startswith("application/json"), p
            assert p["body"] is not None, p
        if p["method"] == "DELETE":
            assert p["kind"] in ("tariff", None), p


def check_retries_keep_their_ids(received):
    """A request id seen more than once is a retry of one push: the same method, URL and correlation id.
    Returns the requests by id."""
    by_id = collections.defaultdict(list)
    for p in received:
        by_id[p["request_id"]].append(p)
    for request_id, same in by_id.items():
        assert len({(p["method"], p["path"]) for p in same}) == 1, (request_id, [(p["method"], p["path"]) for p in same])
        assert len({p["correlation_id"] for p in same}) == 1, (request_id, [p["correlation_id"] for p in same])
    return by_id


def check_never_backwards(accepted):
    """Per object, the last_updated the eMSP was sent (and so stores) never goes backwards. A location's own stamp
    is at least that of every EVSE it was sent before (its last_updated is the latest of its EVSEs')."""
    seen = {}
    checked = 0

    def see(key, stamp, bump_only=False):
        nonlocal checked
        t = instant(stamp)
        if not bump_only:
            assert t >= seen.get(key, t), f"{key}: last_updated went back from {seen[key]} to {t}"
            checked += 1
        seen[key] = max(t, seen.get(key, t))

    for p in accepted:
        if p["method"] != "PUT":
            continue
        body = p["body"]
        if p["kind"] == "tariff":
            see(("tariff", p["object_id"].upper()), body["last_updated"])
        elif p["kind"] == "location":
            see(("location", p["object_id"].upper()), body["last_updated"])
            for e in body.get("evses") or []:
                see(("evse", p["object_id"].upper(), e["uid"].upper()), e["last_updated"])
        elif p["kind"] == "evse":
            see(("evse", p["object_id"].upper(), p["evse_uid"].upper()), body["last_updated"])
            see(("location", p["object_id"].upper()), body["last_updated"], bump_only=True)
    return checked


def target_of(p):
    return "/".join(p["parts"][2:])


def new_station(server, station_id, placements):
    """A station with EVSEs: `placements` is a list of (location id, tariff id), EVSE 1 first."""
    admin_ok(server, "POST", "/stations", {"id": station_id, "securityProfile": 0})
    for n, (location_id, tariff_id) in enumerate(placements, start=1):
        admin_ok(server, "PUT", f"/stations/{station_id}/evses/{n}", {
            "location_id": location_id, "evse_id": f"NL*VOL*E{station_id.replace('-', '')}*{n}",
            "capabilities": ["RFID_READER", "REMOTE_START_STOP_CAPABLE"], "connectors": [connector(tariff_id)],
        })


async def boot(cp):
    await cp.call(call.BootNotification(charge_point_model="Push", charge_point_vendor="Interop"))


async def status(cp, connector_id, value):
    await cp.call(call.StatusNotification(connector_id=connector_id, error_code="NoError", status=value, timestamp=now()))


def evse_status(emsp, location_id, uid):
    stored = emsp.stored_location(*CPO, location_id)
    for e in (stored or {}).get("evses") or []:
        if e["uid"].upper() == uid.upper():
            return e["status"]
    return None


# --------------------------------------------------------------------------------------------------------------


def test_pushes_arrive_valid_in_order_and_match_the_pull():
    server = start_server(attempts=5)
    emsp = EMSP(party_id="EP1")
    with running(server, emsp):
        partner, _, token_c, endpoints = register(server, emsp)
        pid, pull = partner["id"], Pull(emsp, token_c, endpoints)
        tag = uuid.uuid4().hex[:6].upper()
        tariff, spare, loc, sid = f"T-{tag}", f"TX-{tag}", f"LOC-{tag}", f"PUSH-{tag}"
        uid = f"{sid}-1"

        admin_ok(server, "PUT", f"/tariffs/{tariff}", tariff_body(tariff))
        admin_ok(server, "PUT", f"/tariffs/{spare}", tariff_body(spare, price="0.31"))
        admin_ok(server, "PUT", f"/locations/{loc}", site(loc))
        new_station(server, sid, [(loc, tariff)])
        wait_until(lambda: difference(emsp, pull, [loc], [tariff, spare]))
        # Never connected: the EVSE went out UNKNOWN.
        assert evse_status(emsp, loc, uid) == "UNKNOWN"

        async def charge():
            async with connected(server, sid) as cp:
                await boot(cp)
                await status(cp, 1, "Charging")
                await wait_until_async(lambda: difference(emsp, pull, [loc]) or (None if evse_status(emsp, loc, uid) == "CHARGING" else "not CHARGING yet"))

        run(charge())
        # The socket closed: the station is offline, its EVSE pushed UNKNOWN.
        wait_until(lambda: difference(emsp, pull, [loc]) or (None if evse_status(emsp, loc, uid) == "UNKNOWN" else "not UNKNOWN yet"))

        admin_ok(server, "PUT", f"/locations/{loc}", site(loc, name="Renamed site"))
        wait_until(lambda: difference(emsp, pull, [loc]) or (None if emsp.stored_location(*CPO, loc)["name"] == "Renamed site" else "not renamed yet"))

        status_code, answer = server.api("DELETE", f"/tariffs/{spare}")
        assert status_code == 204, (status_code, answer)
        wait_until(lambda: difference(emsp, pull, [loc], [tariff], deleted_tariffs=[spare]))

        received = emsp.received()
        check_requests(emsp, received)
        assert all(p["accepted"] and p["status"] == 200 for p in received), [p for p in received if not p["accepted"]]
        # Nothing was retried: one request per push, each with its own id.
        ids = [p["request_id"] for p in received]
        assert len(set(ids)) == len(ids), ids
        assert len({p["correlation_id"] for p in received}) == len(received)

        # What arrived, per object and in order.
        of_location = [p for p in received if p["module"] == "locations" and p["object_id"].upper() == loc.upper()]
        assert of_location and of_location[0]["kind"] == "location", [(p["kind"], p["path"]) for p in of_location]
        assert all(p["method"] == "PUT" for p in of_location)
        evse_pushes = [p for p in of_location if p["kind"] == "evse"]
        assert evse_pushes, "no EVSE was pushed on its own"
        assert all(p["evse_uid"].upper() == uid.upper() for p in evse_pushes)
        statuses = [p["body"]["status"] for p in evse_pushes]
        assert "CHARGING" in statuses and statuses[-1] == "UNKNOWN", statuses
        renamed = [p for p in of_location if p["kind"] == "location" and p["body"]["name"] == "Renamed site"]
        assert len(renamed) == 1, [p["path"] for p in of_location]
        assert check_never_backwards(received) > 0
        of_spare = [(p["method"], p["kind"]) for p in received if p["module"] == "tariffs" and p["object_id"].upper() == spare.upper()]
        assert of_spare[0] == ("PUT", "tariff") and of_spare[-1] == ("DELETE", "tariff"), of_spare
        assert of_spare.count(("DELETE", "tariff")) == 1, of_spare
        assert any(p["module"] == "tariffs" and p["object_id"].upper() == tariff.upper() for p in received)

        # The API lists each of them as delivered, at the first attempt, with the id the eMSP saw.
        def all_delivered():
            pending = push_list(server, pid, "pending")
            return f"{len(pending)} still pending" if pending else None

        wait_until(all_delivered, timeout=10)
        delivered = push_list(server, pid, "delivered")
        assert delivered
        by_id = {p["request_id"]: p for p in received}
        assert {d["requestId"] for d in delivered} == set(by_id), (delivered, list(by_id))
        assert len(delivered) == len(received)
        for d in delivered:
            p = by_id[d["requestId"]]
            assert (d["module"], d["method"], d["target"]) == (p["module"], p["method"], target_of(p)), (d, p["path"])
            assert d["attempts"] == 1 and d["deliveredAt"] and d["createdAt"], d
        assert push_list(server, pid, "dead") == []
        assert push_list(server, pid, "pending") == []


def test_partner_down_then_up_gets_every_change():
    server = start_server(attempts=500)
    emsp = EMSP(party_id="EP2")
    with running(server, emsp):
        partner, _, token_c, endpoints = register(server, emsp)
        pid, pull = partner["id"], Pull(emsp, token_c, endpoints)
        tag = uuid.uuid4().hex[:6].upper()
        tariff, loc, sid = f"T-{tag}", f"LOC-{tag}", f"DOWN-{tag}"
        admin_ok(server, "PUT", f"/tariffs/{tariff}", tariff_body(tariff))
        admin_ok(server, "PUT", f"/locations/{loc}", site(loc))
        new_station(server, sid, [(loc, tariff), (loc, tariff)])
        wait_until(lambda: difference(emsp, pull, [loc], [tariff]))
        assert len(emsp.stored_location(*CPO, loc)["evses"]) == 2
        before = len(emsp.received())

        async def while_down():
            async with connected(server, sid) as cp:
                await boot(cp)
                emsp.misbehave.add("push_down")
                for n in range(3):
                    await asyncio.to_thread(admin_ok, server, "PUT", f"/locations/{loc}", site(loc, name=f"Down edit {n}"))
                    await status(cp, 1, ("Charging", "Available", "Charging")[n])
                    await status(cp, 2, ("Available", "Charging", "Faulted")[n])
                    await asyncio.sleep(0.3)
                await asyncio.to_thread(admin_ok, server, "PUT", f"/tariffs/{tariff}", tariff_body(tariff, price="0.44"))

                def retried():
                    # Both queues (the location's, the tariff's) retried: the outbox is relayed a moment later.
                    pending = push_list(server, pid, "pending")
                    if all(any(p["module"] == m and p["attempts"] > 1 and p["lastError"] for p in pending) for m in ("locations", "tariffs")):
                        return None
                    return f"not every queue retried yet: {pending}"

                await wait_until_async(retried, timeout=20)
                pending = await asyncio.to_thread(push_list, server, pid, "pending")
                assert {p["module"] for p in pending} == {"locations", "tariffs"}, pending
                refused = [p for p in emsp.received()[before:] if p["status"] == 503]
                assert refused, "the eMSP saw no push while it was down"
                # Retries while down carry the id of their push.
                repeated = collections.Counter(p["request_id"] for p in refused)
                assert max(repeated.values()) > 1, repeated
                for p in pending:
                    if p["attempts"] > 0:
                        assert p["lastError"], p
                        assert repeated[p["requestId"]] >= 1, p
                assert push_list(server, pid, "dead") == []

                emsp.misbehave.discard("push_down")
                await wait_until_async(lambda: difference(emsp, pull, [loc], [tariff]), timeout=30)
                stored = emsp.stored_location(*CPO, loc)
                assert stored["name"] == "Down edit 2"
                assert [e["status"] for e in normalized(stored)["evses"]] == ["CHARGING", "OUTOFORDER"], stored["evses"]

        run(while_down())
        # Offline: both EVSEs go UNKNOWN at the eMSP too.
        wait_until(lambda: difference(emsp, pull, [loc], [tariff]) or (
            None if [e["status"] for e in emsp.stored_location(*CPO, loc)["evses"]] == ["UNKNOWN", "UNKNOWN"] else "not UNKNOWN yet"))
        assert emsp.stored_tariff(*CPO, tariff)["elements"][0]["price_components"][0]["price"] == 0.44

        received = emsp.received()
        check_requests(emsp, received)
        check_retries_keep_their_ids(received)
        accepted = [p for p in received if p["accepted"]]
        assert check_never_backwards(accepted) > 0
        # Every push refused while the partner was down went again later, with its id, and was taken.
        refused_ids = {p["request_id"] for p in received if not p["accepted"]}
        assert refused_ids and refused_ids <= {p["request_id"] for p in accepted}, refused_ids
        wait_until(lambda: None if not push_list(server, pid, "pending") else "pushes still pending", timeout=10)
        assert push_list(server, pid, "dead") == []
        delivered = push_list(server, pid, "delivered")
        assert len(delivered) == len({p["request_id"] for p in accepted})
        assert any(d["attempts"] > 1 for d in delivered), delivered


LOCATIONS = 10
EDITS = 3


def test_sigkill_with_pushes_pending_loses_none_and_never_goes_back():
    server = start_server(attempts=500)
    emsp = EMSP(party_id="EP3")
    with running(server, emsp) as scene:
        partner, _, token_c, endpoints = register(server, emsp)
        pid, pull = partner["id"], Pull(emsp, token_c, endpoints)
        tag = uuid.uuid4().hex[:6].upper()
        tariffs = [f"T-{tag}-{i}" for i in range(2)]
        locations = [f"LOC-{tag}-{i}" for i in range(LOCATIONS)]
        stations = [f"KILL-{tag}-{i}" for i in range(3)]
        for t in tariffs:
            admin_ok(server, "PUT", f"/tariffs/{t}", tariff_body(t))
        for loc in locations:
            admin_ok(server, "PUT", f"/locations/{loc}", site(loc))
        for i, sid in enumerate(stations):
            new_station(server, sid, [(locations[i], tariffs[0]), (locations[i], tariffs[1])])
        wait_until(lambda: difference(emsp, pull, locations, tariffs), timeout=60)
        emsp.misbehave.add("push_down")

        async def changes_then_kill():
            async with connected(server, stations[0]) as a, connected(server, stations[1]) as b, connected(server, stations[2]) as c:
                cps = [a, b, c]
                for cp in cps:
                    await boot(cp)
                for edit in range(EDITS):
                    for loc in locations:
                        await asyncio.to_thread(admin_ok, server, "PUT", f"/locations/{loc}", site(loc, name=f"{loc} edit {edit}"))
                    for cp in cps:
                        await status(cp, 1, ("Charging", "Available", "Charging")[edit])
                        await status(cp, 2, ("Available", "Charging", "Available")[edit])
                    for i, t in enumerate(tariffs):
                        await asyncio.to_thread(admin_ok, server, "PUT", f"/tariffs/{t}", tariff_body(t, price=f"0.{edit + 5}{i}"))
                pending = await asyncio.to_thread(push_list, server, pid, "pending")
                assert len({p["target"].split("/")[0] for p in pending}) >= LOCATIONS, pending
                await wait_until_async(lambda: None if any(p["attempts"] > 1 for p in push_list(server, pid, "pending")) else "no retry yet", timeout=20)
                await asyncio.to_thread(server.kill)

        run(changes_then_kill())
        refused_before_kill = {p["request_id"] for p in emsp.received() if p["status"] == 503}
        assert refused_before_kill, "the eMSP saw no refused push before the kill"

        # The same data directory and port: the embedded PostgreSQL outlived the server.
        server.log.close()
        server = scene.server = start_server(attempts=500, data_dir=server.data_dir, port=server.port)
        pending = push_list(server, pid, "pending")
        assert pending, "the pending pushes did not survive the kill"
        emsp.misbehave.discard("push_down")

        def settled():
            wrong = difference(emsp, pull, locations, tariffs)
            if wrong:
                return wrong
            left = push_list(server, pid, "pending")
            return f"{len(left)} pushes pending" if left else None

        wait_until(settled, timeout=90)
        time.sleep(2)
        wait_until(settled, timeout=30)
        for i, loc in enumerate(locations):
            stored = emsp.stored_location(*CPO, loc)
            assert stored["name"] == f"{loc} edit {EDITS - 1}", stored
            assert len(stored.get("evses") or []) == (2 if i < len(stations) else 0)
        for i, t in enumerate(tariffs):
            assert emsp.stored_tariff(*CPO, t)["elements"][0]["price_components"][0]["price"] == float(f"0.{EDITS - 1 + 5}{i}")

        received = emsp.received()
        check_requests(emsp, received)
        check_retries_keep_their_ids(received)
        accepted = [p for p in received if p["accepted"]]
        assert accepted
        assert check_never_backwards(accepted) > LOCATIONS
        # A push that was tried is never dropped: after the restart it went again, with the id it had before.
        accepted_ids = {p["request_id"] for p in accepted}
        assert refused_before_kill <= accepted_ids, refused_before_kill - accepted_ids
        assert {p["request_id"] for p in received if not p["accepted"]} <= accepted_ids
        # Every push delivered once as far as the API knows, and each with one request id at the eMSP.
        delivered = push_list(server, pid, "delivered")
        assert delivered
        assert len(accepted_ids) == len(delivered), (len(accepted_ids), len(delivered))
        assert accepted_ids == {d["requestId"] for d in delivered}
        assert push_list(server, pid, "pending") == []
        assert push_list(server, pid, "dead") == []


def test_dead_letters_and_replay():
    server = start_server(attempts=5)
    emsp = EMSP(party_id="EP4")
    with running(server, emsp):
        partner, _, token_c, endpoints = register(server, emsp)
        pid, pull = partner["id"], Pull(emsp, token_c, endpoints)
        tag = uuid.uuid4().hex[:6].upper()
        refused, flaky = f"TR-{tag}", f"TF-{tag}"

        def the_push(tariff_id, relayed=True):
            """The one push of a tariff (the outbox is relayed into pushes a moment after the change)."""
            items = [p for p in push_list(server, pid) if p["module"] == "tariffs" and p["target"] == tariff_id]
            assert len(items) <= 1, items
            assert items or not relayed, f"no push of {tariff_id}"
            return items[0] if items else None

        def in_state(tariff_id, state):
            def check():
                push = the_push(tariff_id, relayed=False)
                return None if push and push["state"] == state else f"{tariff_id}: {push}"
            return check

        def requests_of(tariff_id):
            return [p for p in emsp.received() if p["module"] == "tariffs" and p["object_id"].upper() == tariff_id.upper()]

        # A tariff the partner refuses (HTTP 400, OCPI 2001): a dead letter at the first answer, not retried.
        emsp.misbehave.add("refuse_tariffs")
        admin_ok(server, "PUT", f"/tariffs/{refused}", tariff_body(refused))
        wait_until(in_state(refused, "dead"), timeout=20)
        dead = the_push(refused)
        assert dead["method"] == "PUT" and dead["attempts"] == 1 and dead["lastError"], dead
        # The contract's shape: every field present, a missing value as null.
        assert "deliveredAt" in dead and dead["deliveredAt"] is None, dead
        time.sleep(1.5)
        sent = requests_of(refused)
        assert [(p["method"], p["status"]) for p in sent] == [("PUT", 400)], sent
        assert sent[0]["request_id"] == dead["requestId"]
        assert push_list(server, pid, "dead") == [the_push(refused)]

        # Replayed while still refused: pending again from zero attempts, then dead again, with the same id.
        status_code, replayed = server.api("POST", f"/ocpi/pushes/{dead['id']}/replay")
        assert status_code == 200, (status_code, replayed)
        assert replayed["id"] == dead["id"] and replayed["state"] == "pending" and replayed["attempts"] == 0, replayed
        assert replayed["requestId"] == dead["requestId"]
        wait_until(lambda: None if len(requests_of(refused)) == 2 else f"{len(requests_of(refused))} requests", timeout=20)
        wait_until(in_state(refused, "dead"), timeout=20)
        assert the_push(refused)["attempts"] == 1 and the_push(refused)["lastError"]
        assert [p["request_id"] for p in requests_of(refused)] == [dead["requestId"]] * 2

        # A partner that is down: retried with backoff, and dead after exactly --ocpi-push-attempts attempts.
        emsp.misbehave = {"push_down"}
        admin_ok(server, "PUT", f"/tariffs/{flaky}", tariff_body(flaky))
        wait_until(in_state(flaky, "dead"), timeout=30)
        gave_up = the_push(flaky)
        assert gave_up["attempts"] == 5 and gave_up["lastError"], gave_up
        time.sleep(1.5)
        sent = requests_of(flaky)
        assert [p["status"] for p in sent] == [503] * 5, sent
        assert {p["request_id"] for p in sent} == {gave_up["requestId"]}

        # The partner takes tariffs again: both replays are delivered and stored.
        emsp.misbehave = set()
        for push in (dead, gave_up):
            status_code, replayed = server.api("POST", f"/ocpi/pushes/{push['id']}/replay")
            assert status_code == 200 and replayed["state"] == "pending", (status_code, replayed)
        wait_until(in_state(refused, "delivered"), timeout=20)
        wait_until(in_state(flaky, "delivered"), timeout=20)
        wait_until(lambda: difference(emsp, pull, tariffs=[refused, flaky]))
        assert requests_of(refused)[-1]["accepted"] and requests_of(refused)[-1]["request_id"] == dead["requestId"]
        assert requests_of(flaky)[-1]["accepted"] and requests_of(flaky)[-1]["request_id"] == gave_up["requestId"]
        for p in requests_of(refused) + requests_of(flaky):
            assert p["problems"] == [], p
        check_requests(emsp, emsp.received())

        # Only a dead push can be replayed; an unknown one is 404.
        status_code, answer = server.api("POST", f"/ocpi/pushes/{dead['id']}/replay")
        assert status_code == 409, (status_code, answer)
        assert the_push(refused)["state"] == "delivered"
        status_code, answer = server.api("POST", "/ocpi/pushes/999999999/replay")
        assert status_code == 404, (status_code, answer)
        assert push_list(server, pid, "dead") == []
        assert push_list(server, pid, "pending") == []


def test_partner_that_takes_only_raw_tokens_still_gets_pushes():
    server = start_server(attempts=5)
    emsp = EMSP(party_id="EP5")
    emsp.misbehave.add("raw_only")
    with running(server, emsp):
        partner, _, token_c, endpoints = register(server, emsp)
        pid, pull = partner["id"], Pull(emsp, token_c, endpoints)
        tariff = f"T-{uuid.uuid4().hex[:6].upper()}"
        admin_ok(server, "PUT", f"/tariffs/{tariff}", tariff_body(tariff))
        wait_until(lambda: difference(emsp, pull, tariffs=[tariff]))
        received = emsp.received()
        assert received
        taken = [p for p in received if p["accepted"]]
        assert len(taken) == 1 and taken[0]["authorization"] == "raw", received
        # Token B Base64-encoded first (2.2.1), refused 401, then the same push again with the raw token (or raw
        # at once, if the sender remembered from the registration that this partner takes raw tokens only).
        refused = [p for p in received if not p["accepted"]]
        assert [(p["status"], p["authorization"]) for p in refused] in ([], [(401, "invalid")]), refused
        assert all(p["request_id"] == taken[0]["request_id"] for p in refused)
        wait_until(lambda: None if not push_list(server, pid, "pending") else "pending", timeout=10)
        (delivered,) = push_list(server, pid, "delivered")
        assert delivered["requestId"] == taken[0]["request_id"]
        assert push_list(server, pid, "dead") == []
