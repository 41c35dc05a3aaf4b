"""schemathesis (property-based, every check, positive and negative data) against a live `voltaic serve`:
the server must answer every generated request as openapi/admin.yaml says. Bounded to a few minutes."""
import os
import subprocess
import sys

from voltaic_server import ADMIN_TOKEN, ROOT

SPEC = os.path.join(ROOT, "openapi", "admin.yaml")
CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis.toml")


def test_schemathesis_finds_no_failure(server):
    schemathesis = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    report = os.path.join(server.data_dir, "schemathesis")
    cmd = [
        schemathesis, "--config-file", CONFIG, "run", SPEC, "--url", server.base_url + "/api/v1", "-H", f"Authorization: Bearer {ADMIN_TOKEN}",
        "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful", "--mode", "all",
        "--max-examples", os.environ.get("VOLTAIC_SCHEMATHESIS_EXAMPLES", "40"), "--seed", "1",
        "--max-time", "240", "--request-timeout", "10", "--continue-on-failure",
        # One worker: schemathesis runs workers as threads, and CPython before 3.11.8 shares one AST
        # recursion counter between threads (gh-106905), so hypothesis describing a strategy in two threads
        # at once dies with "AST constructor recursion depth mismatch", a failure of the tool, not the server.
        "--workers", "1",
        # U+0000 is refused in every string (400/422, tested in AdminAPITests), also in fields the
        # document leaves open (additionalProperties), which JSON Schema cannot say; so none is generated.
        "--generation-allow-x00", "false",
        "--report", "junit", "--report-dir", report, "--output-truncate", "false", "--warnings", "off",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=420, cwd=server.data_dir,  # its cache stays out of the checkout
                       env=dict(os.environ, SCHEMATHESIS_HOOKS=""))
    summary = [line for line in r.stdout.splitlines() if "passed" in line or "failed" in line or "error" in line.lower()]
    print("\n".join(summary[-5:]))
    assert r.returncode == 0, r.stdout[-20000:] + r.stderr[-3000:]
