#!/usr/bin/env bash
# Installs the npm packages pinned by package-lock.json (a third-party gRPC
# reflection client and @grpc/grpc-js) into DEST/node_modules, with probe.js
# beside them. `npm ci` runs only when DEST does not already hold this very
# lock file's install, so a second run takes milliseconds.
#
#   tests/compat/grpc-reflection/install.sh DEST
#
# Exit 0: ready. Exit 77: cannot install here (npm missing, registry not
# reachable); the reason is on stderr. Install scripts are not run (none is
# needed).
set -euo pipefail
src="$(cd "$(dirname "$0")" && pwd)"
dest="${1:?usage: install.sh DEST}"

if ! command -v npm >/dev/null; then
  echo "npm is not on PATH (scripts/install-deps.sh installs Debian's nodejs and npm)" >&2
  exit 77
fi
mkdir -p "$dest"
exec 9>"$dest/.install.lock"
flock 9  # two test runs sharing a build tree install once
cp "$src/package.json" "$src/package-lock.json" "$src/probe.js" "$dest/"
want="$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)"
stamp="$dest/node_modules/.iss-package-lock.sha256"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
if ! (cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
        --fetch-retries=1 --fetch-timeout=30000 >&2); then
  echo "npm ci failed in $dest (registry $(npm config get registry) not reachable?)" >&2
  exit 77
fi
echo "$want" >"$stamp"
