#!/usr/bin/env bash
# Builds everything and runs the whole test suite (unit + integration + e2e),
# against real parts: a throwaway PostgreSQL server and librdkafka's mock
# Kafka cluster, both started by the tests themselves.
#
#   scripts/test.sh              # everything
#   scripts/test.sh -L unit      # extra arguments go to ctest (labels: unit, integration, e2e)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1  # cache hits across clones

preset="${ISS_TEST_PRESET:-release}"
cmake --preset "$preset" >/dev/null
cmake --build "build/$preset" -j "$(nproc)"
ctest --test-dir "build/$preset" --output-on-failure --timeout 600 -j 2 "$@"
