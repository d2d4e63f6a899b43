#!/usr/bin/env python3
"""Ops checks: compose validates; every compose service has a healthcheck, a non-root
user and resource limits; promtool accepts config and rules; dashboards parse and every
metric they (and the alerts) name exists in the code or in the known external list.
Exit 77 (CTest skip) names the missing tool when docker-compose/promtool/PyYAML is absent."""
import json, pathlib, re, shutil, subprocess, sys, tempfile, os

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
# Metrics that come from outside our code (Redpanda, Prometheus itself).
EXTERNAL = {"up", "redpanda_storage_disk_free_bytes", "redpanda_storage_disk_total_bytes"}
failures, skips = [], []
# Secret variable -> the compose services that read it (their --help lists it).
SECRETS = {
    "ISS_ADMIN_TOKEN": {"ingestion", "storage", "peebot"},
    "ISS_PG_DSN": {"migrate", "storage", "peebot"},
    "ISS_X_CONSUMER_KEY": {"peebot"}, "ISS_X_CONSUMER_SECRET": {"peebot"},
    "ISS_X_ACCESS_TOKEN": {"peebot"}, "ISS_X_ACCESS_TOKEN_SECRET": {"peebot"},
    "ISS_BLUESKY_APP_PASSWORD": {"peebot"}, "ISS_MASTODON_ACCESS_TOKEN": {"peebot"},
    "ISS_PEEBOT_WEBHOOK_URL": {"peebot"}, "ISS_PEEBOT_WEBHOOK_SECRET": {"peebot"},
    "POSTGRES_PASSWORD": {"postgres"},
    "GF_SECURITY_ADMIN_PASSWORD": {"grafana"},
}

def fail(msg): failures.append(msg)

def need(tool):
    if shutil.which(tool) is None:
        skips.append(f"{tool} not installed")
        return False
    return True

# 1. compose validates (.env, which it substitutes from, is .env.example in a scratch copy).
if need("docker-compose"):
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(ROOT / "docker-compose.yml", d)
        shutil.copy(ROOT / ".env.example", pathlib.Path(d) / ".env")
        for sub in ("deploy", "docker"):
            os.symlink(ROOT / sub, pathlib.Path(d) / sub)
        r = subprocess.run(["docker-compose", "config"], cwd=d, capture_output=True, text=True)
        if r.returncode != 0:
            fail("docker-compose config: " + r.stderr.strip())
        else:
            try:
                import yaml
                cfg = yaml.safe_load(r.stdout)
                for name, svc in cfg["services"].items():
                    hc = svc.get("healthcheck") or {}
                    if not hc.get("test") or hc.get("disable"):
                        fail(f"{name}: no healthcheck")
                    user = str(svc.get("user", ""))
                    if not user or user.split(":")[0] in ("0", "root"):
                        fail(f"{name}: no non-root user")
                    lim = (((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {})
                    if not lim.get("cpus") or not lim.get("memory"):
                        fail(f"{name}: no cpu/memory limits")
                    if "restart" not in svc:
                        fail(f"{name}: no restart policy")
                    # Secrets only where they are read (no env_file handing all of .env out).
                    env = svc.get("environment") or {}
                    for key in env:
                        if key in SECRETS and name not in SECRETS[key]:
                            fail(f"{name}: gets secret {key}, which it does not read")
                    for key, readers in SECRETS.items():
                        if name in readers and key not in env:
                            fail(f"{name}: reads {key} but compose does not pass it")
            except ImportError:
                skips.append("python3-yaml not installed (per-service checks)")

# 1b. The stand-in override (machines that pull no third-party image) replaces only
# third-party services, each labelled STAND-IN; of ours it may only point ingestion at
# the stand-in ISSLIVE feed. Everything else of ours runs as docker-compose.yml says.
FEED_ONLY = {"ISS_LS_SERVER", "ISS_LS_TLS", "ISS_INGEST_SOURCE_LABEL"}
try:
    import yaml
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    standins_text = (ROOT / "docker/standins/docker-compose.standins.yml").read_text()
    standins = yaml.safe_load(standins_text)["services"]
    for name, svc in standins.items():
        if str(base.get(name, {}).get("image", "")).startswith("iss-platform"):  # ours
            extra = set(svc) - {"environment", "depends_on"}
            env = set((svc.get("environment") or {}))
            deps = set((svc.get("depends_on") or {}))
            if extra or env - FEED_ONLY or deps - {"isslive"}:
                fail(f"stand-in override changes our service {name}: "
                     f"{sorted(extra) + sorted(env - FEED_ONLY) + sorted(deps - {'isslive'})}")
        else:
            block = standins_text.split(f"\n  {name}:\n", 1)[0].rsplit("\n\n", 1)[-1]
            if "STAND-IN" not in block:
                fail(f"stand-in override: {name} is not labelled STAND-IN in a comment above it")
except ImportError:
    skips.append("python3-yaml not installed (stand-in override check)")

# 1c. One init per container: the image's ENTRYPOINT is tini, so compose's `init: true`
# on our services would start tini under a second init (tini then warns it cannot reap).
try:
    import yaml
    for name, svc in yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"].items():
        if str(svc.get("image", "")).startswith("iss-platform") and svc.get("init"):
            fail(f"{name}: init: true under the image's own tini")
except ImportError:
    pass

# 2. Dockerfile: non-root USER, HEALTHCHECK, tini.
df = (ROOT / "docker/Dockerfile").read_text()
for needle in ("USER 10001", "HEALTHCHECK", "tini"):
    if needle not in df:
        fail(f"Dockerfile lacks {needle}")

# 3. promtool.
if need("promtool"):
    for args in (["check", "config", "deploy/prometheus/prometheus.yml"],
                 ["check", "rules", "deploy/prometheus/alerts.yml"]):
        r = subprocess.run(["promtool", *args], cwd=ROOT, capture_output=True, text=True)
        if r.returncode != 0:
            fail("promtool " + " ".join(args) + ": " + r.stdout + r.stderr)

# 4. Metric names used by dashboards and alerts exist in the code.
code = ""
for folder in ("common", "services", "gateway"):
    for p in (ROOT / folder).rglob("*"):
        if p.suffix in (".cc", ".h"):  # metrics may be declared in a header
            code += p.read_text(errors="replace")
FUNCS = {"rate", "sum", "max", "min", "by", "le", "histogram_quantile", "increase", "time",
         "avg", "count", "irate", "without", "on", "and", "or"}
def metric_names(expr):
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"by \([^)]*\)", "", expr)
    for tok in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        if tok not in FUNCS:
            yield tok
def check_metric(name, where):
    if name in EXTERNAL:
        return
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    if base not in code and name not in code:
        fail(f"{where}: metric {name} not found in the code")

exprs = []
for dash in (ROOT / "deploy/grafana/dashboards").glob("*.json"):
    try:
        d = json.loads(dash.read_text())
    except json.JSONDecodeError as e:
        fail(f"{dash.name}: {e}")
        continue
    for p in d.get("panels", []):
        if not p.get("targets"):
            fail(f"{dash.name}: panel {p.get('title')} has no query")
        for t in p.get("targets", []):
            exprs.append((f"{dash.name}/{p.get('title')}", t["expr"]))
for m in re.finditer(r"expr: (>\s*\n\s*)?(.+)", (ROOT / "deploy/prometheus/alerts.yml").read_text()):
    exprs.append(("alerts.yml", m.group(2)))
for where, expr in exprs:
    for name in metric_names(expr):
        check_metric(name, where)

for f in failures:
    print("FAIL:", f)
for s in skips:
    print("SKIP:", s)
if failures:
    sys.exit(1)
if skips:
    sys.exit(77)
print(f"ok: {len(exprs)} queries checked")
