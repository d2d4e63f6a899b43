#!/bin/bash
# Creates the platform topics once Redpanda answers; idempotent (exists = ok).
set -euo pipefail
b="${REDPANDA_BROKERS:-redpanda:9092}"
create() {
  out=$(rpk topic create "$@" --brokers "$b" 2>&1) || true
  echo "$out"
  echo "$out" | grep -Eq 'OK|TOPIC_ALREADY_EXISTS' || exit 1
}
# 7 days = 604800000 ms
create telemetry.raw.v1 -p 12 -r 1 -c retention.ms=604800000 -c cleanup.policy=delete
create telemetry.dlq.v1 -p 1 -r 1 -c retention.ms=1209600000 -c cleanup.policy=delete
