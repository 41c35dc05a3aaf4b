"""Two `voltaic serve` nodes on one PostgreSQL through PgBouncer in transaction mode (Debian's 1.18, which keeps no
prepared statement across server sessions), with `--database-pooled` and a direct `--database-session-url` for what
needs a session of its own (LISTEN, the session advisory locks). The pool is 3 server connections for both nodes, so
their transactions keep landing on server sessions other than the last one.

A 1.6 station on node A boots and charges with MeterValues (the hot statements, sent unnamed); node B's admin API
commands it (forwarded to A by NOTIFY, heard by A's LISTEN on its direct session); every CALL is answered, and what
was acknowledged is in PostgreSQL. PgBouncer's own counters show the nodes' statements went through it."""
import asyncio
import datetime
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest
from charge_points import connected, run
from ocpp.v16 import call as c16
from voltaic_server import ADMIN_TOKEN, PG_PORT, VoltaicServer, free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


class Bouncer:
    def __init__(self, socket_dir, work):
        self.port = free_port()
        self.work = work
        ini, users = os.path.join(work, "pgbouncer.ini"), os.path.join(work, "users.txt")
        with open(users, "w") as f:
            f.write('"voltaic" ""\n')
        with open(ini, "w") as f:
            f.write(f"""[databases]
voltaic = host={socket_dir} port={PG_PORT} dbname=voltaic user=voltaic
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = transaction
default_pool_size = 3
max_client_conn = 200
admin_users = voltaic
logfile = {work}/pgbouncer.log
pidfile = {work}/pgbouncer.pid
""")
        # PgBouncer refuses to run as root: as root it runs as the unprivileged `postgres` user (which the PostgreSQL
        # package creates, and which the embedded cluster runs as too), owning its files.
        command = [PGBOUNCER, ini]
        if os.getuid() == 0:
            shutil.chown(work, "postgres")
            for name in (ini, users):
                shutil.chown(name, "postgres")
            command = ["/usr/sbin/runuser", "-u", "postgres", "--"] + command
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "pgbouncer.err"), "ab"))
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.show("VERSION") is not None:
                return
            time.sleep(0.2)
        raise RuntimeError("pgbouncer did not start: " + self.log())

    def show(self, what):
        """SHOW `what` on PgBouncer's admin console: rows as lists of strings, or None when it cannot be reached."""
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "voltaic", "-d", "pgbouncer", "-At", "-F", "\t", "-c", f"SHOW {what}"],
                           capture_output=True, text=True, timeout=10)
        return [line.split("\t") for line in r.stdout.splitlines()] if r.returncode == 0 else None

    def log(self):
        text = ""
        for name in ("pgbouncer.log", "pgbouncer.err"):
            try:
                with open(os.path.join(self.work, name), errors="replace") as f:
                    text += f.read()[-6000:]
            except OSError:
                pass
        return text

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def nodes():
    work = tempfile.mkdtemp(prefix="voltaic-pgb-", dir="/tmp")
    # A launcher starts the embedded PostgreSQL (and applies the migrations) and is killed: PostgreSQL keeps running.
    db = VoltaicServer().start()
    db.kill()
    bouncer = Bouncer(db.pg_socket_dir, work)
    pooled = f"postgres://voltaic@127.0.0.1:{bouncer.port}/voltaic"
    direct = f"postgres://voltaic@/voltaic?host={db.pg_socket_dir}"
    servers = [VoltaicServer(extra_args=["--database-url", pooled, "--database-pooled", "--database-session-url", direct, "--node-id", f"p{i}"])
               for i in range(2)]
    try:
        for s in servers:
            s.start()
        yield db, bouncer, servers
    except BaseException:
        for s in servers:
            print(f"---- node log {s.log_path} ----")
            print(s.tail(6000))
        print("---- pgbouncer ----")
        print(bouncer.log())
        raise
    finally:
        for s in servers:
            s.stop()
        bouncer.close()
        db.stop_postgres()
        for s in servers + [db]:
            shutil.rmtree(s.data_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def test_two_nodes_through_pgbouncer_in_transaction_mode(nodes):
    db, bouncer, (a, b) = nodes
    sid = "PGB-1"
    status, _ = a.api("POST", "/stations", {"id": sid, "securityProfile": 0}, token=ADMIN_TOKEN)
    assert status == 201, status
    assert a.api("POST", "/tokens", {"value": "PGB-TAG"}, token=ADMIN_TOKEN)[0] in (200, 201)
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=30)
    stamp = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731

    async def scenario():
        async with connected(a, sid) as cp:
            assert (await cp.call(c16.BootNotification(charge_point_model="Pooled", charge_point_vendor="Interop"))).status == "Accepted"
            assert (await cp.call(c16.Authorize(id_tag="PGB-TAG"))).id_tag_info["status"] == "Accepted"
            started = await cp.call(c16.StartTransaction(connector_id=1, id_tag="PGB-TAG", meter_start=0, timestamp=stamp(start)))
            assert started.id_tag_info["status"] == "Accepted"
            for i in range(1, 41):
                # The client answers None for a CALLERROR: every one must be a CALLRESULT.
                assert await cp.call(c16.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[{
                    "timestamp": stamp(start + datetime.timedelta(seconds=30 * i)),
                    "sampled_value": [{"value": str(100 * i), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}])) is not None, i
            # Node B commands the station A holds: forwarded by NOTIFY, heard by A's LISTEN on its direct session.
            for _ in range(3):
                status, body = await asyncio.to_thread(b.api, "POST", f"/stations/{sid}/commands/ChangeAvailability",
                                                       {"connectorId": 0, "type": "Operative"}, token=ADMIN_TOKEN)
                assert status == 200 and "Accepted" in json.dumps(body), (status, body)
            assert await cp.call(c16.StopTransaction(transaction_id=started.transaction_id, meter_stop=4000,
                                                     timestamp=stamp(start + datetime.timedelta(minutes=25)))) is not None
            return started.transaction_id

    tx = run(scenario())
    assert db.sql(f"SELECT count(*) FROM meter_values WHERE transaction_id = {tx}") == [["40"]]
    assert db.sql(f"SELECT state, energy_wh FROM transactions WHERE id = {tx}") == [["Ended", "4000"]]
    # What PgBouncer saw: the nodes' transactions, many more than its 3 server connections.
    stats = {row[0]: row for row in bouncer.show("STATS") or []}
    assert "voltaic" in stats, stats
    pools = [row for row in bouncer.show("POOLS") or [] if row[0] == "voltaic"]
    assert pools and pools[0][-1] == "transaction", pools
    assert int(stats["voltaic"][1]) >= 40, stats["voltaic"]
