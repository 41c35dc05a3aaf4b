"""Starts and stops a real `voltaic serve` for the interop tests, on a free port with its own data directory."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("VOLTAIC_BIN", os.path.join(ROOT, ".build", "debug", "voltaic"))
ADMIN_TOKEN = "interop-admin-token-0123456789"
# The embedded cluster's port (EmbeddedPostgres's default); it listens on a unix socket under <data-dir>/postgres/run.
PG_PORT = 5432


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VoltaicServer:
    """One `voltaic serve` process on the embedded PostgreSQL in a temporary data directory."""

    def __init__(self, data_dir=None, extra_args=(), env=None):
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="voltaic-it-", dir="/tmp")
        os.chmod(self.data_dir, 0o755)
        self.port = free_port()
        self.extra_args = list(extra_args)
        # Extra environment of the server process (e.g. VOLTAIC_CRASH_AT); may be changed between starts.
        self.env = dict(env or {})
        self.process = None
        self.log_path = os.path.join(self.data_dir, "serve.log")

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def start(self, timeout=120):
        env = dict(os.environ)
        env["VOLTAIC_MIGRATIONS_DIR"] = os.path.join(ROOT, "Migrations")
        env.update(self.env)
        args = [
            os.environ.get("VOLTAIC_BIN", BINARY), "serve", "--port", str(self.port), "--data-dir", self.data_dir, "--admin-token", ADMIN_TOKEN,
            "--ping-interval", "2", "--call-timeout", "5", "--ocpi-partner-timeout", "3", *self.extra_args,
        ]
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"voltaic serve exited with {self.process.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=2) as r:
                    if json.loads(r.read())["status"] == "ok":
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError("voltaic serve did not become healthy: " + self.tail())

    def kill(self):
        """SIGKILL: no shutdown work at all. The embedded PostgreSQL keeps running."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout=30):
        """SIGTERM, then SIGKILL if the server has not exited within `timeout` seconds."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def destroy(self, stop_timeout=30):
        self.stop(stop_timeout)
        if os.path.exists(os.path.join(self.pg_data_dir, "postmaster.pid")):
            self.pg_ctl("-m", "immediate", "stop", check=False)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # The embedded PostgreSQL -------------------------------------------------------------------------------------

    @property
    def pg_data_dir(self):
        return os.path.join(self.data_dir, "postgres")

    @property
    def pg_socket_dir(self):
        return os.path.join(self.pg_data_dir, "run")

    def pg_ctl(self, *args, check=True):
        """pg_ctl on the embedded cluster, as the user it runs as (`postgres` when the tests run as root)."""
        cmd = [pg_bin("pg_ctl"), "-D", self.pg_data_dir, *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r

    def stop_postgres(self, mode="fast"):
        """Stops the embedded cluster under the running server (`pg_ctl stop -m fast|immediate|smart`)."""
        self.pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def start_postgres(self):
        """Starts the embedded cluster again on the same data directory, port and socket directory, with
        the options `EmbeddedPostgres.start()` uses."""
        options = f"-p {PG_PORT} -k {self.pg_socket_dir} -c listen_addresses='' -c max_connections=200 -c fsync=on"
        self.pg_ctl("-l", os.path.join(self.pg_data_dir, "postgres.log"), "-o", options, "-w", "-t", "60", "start")

    def tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    # Admin API -------------------------------------------------------------------------------------------------

    def api(self, method, path, body=None, token=ADMIN_TOKEN):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + "/api/v1" + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, (json.loads(raw) if raw else None)

    def sql(self, query):
        """Runs a query on the embedded PostgreSQL with psql; returns rows as lists of strings."""
        cmd = ["psql", "-h", self.pg_socket_dir, "-p", str(PG_PORT), "-U", "voltaic", "-d", "voltaic", "-At", "-F", "\t", "-c", query]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]


def pg_bin(tool):
    try:
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    except FileNotFoundError:
        bindir = ""
    if not bindir or not os.path.exists(os.path.join(bindir, tool)):
        versions = sorted(os.listdir("/usr/lib/postgresql"), key=int, reverse=True)
        bindir = f"/usr/lib/postgresql/{versions[0]}/bin"
    return os.path.join(bindir, tool)
