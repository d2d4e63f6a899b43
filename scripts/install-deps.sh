#!/usr/bin/env bash
# Installs the Debian bookworm packages the platform builds, tests and runs with.
# Idempotent: installs only what is missing, and runs `apt-get update` at most once.
# Usage: scripts/install-deps.sh   (root, or sudo on PATH)
set -euo pipefail

packages=(
  # toolchain
  cmake g++ ninja-build pkg-config ccache git
  # formatting check, and clang's thread-safety analysis (scripts/*-check.*)
  clang-format clang
  # gRPC, protobuf, abseil and the well-known protos we compile against
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  grpc-proto golang-github-grpc-ecosystem-grpc-gateway-dev
  # Kafka, Postgres, HTTP/WebSocket/TLS, metrics, JSON, gzip (recordings)
  librdkafka-dev libpqxx-dev libboost-dev libboost-system-dev libssl-dev
  prometheus-cpp-dev nlohmann-json3-dev zlib1g-dev
  # Unicode text segmentation (post lengths counted in grapheme clusters)
  libicu-dev
  # issctl's command line: subcommands and flags (header-only)
  libcli11-dev
  # tests and benchmarks (the PostgreSQL server backs the test fixture and the local run)
  libgtest-dev libgmock-dev libbenchmark-dev postgresql-15 postgresql-client-15
  # network tools used by the local run and docs
  curl ca-certificates
  # checks of the container stack (tests/ops) and the dashboard's browser test
  docker-compose prometheus python3-yaml chromium
)
# Node runs the third-party gRPC reflection client of tests/compat (its npm packages are
# pinned there and installed by the test). Debian's only when there is no node/npm at all:
# a NodeSource nodejs already ships npm, and Debian's npm package would conflict with it.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
