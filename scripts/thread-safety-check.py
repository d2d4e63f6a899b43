#!/usr/bin/env python3
"""Clang's thread-safety analysis over every translation unit that uses it.

GCC builds the project and ignores ABSL_GUARDED_BY & co. This re-runs the
compile commands of the release build (compile_commands.json) through
`clang++ -fsyntax-only -Wthread-safety -Werror=thread-safety` for each source
file that includes a header using the annotations, so a field read without its
mutex fails CI instead of waiting for a race to show up.

  scripts/thread-safety-check.py [build/release]

Exit 0: clean; 1: findings (printed); 77: clang++ missing (skipped, loudly).
"""
import concurrent.futures
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANNOTATION = re.compile(r"ABSL_(GUARDED_BY|PT_GUARDED_BY|EXCLUSIVE_LOCKS_REQUIRED|"
                        r"SHARED_LOCKS_REQUIRED|LOCKS_EXCLUDED|LOCK_RETURNED|"
                        r"EXCLUSIVE_LOCK_FUNCTION|UNLOCK_FUNCTION|ASSERT_EXCLUSIVE_LOCK)")
# GCC-only options clang does not know, and flags that only make sense for codegen.
DROP = {"-fno-gnu-unique"}


def annotated_sources(commands):
    """Source files that use an annotation, or whose own header does: the
    analysis checks function bodies, and a class's methods live in its .cc."""
    annotated = set()
    for dirpath, _, files in os.walk(ROOT):
        if "/build" in dirpath or "/.git" in dirpath or "/node_modules" in dirpath:
            continue
        for f in files:
            if f.endswith((".h", ".cc")):
                p = os.path.join(dirpath, f)
                with open(p, errors="replace") as fh:
                    if ANNOTATION.search(fh.read()):
                        annotated.add(os.path.relpath(p, ROOT))
    picked, covered = [], set()
    for c in commands:
        src = os.path.relpath(c["file"], ROOT)
        if src.startswith(("build", "..")) or not src.endswith(".cc"):
            continue
        if src in annotated or src[:-3] + ".h" in annotated:
            picked.append(c)
            covered.update({src, src[:-3] + ".h"})
    # A header-only annotated class (inline methods) is checked through the
    # first translation unit that includes it.
    include = re.compile(r'#include\s+"([^"]+)"')
    for header in sorted(h for h in annotated if h.endswith(".h") and h not in covered):
        for c in commands:
            with open(c["file"], errors="replace") as fh:
                if header in include.findall(fh.read()):
                    picked.append(c)
                    break
    return picked


def clang_command(c):
    args = shlex.split(c["command"]) if "command" in c else list(c["arguments"])
    out = ["clang++"]
    skip = False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a == "-o" or a == "-MF" or a == "-MT":
            skip = True
            continue
        if a in ("-MD", "-c") or a in DROP or a.startswith("-Werror"):
            continue
        if a.endswith("ccache") or a.endswith("c++") or a.endswith("g++"):
            continue
        out.append(a)
    return out + ["-fsyntax-only", "-Wno-everything", "-Wthread-safety", "-Werror=thread-safety",
                  "-Wno-unknown-warning-option", c["file"]]


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build/release")
    if shutil.which("clang++") is None:
        print("thread-safety-check: SKIPPED: clang++ is not installed", file=sys.stderr)
        return 77
    with open(os.path.join(build, "compile_commands.json")) as fh:
        commands = json.load(fh)
    picked = annotated_sources(commands)
    failures, unanalysed = [], []

    def run(c):
        r = subprocess.run(clang_command(c), cwd=c["directory"], capture_output=True, text=True)
        return c["file"], r.returncode, r.stderr

    jobs = max(1, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for path, rc, err in pool.map(run, picked):
            if rc == 0:
                continue
            # Debian's clang 14 cannot compile libstdc++ 12's <coroutine>
            # (it lacks __cpp_impl_coroutine): such a unit cannot be analysed
            # at all, which is said below rather than passed off as clean.
            if "coroutine_traits type was not found" in err and "-Wthread-safety" not in err:
                unanalysed.append(path)
            else:
                failures.append((path, err))
    for path, err in failures:
        print(f"--- {os.path.relpath(path, ROOT)}\n{err}", file=sys.stderr)
    for path in unanalysed:
        print(f"thread-safety-check: NOT ANALYSED (clang cannot compile its C++20 coroutines): "
              f"{os.path.relpath(path, ROOT)}", file=sys.stderr)
    print(f"thread-safety-check: {len(picked) - len(unanalysed)} translation units analysed, "
          f"{len(failures)} with findings, {len(unanalysed)} not analysable")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
