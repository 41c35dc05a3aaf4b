"""Deploy/ checked with every validator this machine has (there is no Docker engine and no helm binary here):
- the systemd unit with `systemd-analyze verify` (its ExecStart pointed at the built binary);
- HAProxy's configuration with `haproxy -c`;
- the Helm chart rendered by a small renderer of the template subset the chart uses (values, includes, `quote`,
  `if`, `range`), then every manifest validated against the Kubernetes 1.30 schemas with kubernetes-validate
  (PyPI); the ServiceMonitor, a CRD those schemas lack, is checked for its required fields by hand;
- compose.yaml parsed and its references checked (services, secrets, volumes, the build context and Dockerfile);
- the Dockerfile's COPY sources exist in the repository.
"""
import os
import re
import subprocess
import tempfile

import kubernetes_validate
import yaml
from voltaic_server import BINARY, ROOT

DEPLOY = os.path.join(ROOT, "Deploy")
CHART = os.path.join(DEPLOY, "helm", "voltaic")


def test_systemd_unit_verifies():
    with open(os.path.join(DEPLOY, "systemd", "voltaic.service")) as f:
        unit = f.read()
    assert "ExecStart=/usr/local/bin/voltaic serve" in unit
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "voltaic.service")
        with open(path, "w") as f:
            f.write(unit.replace("/usr/local/bin/voltaic", BINARY))
        r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
    assert r.returncode == 0 and "voltaic.service" not in r.stderr, r.stdout + r.stderr


def test_haproxy_configuration_is_valid():
    r = subprocess.run(["haproxy", "-c", "-f", os.path.join(DEPLOY, "haproxy.cfg")], capture_output=True, text=True)
    assert r.returncode == 0 and "Configuration file is valid" in r.stdout, r.stdout + r.stderr


# A renderer of the Go template subset the chart uses -------------------------------------------------------------


def lookup(path, scope):
    value = scope
    for part in path.strip(".").split("."):
        if part:
            value = value[part]
    return value


def evaluate(expr, scope, defines):
    expr = expr.strip()
    parts = [p.strip() for p in expr.split("|")]
    head = parts[0]
    if head.startswith("include "):
        name = re.match(r'include "([^"]+)" \.', head).group(1)
        value = render(defines[name], scope, defines).strip()
    elif head.startswith("$"):
        value = scope["$vars"][head]
    elif head.startswith("."):
        value = lookup(head, scope)
    else:
        raise AssertionError(f"unsupported template expression {expr!r}")
    for f in parts[1:]:
        assert f == "quote", f"unsupported filter {f!r}"
        value = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


TOKEN = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


def render(text, scope, defines):
    out, pos, stack = [], 0, []
    tokens = list(TOKEN.finditer(text))
    i = 0

    def emit(s):
        if not stack or all(stack_item[0] for stack_item in stack):
            out.append(s)

    def chomp_left():
        if out and (not stack or all(s[0] for s in stack)):
            out[-1] = out[-1].rstrip()

    while i < len(tokens):
        m = tokens[i]
        emit(text[pos:m.start()])
        left, body, right = m.group(1), m.group(2), m.group(3)
        if left:
            chomp_left()
        if body.startswith("if "):
            cond = body[3:].strip()
            negate = cond.startswith("not ")
            value = evaluate(cond[4:] if negate else cond, scope, defines)
            stack.append((bool(value) != negate, "if"))
        elif body.startswith("range "):
            m2 = re.match(r"range \$(\w+), \$(\w+) := (\S+)", body)
            items = evaluate(m2.group(3), scope, defines)
            # Find the matching end, render the body per item.
            depth, j = 1, i + 1
            while depth:
                b = tokens[j].group(2)
                depth += b.startswith(("if ", "range ")) - (b == "end")
                j += 1
            inner = text[m.end():tokens[j - 1].start()]
            for k, v in sorted(items.items()):
                sub = dict(scope)
                sub["$vars"] = dict(scope.get("$vars", {}), **{"$" + m2.group(1): k, "$" + m2.group(2): v})
                emit(render(inner, sub, defines))
            pos = tokens[j - 1].end()
            if tokens[j - 1].group(3):
                rest = text[pos:]
                pos += len(rest) - len(rest.lstrip())
            i = j
            continue
        elif body == "else":
            stack[-1] = (not stack[-1][0], "else")
        elif body == "end":
            stack.pop()
        elif body.startswith("define "):
            raise AssertionError("defines belong in _helpers.tpl")
        else:
            emit(str(evaluate(body, scope, defines)))
        pos = m.end()
        if right:
            rest = text[pos:]
            pos += len(rest) - len(rest.lstrip())
        i += 1
    emit(text[pos:])
    return "".join(out)


def defines():
    with open(os.path.join(CHART, "templates", "_helpers.tpl")) as f:
        text = f.read()
    return {m.group(1): m.group(2) for m in re.finditer(r'\{\{-? define "([^"]+)" -?\}\}(.*?)\{\{-? end -?\}\}', text, re.S)}


def rendered(values_overrides=None):
    with open(os.path.join(CHART, "values.yaml")) as f:
        values = yaml.safe_load(f)
    values.update(values_overrides or {})
    scope = {"Values": values, "Release": {"Name": "test"}, "Chart": {"Name": "voltaic"}}
    docs = {}
    for name in sorted(os.listdir(os.path.join(CHART, "templates"))):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(CHART, "templates", name)) as f:
            text = render(f.read(), scope, defines())
        docs[name] = [d for d in yaml.safe_load_all(text) if d]
    return docs


def test_helm_chart_renders_to_valid_kubernetes_manifests():
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        chart = yaml.safe_load(f)
    assert chart["apiVersion"] == "v2" and chart["name"] == "voltaic" and chart["version"]
    docs = rendered()
    kinds = {d["kind"]: d for ds in docs.values() for d in ds}
    assert set(kinds) == {"Deployment", "Service", "Secret", "ConfigMap", "PodDisruptionBudget", "ServiceMonitor"}, set(kinds)
    for name, ds in docs.items():
        for d in ds:
            if d["kind"] == "ServiceMonitor":
                continue
            kubernetes_validate.validate(d, "1.30", strict=True)
    # What the issue asks of each.
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["readinessProbe"]["httpGet"]["path"] == "/health" and c["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert pod["initContainers"][0]["args"] == ["migrate"]
    svc = kinds["Service"]["spec"]
    assert svc["type"] == "LoadBalancer" and svc["ports"][0]["protocol"] == "TCP"
    assert "idle-timeout" in " ".join(kinds["Service"]["metadata"]["annotations"])
    assert kinds["PodDisruptionBudget"]["spec"]["minAvailable"] == 2
    sm = kinds["ServiceMonitor"]
    assert sm["apiVersion"] == "monitoring.coreos.com/v1" and sm["spec"]["endpoints"][0]["path"] == "/metrics" and sm["spec"]["selector"]["matchLabels"]
    assert set(kinds["Secret"]["stringData"]) >= {"VOLTAIC_DATABASE_URL", "VOLTAIC_ADMIN_TOKEN", "receipt.key"}
    assert kinds["ConfigMap"]["data"]["VOLTAIC_LOG_FORMAT"] == "json"
    # Through PgBouncer in transaction mode: pooled, the direct session URL in the Secret, and migrations on it.
    docs = rendered({"database": {"url": "postgres://v@pgbouncer:6432/voltaic", "pooled": True, "sessionUrl": "postgres://v@postgres:5432/voltaic"}})
    for name, ds in docs.items():
        for d in ds:
            if d["kind"] != "ServiceMonitor":
                kubernetes_validate.validate(d, "1.30", strict=True)
    secret = docs["secret.yaml"][0]["stringData"]
    assert secret["VOLTAIC_DATABASE_POOLED"] == "1" and secret["VOLTAIC_DATABASE_SESSION_URL"] == "postgres://v@postgres:5432/voltaic", secret
    migrate = docs["deployment.yaml"][0]["spec"]["template"]["spec"]["initContainers"][0]
    assert migrate["env"][0]["name"] == "VOLTAIC_DATABASE_URL" and migrate["env"][0]["valueFrom"]["secretKeyRef"]["key"] == "VOLTAIC_DATABASE_SESSION_URL", migrate
    assert "env" not in rendered()["deployment.yaml"][0]["spec"]["template"]["spec"]["initContainers"][0]
    # With an existing secret the chart makes none and the pods use it.
    docs = rendered({"existingSecret": "prod-voltaic", "serviceMonitor": {"enabled": False, "interval": "30s"}})
    assert docs["secret.yaml"] == [] and docs["servicemonitor.yaml"] == []
    pod = docs["deployment.yaml"][0]["spec"]["template"]["spec"]
    assert pod["containers"][0]["envFrom"][1]["secretRef"]["name"] == "prod-voltaic"


def test_compose_file_is_consistent():
    with open(os.path.join(DEPLOY, "compose.yaml")) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    assert {"postgres", "migrate", "node1", "node2", "node3", "haproxy"} <= set(services)
    for name, s in services.items():
        for dep in (s.get("depends_on") or {}):
            assert dep in services, (name, dep)
        for secret in s.get("secrets", []):
            assert secret in compose["secrets"], (name, secret)
        if "build" in s:
            context = os.path.normpath(os.path.join(DEPLOY, s["build"]["context"]))
            assert os.path.exists(os.path.join(context, s["build"]["dockerfile"])), s["build"]
    for n in ("node1", "node2", "node3"):
        assert services[n]["command"] == ["serve", "--node-id", n], services[n]
        assert services[n]["environment"]["VOLTAIC_DATABASE_URL"].startswith("postgres://")
    # HAProxy's backend names the compose services.
    with open(os.path.join(DEPLOY, "haproxy.cfg")) as f:
        cfg = f.read()
    assert all(f"server {n} {n}:8180" in cfg for n in ("node1", "node2", "node3"))


def test_dockerfile_copies_what_exists():
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        lines = f.read().splitlines()
    copies = [l.split()[1:-1] for l in lines if l.startswith("COPY ") and "--from" not in l]
    assert copies
    for sources in copies:
        for src in sources:
            assert os.path.exists(os.path.join(ROOT, src)), src
    assert any(l.startswith("FROM swift:6.3") for l in lines) and any(l.startswith("FROM debian:bookworm-slim") for l in lines)
    assert any("libsecp256k1-1" in l for l in lines)
