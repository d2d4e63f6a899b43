#!/usr/bin/python3
"""Runs a compose project with podman, setting for setting, where Docker Engine is absent.

    scripts/compose-podman.py [-p PROJECT] [-f FILE]... [--env-file FILE] up [SERVICE...]
    scripts/compose-podman.py ... down [-v]        stop (each within its stop_grace_period), remove
    scripts/compose-podman.py ... health [SERVICE...]   run each HEALTHCHECK now, print the states
    scripts/compose-podman.py ... ps | config

The compose files are read through `docker-compose config` (Debian's docker-compose: the
same parser, .env substitution and override merging as Docker's Compose), then every
service key is translated to its podman option. A key this script does not translate is
an error, never silently dropped. Why not podman-compose (1.0.3 in Debian bookworm): it
ignores depends_on conditions and stop_grace_period (its `down` stops with `-t 1`),
and podman's --read-only also mounts writable tmpfs unless told not to.

Without systemd (these machines), podman runs no health checks by itself: `up` runs
them while it waits on `condition: service_healthy`, and `health` runs them on demand.
Containers are <project>-<service>, the network <project>_default, volumes
<project>_<name>; the containers carry the com.docker.compose.* labels."""
import argparse, json, os, re, shutil, socket, subprocess, sys, tempfile, time

try:
    import yaml
except ImportError:  # Debian's python3-yaml (scripts/install-deps.sh)
    sys.exit("compose-podman: needs python3-yaml (apt-get install python3-yaml)")

# Service keys and how they reach podman; anything else in a service is refused.
KNOWN_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "user", "restart", "read_only",
    "security_opt", "init", "volumes", "ports", "depends_on", "healthcheck", "deploy",
    "stop_grace_period", "stop_signal", "networks",
}
DEFAULT_GRACE = 10.0  # seconds, as Compose


class ComposeError(Exception):
    pass


def duration(text, default=None):
    """Compose durations ("1m30s", "40s", "500ms", 10) in seconds."""
    if text is None:
        return default
    if isinstance(text, (int, float)):
        return float(text)
    total, rest = 0.0, str(text).strip()
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", rest):
        total += float(value) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[unit]
    if not re.fullmatch(r"((\d+(?:\.\d+)?)(ms|us|ns|h|m|s))+", rest):
        raise ComposeError(f"cannot read the duration {text!r}")
    return total


def seconds_arg(value):
    return f"{value:g}s"


class Project:
    def __init__(self, name, config, pull="missing"):
        self.name = name
        self.pull = pull
        self.services = config.get("services") or {}
        self.volumes = config.get("volumes") or {}
        self.network = f"{name}_default"
        for svc, spec in self.services.items():
            unknown = sorted(set(spec) - KNOWN_KEYS)
            if unknown:
                raise ComposeError(f"service {svc}: compose key(s) {', '.join(unknown)} have no "
                                   "podman translation here; refusing to run with different settings")
            nets = spec.get("networks")
            if nets and set(nets) != {"default"}:
                raise ComposeError(f"service {svc}: only the default network is supported")

    def container(self, svc):
        return f"{self.name}-{svc}"

    def volume(self, name):
        return f"{self.name}_{name}"

    def grace(self, svc):
        return duration(self.services[svc].get("stop_grace_period"), DEFAULT_GRACE)

    def order(self, wanted=None):
        """Services in start order (dependencies first), limited to `wanted` and what they need."""
        seen, out = set(), []

        def visit(svc, path):
            if svc in seen:
                return
            if svc in path:
                raise ComposeError("dependency cycle: " + " -> ".join(path + [svc]))
            if svc not in self.services:
                raise ComposeError(f"no service {svc}")
            for dep in deps(self.services[svc]):
                visit(dep, path + [svc])
            seen.add(svc)
            out.append(svc)

        for svc in (wanted or sorted(self.services)):
            visit(svc, [])
        return out

    def run_args(self, svc, env_file):
        """The `podman run` arguments for one service (env values go in `env_file`)."""
        spec = self.services[svc]
        if "image" not in spec:
            raise ComposeError(f"service {svc}: no image (build it first; this script does not build)")
        a = ["run", "--detach", f"--pull={self.pull}", f"--name={self.container(svc)}",
             f"--network={self.network}", f"--network-alias={svc}", f"--hostname={svc}",
             f"--label=com.docker.compose.project={self.name}",
             f"--label=com.docker.compose.service={svc}"]
        if spec.get("user") is not None:
            a.append(f"--user={spec['user']}")
        if spec.get("read_only"):
            # Docker's read_only has no writable tmpfs; podman adds /tmp, /var/tmp, /run unless told.
            a += ["--read-only", "--read-only-tmpfs=false"]
        for opt in spec.get("security_opt") or []:
            a.append(f"--security-opt={opt}")
        if spec.get("init"):
            a.append("--init")
        a.append(f"--restart={spec.get('restart', 'no')}")
        a.append(f"--stop-timeout={int(round(self.grace(svc)))}")
        if spec.get("stop_signal"):
            a.append(f"--stop-signal={spec['stop_signal']}")
        limits = (((spec.get("deploy") or {}).get("resources") or {}).get("limits") or {})
        if set(spec.get("deploy") or {}) - {"resources"} or set(
                (spec.get("deploy") or {}).get("resources") or {}) - {"limits"} or set(limits) - {"cpus", "memory"}:
            raise ComposeError(f"service {svc}: only deploy.resources.limits.cpus/memory are translated")
        if limits.get("cpus") is not None:
            a.append(f"--cpus={limits['cpus']}")
        if limits.get("memory") is not None:
            a.append(f"--memory={str(limits['memory']).lower()}")
        env = spec.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, os.environ.get(e, "")) for e in env)
        with open(env_file, "w") as f:
            for k, v in env.items():
                if "\n" in str(v):
                    raise ComposeError(f"service {svc}: {k} holds a newline")
                f.write(f"{k}={'' if v is None else v}\n")
        a.append(f"--env-file={env_file}")
        for v in spec.get("volumes") or []:
            a.append("--volume=" + self.volume_arg(svc, v))
        for p in spec.get("ports") or []:
            a.append("--publish=" + port_arg(svc, p))
        a += health_args(svc, spec.get("healthcheck"))
        if spec.get("entrypoint") is not None:
            ep = spec["entrypoint"]
            a.append("--entrypoint=" + (json.dumps(ep) if isinstance(ep, list) else ep))
        a.append(spec["image"])
        cmd = spec.get("command")
        if cmd is not None:
            if not isinstance(cmd, list):
                raise ComposeError(f"service {svc}: give command as a list")
            a += [str(c) for c in cmd]
        return a

    def volume_arg(self, svc, v):
        if isinstance(v, dict):
            src, dst, ro, kind = v.get("source"), v["target"], v.get("read_only", False), v.get("type")
            mode = "ro" if ro else "rw"
        else:
            parts = v.split(":")
            if len(parts) == 2:
                parts.append("rw")
            if len(parts) != 3:
                raise ComposeError(f"service {svc}: cannot read volume {v!r}")
            src, dst, mode = parts
            kind = "bind" if src.startswith("/") else "volume"
        if kind == "volume":
            if src not in self.volumes:
                raise ComposeError(f"service {svc}: volume {src} is not declared")
            src = self.volume(src)
        elif not os.path.exists(src):
            raise ComposeError(f"service {svc}: bind source {src} does not exist")
        return f"{src}:{dst}:{mode}"


def docker_hub_name(image):
    """Docker's reading of a short image name ("postgres:15" = docker.io/library/postgres:15);
    podman would ask registries.conf, which may name no registry at all."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return image  # already names its registry
    return "docker.io/" + (image if "/" in image else "library/" + image)


def deps(spec):
    d = spec.get("depends_on") or {}
    return list(d) if isinstance(d, (list, dict)) else []


def port_arg(svc, p):
    if isinstance(p, dict):
        host = p.get("host_ip", "")
        out = f"{host + ':' if host else ''}{p['published']}:{p['target']}/{p.get('protocol', 'tcp')}"
    else:
        out = str(p)
    if not re.fullmatch(r"(\d+\.\d+\.\d+\.\d+:)?\d+:\d+(/(tcp|udp))?", out):
        raise ComposeError(f"service {svc}: cannot read port {p!r} (host and container port needed)")
    return out


def health_args(svc, hc):
    if not hc:
        return []
    if hc.get("disable"):
        return ["--no-healthcheck"]
    test = hc.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not test or test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        raise ComposeError(f"service {svc}: cannot read healthcheck test {test!r}")
    if test[0] == "NONE":
        return ["--no-healthcheck"]
    # podman 4.3 splits a JSON array that starts with CMD on whitespace, brackets and
    # quotes included; "CMD a b" (words) and "CMD-SHELL text" are read as meant.
    if test[0] == "CMD" and any(re.search(r"\s", t) or not t for t in test[1:]):
        raise ComposeError(f"service {svc}: healthcheck CMD arguments with blanks are not translated")
    a = ["--health-cmd=" + (" ".join(test) if test[0] == "CMD" else f"CMD-SHELL {test[1]}")]
    for key, opt in (("interval", "--health-interval"), ("timeout", "--health-timeout"),
                     ("start_period", "--health-start-period")):
        if hc.get(key) is not None:
            a.append(f"{opt}={seconds_arg(duration(hc[key]))}")
    if hc.get("retries") is not None:
        a.append(f"--health-retries={int(hc['retries'])}")
    unknown = set(hc) - {"test", "interval", "timeout", "start_period", "retries", "disable"}
    if unknown:
        raise ComposeError(f"service {svc}: healthcheck key(s) {', '.join(sorted(unknown))} not translated")
    return a


# --- podman ------------------------------------------------------------------------------
def podman(*args, check=True, capture=True):
    r = subprocess.run(["podman", *args], capture_output=capture, text=True, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise ComposeError(f"podman {' '.join(args[:3])}...: {(r.stderr or '').strip()}")
    return r


def inspect(name):
    r = podman("container", "inspect", name, check=False)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)[0]


def health_now(name):
    """Runs the container's HEALTHCHECK once; returns 'healthy', 'unhealthy', 'starting' or None."""
    r = podman("healthcheck", "run", name, check=False)
    if r.returncode == 0:
        return "healthy"
    st = (inspect(name) or {}).get("State", {})
    h = st.get("Health") or st.get("Healthcheck") or {}
    return h.get("Status") or ("unhealthy" if st.get("Running") else None)


def wait_condition(project, dep, condition, deadline):
    name = project.container(dep)
    while True:
        info = inspect(name)
        st = (info or {}).get("State", {})
        if condition == "service_completed_successfully":
            if info and not st.get("Running") and st.get("Status") == "exited":
                if st.get("ExitCode") == 0:
                    return
                raise ComposeError(f"{dep} exited with {st.get('ExitCode')}: {logs_tail(name)}")
        elif condition == "service_healthy":
            if st.get("Running") and health_now(name) == "healthy":
                return
        elif st.get("Running"):  # service_started
            return
        if time.monotonic() > deadline:
            raise ComposeError(f"{dep} did not reach {condition} in time: {logs_tail(name)}")
        time.sleep(1)  # a deadline bounds it; each round runs the health check itself


def logs_tail(name, lines=15):
    r = podman("logs", "--tail", str(lines), name, check=False)
    return "\n" + (r.stdout + r.stderr).strip()


def port_free(spec):
    m = re.fullmatch(r"(?:(\d+\.\d+\.\d+\.\d+):)?(\d+):\d+(?:/tcp)?", spec)
    if not m:
        return True
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((m.group(1) or "0.0.0.0", int(m.group(2))))
        return True
    except OSError:
        return False
    finally:
        s.close()


# --- commands ------------------------------------------------------------------------------
def up(project, wanted, timeout):
    services = project.order(wanted)
    for svc in services:
        if inspect(project.container(svc)):
            raise ComposeError(f"{project.container(svc)} exists: run `down` first")
        for p in project.services[svc].get("ports") or []:
            if not port_free(port_arg(svc, p)):
                raise ComposeError(f"{svc}: host port {port_arg(svc, p)} is in use")
    if podman("network", "exists", project.network, check=False).returncode != 0:
        podman("network", "create", "--label", f"com.docker.compose.project={project.name}",
               project.network)
    for svc in services:
        for v in project.services[svc].get("volumes") or []:
            src = v.get("source") if isinstance(v, dict) else v.split(":")[0]
            if src in project.volumes and podman("volume", "exists", project.volume(src),
                                                 check=False).returncode != 0:
                podman("volume", "create", "--label", f"com.docker.compose.project={project.name}",
                       project.volume(src))
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="compose-podman-") as tmp:
        for svc in services:
            spec = project.services[svc]
            # A local image (ours, built first) by its own name; anything else as Docker reads it.
            if podman("image", "exists", spec["image"], check=False).returncode != 0:
                spec["image"] = docker_hub_name(spec["image"])
            d = spec.get("depends_on") or {}
            for dep in deps(spec):
                cond = d[dep].get("condition", "service_started") if isinstance(d, dict) else "service_started"
                t0 = time.monotonic()
                wait_condition(project, dep, cond, deadline)
                print(f"  {dep}: {cond} ({time.monotonic() - t0:.1f} s)", flush=True)
            env_file = os.path.join(tmp, f"{svc}.env")
            podman(*project.run_args(svc, env_file))
            os.unlink(env_file)  # secrets: only as long as podman needs them
            print(f"started {project.container(svc)}", flush=True)


def down(project, remove_volumes):
    """Stops in reverse start order, each with its own grace; prints seconds and exit codes."""
    for svc in reversed(project.order()):
        name = project.container(svc)
        info = inspect(name)
        if not info:
            continue
        grace = project.grace(svc)
        t0 = time.monotonic()
        if info["State"].get("Running"):
            podman("stop", "-t", str(int(round(grace))), name, check=False)
        took = time.monotonic() - t0
        st = (inspect(name) or {}).get("State", {})
        print(f"stopped {name} in {took:.1f} s (grace {grace:g} s), exit code {st.get('ExitCode')}",
              flush=True)
        podman("rm", "-f", name, check=False)
    if podman("network", "exists", project.network, check=False).returncode == 0:
        podman("network", "rm", project.network, check=False)
    if remove_volumes:
        for v in project.volumes:
            podman("volume", "rm", "-f", project.volume(v), check=False)


def load(args):
    if shutil.which("docker-compose") is None:
        raise ComposeError("needs docker-compose (Debian's, for `docker-compose config`)")
    cmd = ["docker-compose", "-p", args.project]
    for f in args.file:
        cmd += ["-f", f]
    if args.env_file:
        cmd += ["--env-file", args.env_file]
    r = subprocess.run(cmd + ["config"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise ComposeError("docker-compose config: " + r.stderr.strip())
    return r.stdout, Project(args.project, yaml.safe_load(r.stdout), args.pull)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-p", "--project", default="iss")
    ap.add_argument("-f", "--file", action="append", default=[])
    ap.add_argument("--env-file")
    ap.add_argument("--pull", choices=["missing", "never", "always"], default="missing",
                    help="podman run --pull (our image is never pulled: build it first)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up")
    u.add_argument("services", nargs="*")
    u.add_argument("--timeout", type=float, default=600, help="for all dependency conditions, s")
    d = sub.add_parser("down")
    d.add_argument("-v", "--volumes", action="store_true")
    h = sub.add_parser("health")
    h.add_argument("services", nargs="*")
    sub.add_parser("ps")
    sub.add_parser("config")
    args = ap.parse_args(argv)
    if not args.file:
        args.file = ["docker-compose.yml"]
    try:
        text, project = load(args)
        if args.cmd == "config":
            print(text)
        elif args.cmd == "up":
            up(project, args.services, args.timeout)
        elif args.cmd == "down":
            down(project, args.volumes)
        elif args.cmd == "health":
            bad = 0
            for svc in args.services or project.order():
                name = project.container(svc)
                info = inspect(name)
                if not info:
                    continue
                st = info["State"]
                if str(project.services[svc].get("restart", "no")) == "no" and not st.get("Running"):
                    print(f"{svc}: exited {st.get('ExitCode')} (runs once)")
                    bad += st.get("ExitCode") != 0
                    continue
                state = health_now(name)
                print(f"{svc}: {state}")
                bad += state != "healthy"
            return 1 if bad else 0
        elif args.cmd == "ps":
            podman("ps", "-a", "--filter", f"label=com.docker.compose.project={project.name}",
                   capture=False)
    except ComposeError as e:
        print(f"compose-podman: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
