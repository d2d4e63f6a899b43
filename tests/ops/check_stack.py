#!/usr/bin/python3
"""Checks a running compose stack (scripts/container-check.sh brings it up with podman):
1. every container runs as docker-compose.yml declares it (user, read-only root,
   no-new-privileges, restart policy, limits, stop timeout, secrets only where read)
   and is healthy by its own HEALTHCHECK; one-shot services exited 0;
2. the gateway's /readyz answers 200 and GET / serves the dashboard;
3. an event injected through the REST gateway (POST /api/v1/ingest/test, admin token)
   comes back on the SSE tail and is stored (window query); without the token: 401;
4. Prometheus scrapes every service of ours ("up") and has loaded every alert rule;
5. storage SIGKILLed mid-stream is restarted by its restart policy and stores every
   event sent before and while it was down, exactly once;
6. a PostgreSQL restart is survived (services ready again, new events stored);
7. `down` stops every container within its stop_grace_period, each exiting 0.
Prints one line per check and a closing 'N passed, N failed'."""
import argparse, datetime, http.client, json, os, pathlib, queue, re, shlex, signal, subprocess
import sys, threading, time, urllib.error, urllib.parse, urllib.request

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
GATEWAY, PROMETHEUS = ("127.0.0.1", 8080), ("127.0.0.1", 9090)
OURS = "iss-platform"  # the image of our services
# Secret -> the services that read it; nobody else may get it.
SECRETS = {
    "ISS_ADMIN_TOKEN": {"ingestion", "storage", "peebot"},
    "ISS_PG_DSN": {"migrate", "storage", "peebot"},
    "ISS_X_CONSUMER_KEY": {"peebot"}, "ISS_X_CONSUMER_SECRET": {"peebot"},
    "ISS_X_ACCESS_TOKEN": {"peebot"}, "ISS_X_ACCESS_TOKEN_SECRET": {"peebot"},
    "ISS_BLUESKY_APP_PASSWORD": {"peebot"}, "ISS_MASTODON_ACCESS_TOKEN": {"peebot"},
    "ISS_PEEBOT_WEBHOOK_URL": {"peebot"}, "ISS_PEEBOT_WEBHOOK_SECRET": {"peebot"},
    "POSTGRES_PASSWORD": {"postgres"},
}
passed, failed = 0, 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok: {what}", flush=True)
    else:
        failed += 1
        print(f"FAIL: {what}{': ' + detail if detail else ''}", flush=True)
    return ok


def wait_for(pred, timeout, every=0.5):
    """Polls pred() until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(every)


def podman(*args, check_rc=False):
    r = subprocess.run(["podman", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: {r.stderr.strip()}")
    return r


def inspect(name):
    r = podman("container", "inspect", name)
    return json.loads(r.stdout)[0] if r.returncode == 0 else None


def healthy(name):
    return podman("healthcheck", "run", name).returncode == 0


def request(method, host_port, path, body=None, headers=None, timeout=10):
    """(status, body text); status 0 when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{host_port[0]}:{host_port[1]}{path}", data=data,
                                 method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


class SseTail:
    """GET /api/v1/telemetry:tail on its own thread; events land in a queue."""

    def __init__(self, items):
        q = "&".join("item_ids=" + urllib.parse.quote(i) for i in items)
        self.events = queue.Queue()
        self.conn = http.client.HTTPConnection(*GATEWAY, timeout=120)
        self.conn.request("GET", f"/api/v1/telemetry:tail?{q}", headers={"Accept": "text/event-stream"})
        self.sock = self.conn.sock
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\n")
                if line.startswith("data:"):
                    self.events.put(json.loads(line[5:]))
        except (OSError, ValueError, http.client.HTTPException):
            pass

    def wait_item(self, item, value, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                e = self.events.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if e.get("itemId") == item and str(e.get("value")) == value:
                return e
        return None

    def close(self):
        try:
            self.sock.shutdown(2)  # ends the reader thread's blocking read
        except OSError:
            pass
        self.conn.close()


def rfc3339(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Stack:
    def __init__(self, args):
        self.project = args.project
        self.compose = shlex.split(args.compose)
        self.services = args.services.split()
        self.env = dict(line.split("=", 1) for line in pathlib.Path(args.env_file).read_text().splitlines()
                        if "=" in line and not line.startswith("#"))
        self.token = self.env["ISS_ADMIN_TOKEN"]
        cfg = subprocess.run(self.compose + ["config"], capture_output=True, text=True, check=True).stdout
        self.config = yaml.safe_load(cfg)["services"]
        self.base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
        self.window_refusal = "none"  # the last window query not answered 200

    def name(self, svc):
        return f"{self.project}-{svc}"

    def grace(self, svc):
        g = str(self.config[svc].get("stop_grace_period", "10s"))
        m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", g)
        return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)

    def ingest(self, item, value, ts=None, token=True):
        body = {"itemId": item, "sourceTs": rfc3339(ts or datetime.datetime.now(datetime.timezone.utc)),
                "value": value}
        headers = {"Authorization": f"Bearer {self.token}"} if token else {}
        return request("POST", GATEWAY, "/api/v1/ingest/test", body, headers)

    def stored(self, item, since):
        q = urllib.parse.urlencode({"item_ids": item, "start_time": rfc3339(since),
                                    "end_time": rfc3339(datetime.datetime.now(datetime.timezone.utc)
                                                        + datetime.timedelta(minutes=5)),
                                    "page_size": 10000})
        status, body = request("GET", GATEWAY, f"/api/v1/telemetry:window?{q}")
        if status != 200:
            # Said in the failure detail: a refused query and an empty answer both show as [].
            self.window_refusal = f"{status} {body[:300]}"
            return None
        return json.loads(body).get("events", [])


def diagnose(stack, why):
    """Prints what explains a failure while the stack still runs: each service's last log
    lines and PostgreSQL's sessions and waiting locks (container-check.sh prints logs only
    after `down` has removed the containers)."""
    stack.diagnosed = True
    print(f"--- diagnostics ({why})", flush=True)
    for svc in stack.services:
        r = podman("logs", "--tail", "30", stack.name(svc))
        print(f"--- logs of {stack.name(svc)} (last 30 lines)\n{r.stdout}{r.stderr}", flush=True)
    sql = ("SELECT pid, application_name, state, wait_event_type, wait_event,"
           " now() - xact_start AS xact_age, left(query, 160) FROM pg_stat_activity"
           " WHERE datname = 'iss' AND pid <> pg_backend_pid() ORDER BY xact_start;"
           " SELECT locktype, relation::regclass, mode, pid FROM pg_locks WHERE NOT granted;")
    r = podman("exec", stack.name("postgres"), "psql", "-U", "iss", "-d", "iss", "-c", sql)
    print(f"--- PostgreSQL sessions and waiting locks\n{r.stdout}{r.stderr}", flush=True)
    # Services reach PostgreSQL by name through podman's DNS: a slow answer shows as
    # slow connections (and so slow first queries) only.
    t0 = time.monotonic()
    r = podman("exec", stack.name("storage"), "getent", "ahosts", "postgres")
    print(f"--- 'postgres' resolved in storage in {time.monotonic() - t0:.2f} s: "
          f"{r.stdout.split(chr(10))[0]}{r.stderr}", flush=True)


def check_declared(stack):
    """Each container as compose declares it; secrets only where they are read."""
    for svc in stack.services:
        spec, info = stack.config[svc], inspect(stack.name(svc))
        if not check(info is not None, f"{svc}: container exists"):
            continue
        hc, cfg = info["HostConfig"], info["Config"]
        env = dict(e.split("=", 1) for e in cfg.get("Env") or [])
        problems = []
        if spec.get("user") and cfg.get("User") != str(spec["user"]):
            problems.append(f"user {cfg.get('User')} != {spec['user']}")
        if bool(spec.get("read_only")) != bool(hc.get("ReadonlyRootfs")):
            problems.append(f"read-only root {hc.get('ReadonlyRootfs')}")
        if spec.get("read_only") and hc.get("Tmpfs"):
            problems.append(f"writable tmpfs {hc.get('Tmpfs')} on a read-only container")
        for opt in spec.get("security_opt") or []:
            if opt.split(":")[0] not in " ".join(hc.get("SecurityOpt") or []):
                problems.append(f"security_opt {opt} missing")
        want_restart = str(spec.get("restart", "no"))
        if (hc.get("RestartPolicy") or {}).get("Name", "") not in (want_restart, "" if want_restart == "no" else want_restart):
            problems.append(f"restart {hc.get('RestartPolicy')} != {want_restart}")
        limits = (((spec.get("deploy") or {}).get("resources") or {}).get("limits") or {})
        if limits.get("memory"):
            m = re.fullmatch(r"(\d+)([kmg])", str(limits["memory"]).lower())
            want = int(m.group(1)) * {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2)]
            if hc.get("Memory") != want:
                problems.append(f"memory limit {hc.get('Memory')} != {want}")
        if limits.get("cpus") and abs(hc.get("NanoCpus", 0) / 1e9 - float(limits["cpus"])) > 1e-6:
            problems.append(f"cpus {hc.get('NanoCpus', 0) / 1e9} != {limits['cpus']}")
        if cfg.get("StopTimeout") != stack.grace(svc):
            problems.append(f"stop timeout {cfg.get('StopTimeout')} != {stack.grace(svc)}")
        want_test = (spec.get("healthcheck") or {}).get("test")
        if isinstance(want_test, str):
            want_test = ["CMD-SHELL", want_test]
        got_test = (cfg.get("Healthcheck") or {}).get("Test")
        if want_test and got_test != want_test:
            problems.append(f"health check {got_test} != {want_test}")
        if spec.get("init") and not hc.get("Init"):
            problems.append("no init")
        for key, readers in SECRETS.items():
            if env.get(key) and svc not in readers:
                problems.append(f"has secret {key}")
        if svc in stack.base and stack.base[svc].get("image", "").startswith(OURS):
            if not info["ImageName"].endswith(stack.base[svc]["image"]):
                problems.append(f"image {info['ImageName']}")
        check(not problems, f"{svc}: runs as compose declares it", "; ".join(problems))
        if info["ImageName"].split("/")[-1].startswith(OURS):
            logs = podman("logs", stack.name(svc))
            check("Tini is not running as PID 1" not in logs.stdout + logs.stderr,
                  f"{svc}: tini is PID 1 (one init)")
    # Read-only really means read-only for our services.
    r = podman("exec", stack.name("storage"), "bash", "-c", "echo x > /usr/local/x")
    check(r.returncode != 0 and "Read-only" in r.stderr, "storage: root file system refuses writes",
          r.stderr.strip())


def check_health(stack, timeout):
    for svc in stack.services:
        name = stack.name(svc)
        if str(stack.config[svc].get("restart", "no")) == "no":  # one-shot
            st = (inspect(name) or {}).get("State", {})
            check(st.get("Status") == "exited" and st.get("ExitCode") == 0, f"{svc}: ran once, exit 0",
                  f"{st.get('Status')} {st.get('ExitCode')}")
            continue
        t0 = time.monotonic()
        ok = wait_for(lambda: healthy(name), timeout)
        check(ok, f"{svc}: healthy by its HEALTHCHECK ({time.monotonic() - t0:.1f} s)")


def check_flow(stack):
    status, body = request("GET", GATEWAY, "/readyz")
    check(status == 200, "gateway /readyz 200", f"{status} {body[:300]}")
    status, body = request("GET", GATEWAY, "/")
    check(status == 200 and body == (ROOT / "gateway/web/index.html").read_text(),
          "GET / serves the dashboard (index.html as in the tree)", f"{status} {body[:200]}")
    item = "CONTAINER_CHECK"
    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    status, _ = stack.ingest(item, "1", token=False)
    check(status == 401, "POST /api/v1/ingest/test without the token: 401", str(status))
    tail = SseTail([item])
    check(tail.status == 200, "SSE tail opened", str(tail.status))
    status, body = stack.ingest(item, "42")
    check(status == 201, "POST /api/v1/ingest/test with the admin token: 201 Created", f"{status} {body[:300]}")
    event = tail.wait_item(item, "42", 30)
    check(event is not None, "the injected event came back on the SSE tail")
    tail.close()
    rows = wait_for(lambda: [e for e in stack.stored(item, since) or [] if e.get("value") == "42"], 30)
    if not check(len(rows or []) == 1, "the injected event is stored once (window query)",
                 f"{rows}; last refused window query: {stack.window_refusal}"):
        diagnose(stack, "the injected event was not found by the window query")
    out = podman("exec", stack.name("postgres"), "psql", "-U", "iss", "-d", "iss", "-Atc",
                 "SELECT count(*) FROM schema_migrations").stdout.strip()
    want = len(list((ROOT / "migrations").glob("*.sql")))
    check(out == str(want), f"iss-migrate applied all {want} migrations", out)


def check_prometheus(stack):
    ours = {"ingestion", "storage", "peebot", "gateway"}

    def targets():
        status, body = request("GET", PROMETHEUS, "/api/v1/targets")
        if status != 200:
            return None
        t = {a["labels"]["job"]: a for a in json.loads(body)["data"]["activeTargets"]}
        return t if all(t.get(j, {}).get("health") == "up" for j in ours) else None

    t0 = time.monotonic()
    found = wait_for(targets, 90, every=2)
    check(bool(found), f"Prometheus: every service of ours is up ({time.monotonic() - t0:.1f} s)",
          request("GET", PROMETHEUS, "/api/v1/targets")[1][:600] if not found else "")
    if found:
        for job, t in sorted(found.items()):
            if job not in ours:
                print(f"note: Prometheus target {job} is {t['health']} ({t.get('lastError') or 'no error'})"
                      + (" -- the stand-in dev broker has no Redpanda /public_metrics" if job == "redpanda" else ""))
    want = len(re.findall(r"^\s*- alert:", (ROOT / "deploy/prometheus/alerts.yml").read_text(), re.M))

    def rules():
        status, body = request("GET", PROMETHEUS, "/api/v1/rules")
        if status != 200:
            return None
        rs = [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]
        return rs if len(rs) == want and all(r.get("health") == "ok" for r in rs) else None

    rs = wait_for(rules, 60, every=2)
    check(bool(rs), f"Prometheus: all {want} alert rules loaded and evaluated without error",
          request("GET", PROMETHEUS, "/api/v1/rules")[1][:600] if not rs else "")


def check_kill_restart(stack):
    name = stack.name("storage")
    before = inspect(name)
    item, n = "CONTAINER_KILL", 40
    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    base = datetime.datetime.now(datetime.timezone.utc)
    sent = 0
    for i in range(n // 2):
        sent += stack.ingest(item, str(i), base + datetime.timedelta(milliseconds=i))[0] == 201
    os.kill(before["State"]["Pid"], signal.SIGKILL)  # a crash: not `podman kill`, which counts as a stop
    for i in range(n // 2, n):
        sent += stack.ingest(item, str(i), base + datetime.timedelta(milliseconds=i))[0] == 201
    check(sent == n, f"{n} events accepted around the kill", str(sent))
    t0 = time.monotonic()

    def restarted():
        info = inspect(name) or {}
        return (info.get("RestartCount", 0) > before.get("RestartCount", 0)
                and info.get("State", {}).get("Running") and healthy(name))

    check(wait_for(restarted, 120, every=1), f"storage restarted by its policy and healthy again "
          f"({time.monotonic() - t0:.1f} s)")
    # A new member joins only once the killed one's session (45 s) has expired.
    rows = wait_for(lambda: (lambda r: r if r is not None and len(r) >= n else None)(stack.stored(item, since)), 150)
    values = sorted(int(e["value"]) for e in rows or [])
    check(values == list(range(n)), f"all {n} events stored exactly once after the crash",
          f"{len(values)} stored: {values[:50]}; last refused window query: {stack.window_refusal}")


def check_postgres_restart(stack):
    t0 = time.monotonic()
    r = podman("restart", "-t", str(stack.grace("postgres")), stack.name("postgres"))
    check(r.returncode == 0, "postgres restarted", r.stderr.strip())
    for svc in ("postgres", "storage", "peebot", "gateway"):
        check(wait_for(lambda: healthy(stack.name(svc)), 120, every=1),
              f"{svc}: healthy after the PostgreSQL restart ({time.monotonic() - t0:.1f} s)")
    item = "CONTAINER_PG_RESTART"
    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    tail = SseTail([item])
    ok = wait_for(lambda: stack.ingest(item, "7")[0] == 201, 60, every=1)
    check(ok, "an event is accepted after the PostgreSQL restart")
    check(tail.wait_item(item, "7", 30) is not None, "... comes back on the SSE tail")
    tail.close()
    rows = wait_for(lambda: stack.stored(item, since), 30)
    check(bool(rows), "... and is stored", f"last refused window query: {stack.window_refusal}")


def check_down(stack):
    r = subprocess.run(stack.compose + ["down"], capture_output=True, text=True)
    print(r.stdout, end="")
    stops = re.findall(r"stopped (\S+) in ([\d.]+) s \(grace ([\d.]+) s\), exit code (-?\d+)", r.stdout)
    seen = set()
    for name, took, grace, code in stops:
        svc = name[len(stack.project) + 1:]
        seen.add(svc)
        check(float(took) < float(grace) and code == "0",
              f"down: {svc} stopped in {float(took):.1f} s (grace {float(grace):g} s), exit {code}")
    check(seen == set(stack.services), "down: every container stopped", str(sorted(seen)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", required=True)
    ap.add_argument("--env-file", required=True)
    ap.add_argument("--compose", required=True, help="the compose-podman command line, quoted")
    ap.add_argument("--services", required=True)
    args = ap.parse_args()
    stack = Stack(args)
    t0 = time.monotonic()
    check_declared(stack)
    check_health(stack, 180)
    check_flow(stack)
    check_prometheus(stack)
    check_kill_restart(stack)
    check_postgres_restart(stack)
    if failed and not getattr(stack, "diagnosed", False):
        diagnose(stack, f"{failed} failed, before down")
    check_down(stack)
    print(f"stack checks took {time.monotonic() - t0:.0f} s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
