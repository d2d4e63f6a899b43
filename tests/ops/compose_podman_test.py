#!/usr/bin/python3
"""scripts/compose-podman.py turns every compose setting into its podman option, refuses
what it cannot translate, and starts services after what they depend on.
Usage: compose_podman_test.py <source root>. Needs no podman (nothing is started)."""
import importlib.util, json, pathlib, shutil, subprocess, sys, tempfile, unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
ROOT = pathlib.Path(sys.argv.pop(1) if len(sys.argv) > 1 else ".").resolve()
spec = importlib.util.spec_from_file_location("compose_podman", ROOT / "scripts/compose-podman.py")
cp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cp)

OURS = {
    "image": "iss-platform:latest", "command": ["iss-ingestion"], "init": True,
    "user": "10001:10001", "restart": "unless-stopped", "read_only": True,
    "security_opt": ["no-new-privileges:true"], "stop_grace_period": "40s",
    "environment": {"ISS_ADMIN_TOKEN": "s3cret", "ISS_HEALTH_PORT": "9101"},
    "ports": ["127.0.0.1:50051:50051/tcp"],
    "healthcheck": {"test": ["CMD", "/usr/local/bin/iss-healthcheck"], "interval": "10s",
                    "timeout": "3s", "retries": 3, "start_period": "20s"},
    "deploy": {"resources": {"limits": {"cpus": 0.5, "memory": "512M"}}},
    "depends_on": {"db": {"condition": "service_healthy"}},
}


def project(**services):
    return cp.Project("t", {"services": services, "volumes": {"data": {}}})


class Translation(unittest.TestCase):
    def args(self, svc_spec):
        with tempfile.TemporaryDirectory() as d:
            env = pathlib.Path(d) / "env"
            a = project(svc=svc_spec, db={"image": "x"}).run_args("svc", str(env))
            return a, env.read_text()

    def test_every_setting_of_a_service_of_ours(self):
        a, env = self.args(OURS)
        for want in ("--user=10001:10001", "--read-only", "--read-only-tmpfs=false", "--init",
                     "--security-opt=no-new-privileges:true", "--restart=unless-stopped",
                     "--stop-timeout=40", "--cpus=0.5", "--memory=512m",
                     "--publish=127.0.0.1:50051:50051/tcp", "--name=t-svc", "--network=t_default",
                     "--network-alias=svc", "--pull=missing",
                     "--health-cmd=CMD /usr/local/bin/iss-healthcheck",
                     "--health-interval=10s", "--health-timeout=3s", "--health-retries=3",
                     "--health-start-period=20s"):
            self.assertIn(want, a)
        self.assertEqual(a[-2:], ["iss-platform:latest", "iss-ingestion"])
        # Secrets go through a file, never the command line.
        self.assertNotIn("s3cret", " ".join(a))
        self.assertIn("ISS_ADMIN_TOKEN=s3cret\n", env)

    def test_defaults_are_composes(self):
        a, _ = self.args({"image": "x"})
        self.assertIn("--stop-timeout=10", a)
        self.assertIn("--restart=no", a)
        self.assertNotIn("--read-only", a)

    def test_entrypoint_volumes_and_durations(self):
        a, _ = self.args({"image": "x", "entrypoint": ["/bin/bash", "/init.sh"],
                          "volumes": ["data:/var/lib/x:rw", "/etc/hostname:/h:ro"],
                          "stop_grace_period": "1m30s"})
        self.assertIn('--entrypoint=["/bin/bash", "/init.sh"]', a)
        self.assertIn("--volume=t_data:/var/lib/x:rw", a)
        self.assertIn("--volume=/etc/hostname:/h:ro", a)
        self.assertIn("--stop-timeout=90", a)

    def test_health_check_forms(self):
        a, _ = self.args({"image": "x", "healthcheck": {"test": ["CMD-SHELL", "pg_isready -U iss"]}})
        self.assertIn("--health-cmd=CMD-SHELL pg_isready -U iss", a)
        a, _ = self.args({"image": "x", "healthcheck": {"test": "rpk cluster health"}})
        self.assertIn("--health-cmd=CMD-SHELL rpk cluster health", a)
        a, _ = self.args({"image": "x", "healthcheck": {"test": ["NONE"]}})
        self.assertIn("--no-healthcheck", a)
        with self.assertRaisesRegex(cp.ComposeError, "blanks"):
            self.args({"image": "x", "healthcheck": {"test": ["CMD", "echo", "a b"]}})

    def test_what_is_not_translated_is_refused(self):
        with self.assertRaisesRegex(cp.ComposeError, "cap_add"):
            project(svc={"image": "x", "cap_add": ["NET_ADMIN"]})
        with self.assertRaisesRegex(cp.ComposeError, "reservations|only deploy"):
            self.args({"image": "x", "deploy": {"resources": {"reservations": {"memory": "1G"}}}})
        with self.assertRaisesRegex(cp.ComposeError, "not declared"):
            self.args({"image": "x", "volumes": ["other:/x:rw"]})
        with self.assertRaisesRegex(cp.ComposeError, "duration"):
            cp.duration("forty seconds")

    def test_short_image_names_are_read_as_docker_reads_them(self):
        self.assertEqual(cp.docker_hub_name("postgres:15-bookworm"), "docker.io/library/postgres:15-bookworm")
        self.assertEqual(cp.docker_hub_name("grafana/grafana:10.2.3"), "docker.io/grafana/grafana:10.2.3")
        for full in ("docker.redpanda.com/redpandadata/redpanda:v23.3.5", "localhost/iss-platform:latest",
                     "registry:5000/x/y:1"):
            self.assertEqual(cp.docker_hub_name(full), full)

    def test_dependencies_start_first(self):
        p = project(gateway={"image": "x", "depends_on": {"api": {"condition": "service_healthy"}}},
                    api={"image": "x", "depends_on": ["db"]}, db={"image": "x"}, other={"image": "x"})
        self.assertEqual(p.order(["gateway"]), ["db", "api", "gateway"])
        self.assertLess(p.order().index("api"), p.order().index("gateway"))
        with self.assertRaisesRegex(cp.ComposeError, "cycle"):
            project(a={"image": "x", "depends_on": ["b"]}, b={"image": "x", "depends_on": ["a"]}).order()


@unittest.skipIf(shutil.which("docker-compose") is None,
                 "SKIPPED: docker-compose not installed (scripts/install-deps.sh installs it)")
class TheRealFiles(unittest.TestCase):
    def test_compose_file_and_stand_ins_translate_and_keep_our_settings(self):
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run(
                ["docker-compose", "-p", "t", "-f", ROOT / "docker-compose.yml",
                 "-f", ROOT / "docker/standins/docker-compose.standins.yml",
                 "--env-file", ROOT / ".env.example", "config"],
                capture_output=True, text=True, check=True)
            import yaml
            p = cp.Project("t", yaml.safe_load(r.stdout))
            for svc in p.order():
                a = p.run_args(svc, str(pathlib.Path(d) / "env"))
                if p.services[svc]["image"] == "iss-platform:latest":
                    for want in ("--user=10001:10001", "--read-only", "--read-only-tmpfs=false",
                                 "--security-opt=no-new-privileges:true"):
                        self.assertIn(want, a, svc)
            self.assertIn("--stop-timeout=40", p.run_args("ingestion", str(pathlib.Path(d) / "env")))
            order = p.order()
            self.assertLess(order.index("migrate"), order.index("storage"))
            self.assertLess(order.index("storage"), order.index("gateway"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
