"""Shared pieces of the benchmark scripts: starting the server under test pinned to a CPU, provisioning
stations over the admin API, and reading the CPU time and memory of the server and its PostgreSQL from /proc.

Nothing here imports or links the server's code: the server is a black box started as a process, reached
over loopback (HTTP, WebSocket) and observed through /proc.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VOLTAIC_BIN = os.path.join(ROOT, ".build", "release", "voltaic")
ECHO_BIN = os.path.join(HERE, "Echo", ".build", "release", "voltaic-echo")
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin_self(cpus):
    """Pins this process (and so every process it starts afterwards) to `cpus`, e.g. "1" or "1,2"."""
    if cpus is not None and cpus != "":
        os.sched_setaffinity(0, parse_cpus(cpus))


def parse_cpus(text):
    out = set()
    for part in str(text).split(","):
        if "-" in part:
            a, b = part.split("-")
            out.update(range(int(a), int(b) + 1))
        elif part.strip():
            out.add(int(part))
    return out


def raise_nofile():
    """Raises the soft open-files limit to the hard one (children inherit it). Returns the limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# /proc ----------------------------------------------------------------------------------------------------


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    # comm may contain spaces and parentheses: split after the last ')'.
    rest = raw[raw.rindex(")") + 2 :].split()
    return rest  # rest[0] is field 3 (state)


def proc_cpu(pid):
    """(own user+system seconds, reaped children's user+system seconds)."""
    f = _stat_fields(pid)
    return (int(f[11]) + int(f[12])) / CLK_TCK, (int(f[13]) + int(f[14])) / CLK_TCK


def proc_ppid(pid):
    return int(_stat_fields(pid)[1])


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE_KIB


def proc_pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_cpus_allowed(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return "?"


def children_of(ppid):
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if proc_ppid(int(name)) == ppid:
                    kids.append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def snapshot(server):
    """CPU seconds and memory of the server process and of PostgreSQL (postmaster + its children)."""
    snap = {"t": time.monotonic(), "server_cpu_s": 0.0, "server_rss_kib": 0, "pg_cpu_s": 0.0, "pg_rss_kib": 0, "pg_pss_kib": 0, "pg_procs": 0}
    try:
        own, _ = proc_cpu(server.pid)
        snap["server_cpu_s"] = own
        snap["server_rss_kib"] = proc_rss_kib(server.pid)
    except OSError:
        pass
    pm = server.postmaster_pid()
    if pm:
        try:
            own, reaped = proc_cpu(pm)
            # Exited backends' time lands in the postmaster's reaped-children counters.
            cpu, rss, pss, n = own + reaped, proc_rss_kib(pm), proc_pss_kib(pm), 1
            for kid in children_of(pm):
                try:
                    c, _ = proc_cpu(kid)
                    cpu += c
                    rss += proc_rss_kib(kid)
                    pss += proc_pss_kib(kid)
                    n += 1
                except OSError:
                    pass
            snap.update(pg_cpu_s=cpu, pg_rss_kib=rss, pg_pss_kib=pss, pg_procs=n)
        except OSError:
            pass
    return snap


def window(before, after):
    """What the server and PostgreSQL used between two snapshots."""
    wall = max(1e-9, after["t"] - before["t"])
    return {
        "wall_s": wall,
        "server_cpu_s": after["server_cpu_s"] - before["server_cpu_s"],
        "server_cpu_pct": 100 * (after["server_cpu_s"] - before["server_cpu_s"]) / wall,
        "server_rss_mib": after["server_rss_kib"] / 1024,
        "server_rss_delta_mib": (after["server_rss_kib"] - before["server_rss_kib"]) / 1024,
        "pg_cpu_s": after["pg_cpu_s"] - before["pg_cpu_s"],
        "pg_cpu_pct": 100 * (after["pg_cpu_s"] - before["pg_cpu_s"]) / wall,
        "pg_rss_mib": after["pg_rss_kib"] / 1024,
        "pg_pss_mib": after["pg_pss_kib"] / 1024,
        "pg_procs": after["pg_procs"],
    }


# Statistics -----------------------------------------------------------------------------------------------


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(p * (len(sorted_values) - 1)))))
    return sorted_values[k]


def latency_summary_ms(values_s):
    v = sorted(values_s)
    return {
        "n": len(v),
        "p50_ms": percentile(v, 0.50) * 1000,
        "p99_ms": percentile(v, 0.99) * 1000,
        "max_ms": (v[-1] * 1000) if v else float("nan"),
    }


def median(values):
    values = [v for v in values if v is not None and v == v]
    return statistics.median(values) if values else float("nan")


# The server under test ------------------------------------------------------------------------------------


class Server:
    """`voltaic serve` (release binary, embedded PostgreSQL in a fresh data directory) or `voltaic-echo`,
    started under `taskset -c CPU`; PostgreSQL, started by Voltaic, inherits the pinning."""

    def __init__(self, kind, cpu=None, binary=None, extra_args=(), log_level="info", ping_interval=30):
        assert kind in ("voltaic", "echo"), kind
        self.kind = kind
        self.cpu = cpu
        self.binary = binary or (VOLTAIC_BIN if kind == "voltaic" else ECHO_BIN)
        self.extra_args = list(extra_args)
        self.log_level = log_level
        self.ping_interval = ping_interval
        self.port = free_port()
        self.data_dir = tempfile.mkdtemp(prefix=f"voltaic-bench-{kind}-", dir="/tmp")
        os.chmod(self.data_dir, 0o755)
        self.log_path = os.path.join(self.data_dir, "serve.log")
        self.process = None

    @property
    def pid(self):
        return self.process.pid

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def start(self, timeout=180):
        if not os.access(self.binary, os.X_OK):
            raise SystemExit(f"{self.binary} is missing: build it first (see Benchmarks/README.md)")
        if self.kind == "voltaic":
            args = [
                self.binary, "serve", "--port", str(self.port), "--data-dir", self.data_dir, "--admin-token", ADMIN_TOKEN,
                "--migrations-dir", os.path.join(ROOT, "Migrations"), "--log-level", self.log_level,
                "--ping-interval", str(self.ping_interval), *self.extra_args,
            ]
        else:
            args = [self.binary, "--port", str(self.port), "--ping-interval", str(self.ping_interval), *self.extra_args]
        if self.cpu is not None and self.cpu != "":
            args = ["taskset", "-c", str(self.cpu)] + args
        self.log = open(self.log_path, "ab")
        # taskset execs the server: the pid is the server's own.
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.process.returncode}: {self.tail()}")
            try:
                status, body = self.request("GET", "/health", timeout=2)
                if status == 200 and body.get("status") == "ok":
                    return self
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind} did not become healthy: {self.tail()}")

    def postmaster_pid(self):
        if self.kind != "voltaic":
            return None
        try:
            with open(os.path.join(self.data_dir, "postgres", "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def pinning(self):
        """The CPUs the server and the postmaster may run on, read back from /proc."""
        out = {"server": proc_cpus_allowed(self.pid)}
        pm = self.postmaster_pid()
        if pm:
            out["postgres"] = proc_cpus_allowed(pm)
        return out

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.log.close()

    def destroy(self, keep_log_to=None):
        self.stop()
        pg = os.path.join(self.data_dir, "postgres")
        if os.path.exists(os.path.join(pg, "postmaster.pid")):
            cmd = [pg_bin("pg_ctl"), "-D", pg, "-m", "immediate", "stop"]
            if os.geteuid() == 0:
                cmd = ["runuser", "-u", "postgres", "--"] + cmd
            subprocess.run(cmd, capture_output=True)
        if keep_log_to:
            try:
                shutil.copy(self.log_path, keep_log_to)
            except OSError:
                pass
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    # HTTP ---------------------------------------------------------------------------------------------------

    def request(self, method, path, body=None, timeout=30, conn=None):
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"}
            if path.startswith("/api/"):
                headers["Authorization"] = "Bearer " + ADMIN_TOKEN
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            r = conn.getresponse()
            raw = r.read()
            return r.status, (json.loads(raw) if raw else {})
        finally:
            if own:
                conn.close()

    def add_stations(self, ids, password=None, threads=4):
        """Registers stations through POST /api/v1/stations (keep-alive, a few threads)."""
        if self.kind != "voltaic" or not ids:
            return
        errors = []
        chunks = [ids[i::threads] for i in range(threads)]

        def work(chunk):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            for sid in chunk:
                # Security profile 0 must be asked for; the benchmark measures the protocol, not bcrypt.
                body = {"id": sid, "securityProfile": 0} if password is None else {"id": sid, "password": password}
                for attempt in range(3):
                    try:
                        status, reply = self.request("POST", "/api/v1/stations", body, conn=conn)
                        if status not in (201, 409):
                            errors.append((sid, status, reply))
                        break
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.close()

        ts = [threading.Thread(target=work, args=(c,)) for c in chunks]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise RuntimeError(f"{len(errors)} stations not added, first: {errors[0]}")

    def add_token(self, value):
        if self.kind == "voltaic":
            status, reply = self.request("POST", "/api/v1/tokens", {"value": value})
            if status not in (201, 409):
                raise RuntimeError(f"token not added: {status} {reply}")

    def sql(self, query):
        """One query on the embedded PostgreSQL through psql: rows as lists of strings (voltaic only)."""
        cmd = ["psql", "-h", os.path.join(self.data_dir, "postgres", "run"), "-U", "voltaic", "-d", "voltaic", "-At", "-F", "\t", "-c", query]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def cli(self, *args):
        """Runs a `voltaic` subcommand against this server's embedded cluster (which is running, so the CLI
        uses it and leaves it running)."""
        cmd = [self.binary, *args, "--data-dir", self.data_dir, "--migrations-dir", os.path.join(ROOT, "Migrations")]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def pg_bin(tool):
    try:
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    except FileNotFoundError:
        bindir = ""
    if not bindir or not os.path.exists(os.path.join(bindir, tool)):
        versions = sorted(os.listdir("/usr/lib/postgresql"), key=int, reverse=True)
        bindir = f"/usr/lib/postgresql/{versions[0]}/bin"
    return os.path.join(bindir, tool)


def machine_state():
    """Load average and whether a fuzzer (another helper's) is running: say so next to the figures."""
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    out = subprocess.run(["pgrep", "-f", "-i", "fuzz"], capture_output=True, text=True).stdout.split()
    fuzz = [p for p in out if int(p) != os.getpid()]
    return {"loadavg": " ".join(load), "fuzzer_pids": fuzz}
