#!/usr/bin/env python3
"""Image checks that need no Docker engine (none exists on the dev and CI machines):
- every shared library the built service binaries load comes from a package the
  runtime stage installs, or from one of those packages' dependencies (apt-cache);
- the builder builds every program docker-compose.yml runs;
- .dockerignore keeps a local build tree and the .env secrets out of the build context.
Usage: check_image.py <source root> <binary>...   Exit 77 (CTest skip) without dpkg/apt-cache."""
import pathlib, re, shutil, subprocess, sys

ROOT = pathlib.Path(sys.argv[1]).resolve()
BINARIES = [pathlib.Path(b) for b in sys.argv[2:]]
failures = []


def runtime_packages(dockerfile):
    """Package names of the runtime stage's `apt-get install` (continuation lines)."""
    stage = dockerfile.split("AS runtime", 1)[1]
    block = stage.split("apt-get install", 1)[1].split("&&", 1)[0]
    words = block.replace("\\\n", " ").split()
    return [w for w in words if not w.startswith("-")]


def builder_targets(dockerfile):
    m = re.search(r"--target ((?:[\w+.-]+\s+(?:\\\s+)?)+)", dockerfile)
    return set(m.group(1).replace("\\", " ").split()) if m else set()


dockerfile = (ROOT / "docker/Dockerfile").read_text()
# ... and the stand-in override runs our image too (iss-devbroker for Redpanda).
compose = (ROOT / "docker-compose.yml").read_text() + (
    ROOT / "docker/standins/docker-compose.standins.yml").read_text()

# The builder builds what compose runs.
targets = builder_targets(dockerfile)
for program in sorted(set(re.findall(r'command: \["(iss-[\w-]+)"', compose))):
    if program not in targets:
        failures.append(f"compose runs {program}, the image's builder does not build it")

# A local build/ must stay out of the context (its CMakeCache breaks the builder),
# ... and .env (the compose secrets) out of the context and its cache.
ignore = ROOT / ".dockerignore"
ignored = ignore.read_text().split() if ignore.exists() else []
for entry in ("build/", ".env"):
    if entry not in ignored:
        failures.append(f".dockerignore does not exclude {entry}")

if shutil.which("dpkg") is None or shutil.which("apt-cache") is None:
    print("SKIP: dpkg/apt-cache not available (not a Debian machine)")
    sys.exit(77 if not failures else 1)

wanted = runtime_packages(dockerfile)
deps = subprocess.run(
    ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
     "--no-breaks", "--no-replaces", "--no-enhances", *wanted],
    capture_output=True, text=True)
if deps.returncode != 0:  # e.g. no package lists on this machine (apt-get update)
    for f in failures:
        print("FAIL:", f)
    print("SKIP: apt-cache cannot resolve the runtime packages:", deps.stderr.strip())
    sys.exit(1 if failures else 77)
closure = deps.stdout
installed = {line.strip() for line in closure.splitlines() if line and not line.startswith(" ")}
for pkg in wanted:
    if pkg not in installed:
        failures.append(f"runtime package {pkg} is unknown to apt")

# Every library each binary loads, then one dpkg query for all of them.
needed_by = {}  # library path -> the binaries that load it
for binary in BINARIES:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if "not found" in line:
            failures.append(f"{binary.name}: {line.strip()}")
            continue
        m = re.search(r"=> (/\S+)", line)
        if m:  # (the vDSO and the loader itself have no "=> path")
            needed_by.setdefault(str(pathlib.Path(m.group(1)).resolve()), []).append(binary.name)


def owners(paths):
    """path -> package, as dpkg knows it (usrmerge: maybe under /lib, not /usr/lib)."""
    out = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        pkg, _, path = line.partition(": ")
        found[path.strip()] = pkg.split(":", 1)[0]
    return found


libs = sorted(needed_by)
owner = owners(libs)
unowned = {lib.replace("/usr/lib/", "/lib/", 1): lib for lib in libs if lib not in owner}
if unowned:
    for path, pkg in owners(list(unowned)).items():
        if path in unowned:
            owner[unowned[path]] = pkg
for lib in libs:
    who = ", ".join(sorted(set(needed_by[lib])))
    pkg = owner.get(lib)
    if pkg is None:
        failures.append(f"{lib} (needed by {who}) belongs to no package")
    elif pkg not in installed:
        failures.append(f"{pkg} provides {pathlib.Path(lib).name} (needed by {who}); "
                        "the runtime stage does not install it")

for f in failures:
    print("FAIL:", f)
print(f"checked {len(BINARIES)} binaries against {len(wanted)} runtime packages "
      f"({len(installed)} with dependencies)")
sys.exit(1 if failures else 0)
