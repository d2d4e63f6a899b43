#!/usr/bin/env python3
"""The README's configuration table against the programs themselves: every ISS_*
variable a program lists in its --help (generated from the variables it actually reads
and validates) has a row in the README, and every variable the README documents is read
by some program (or by scripts/platform.sh, for ISS_PLATFORM_*).
Usage: check_env_table.py <source root> <program>..."""
import pathlib, re, subprocess, sys

ROOT = pathlib.Path(sys.argv[1]).resolve()
PROGRAMS = [pathlib.Path(p) for p in sys.argv[2:]]
failures = []

readme = set()
for line in (ROOT / "README.md").read_text().splitlines():
    if line.startswith("| "):
        first_cell = line.split("|")[1]
        readme.update(re.findall(r"`(ISS_[A-Z0-9_]+)`", first_cell))

read_by = {}  # variable -> programs that read it
for program in PROGRAMS:
    r = subprocess.run([str(program), "--help"], capture_output=True, text=True, timeout=30)
    names = re.findall(r"^  (ISS_[A-Z0-9_]+)\s", r.stdout + r.stderr, flags=re.M)
    if not names:
        failures.append(f"{program.name} --help lists no ISS_* variables (exit {r.returncode})")
    for name in names:
        read_by.setdefault(name, []).append(program.name)

for name in sorted(set(read_by) - readme):
    failures.append(f"{name} (read by {', '.join(read_by[name])}) has no row in README.md")

platform_sh = (ROOT / "scripts/platform.sh").read_text()
for name in sorted(readme - set(read_by)):
    if name.startswith("ISS_PLATFORM_") and name in platform_sh:
        continue
    failures.append(f"README.md documents {name}, which no program reads")

for f in failures:
    print("FAIL:", f)
print(f"{len(read_by)} variables in {len(PROGRAMS)} programs, {len(readme)} in README.md")
sys.exit(1 if failures else 0)
