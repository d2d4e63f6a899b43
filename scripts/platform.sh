#!/usr/bin/env bash
# Runs the whole platform on this machine with embedded defaults:
#   - PostgreSQL in .local/pg (created on first run; ISS_PG_DSN to use your own),
#   - iss-devbroker, an in-memory Kafka-protocol broker (ISS_KAFKA_BROKERS to use
#     Redpanda/Kafka instead),
#   - migrations, then ingestion, storage, Pee-Bot and the REST gateway.
# The feed is NASA's live ISSLIVE server; ISS_PLATFORM_FEED=simulator runs the
# bundled ISSLIVE simulator instead (no internet needed).
# Ctrl-C (or SIGTERM) stops everything in reverse order.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
state="$root/.local"
mkdir -p "$state/logs"

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build build/release -j "$(nproc)"
# Each program sits in its folder's build directory (build/release/services/<svc>/..., build/release/tools/<tool>/...).
binary() { find "$root/build/release" -type f -perm -u+x -name "$1" | head -n1; }

pids=()
names=()
stop_all() {
  trap - INT TERM EXIT
  # Reverse start order (the broker and database last), each given 20 s to drain.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    local pid=${pids[$i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "  ${names[$i]} did not stop in 20 s: killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n "${pg_started:-}" ]]; then run_pg "$pg_bin/pg_ctl" -D "$pg_data" -m fast stop >/dev/null || true; fi
  echo "platform stopped"
}
# A signal stops everything and ends the script there (not at the wait below,
# which would then report a service exit).
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

# start NAME ARGS...: runs a program in the background, logging to .local/logs/NAME.log.
start() {
  local name=$1; shift
  local path
  path=$(binary "$name")
  if [[ -z "$path" ]]; then echo "  (skipping $name: not built)"; return; fi
  "$path" "$@" >"$state/logs/$name.log" 2>&1 </dev/null &
  pids+=($!)
  names+=("$name")
  echo "  started $name (pid $!, log .local/logs/$name.log)"
}

# PostgreSQL: a local data dir, owned by an unprivileged user when run as root.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
run_pg() {
  # From /: runuser keeps the cwd, which postgres may not be allowed to enter.
  if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}
pg_data="$state/pg"
pg_log="$state/logs/postgres.log"
if [[ $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "$state"; then
  # Root in a checkout the postgres user cannot enter (e.g. under /root, mode
  # 700): the server's files go where it can.
  pg_data=/var/tmp/iss-platform/pg
  pg_log=/var/tmp/iss-platform/postgres.log
  mkdir -p /var/tmp/iss-platform
  chown postgres /var/tmp/iss-platform
fi
if [[ -z "${ISS_PG_DSN:-}" ]]; then
  pg_port="${ISS_PLATFORM_PG_PORT:-55432}"
  if [[ ! -f "$pg_data/PG_VERSION" ]]; then
    mkdir -p "$pg_data"
    if [[ $(id -u) -eq 0 ]]; then chown postgres "$pg_data"; fi
    run_pg "$pg_bin/initdb" -D "$pg_data" -A trust -U iss -E UTF8 >/dev/null
  fi
  touch "$pg_log"
  if [[ $(id -u) -eq 0 ]]; then chown -R postgres "$pg_data" "$pg_log"; fi
  run_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_log" -w \
    -o "-p $pg_port -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
  pg_started=1
  export ISS_PG_DSN="host=127.0.0.1 port=$pg_port user=iss dbname=postgres"
  echo "  started PostgreSQL on 127.0.0.1:$pg_port (data $pg_data, log $pg_log)"
fi

if [[ -z "${ISS_KAFKA_BROKERS:-}" ]]; then
  export ISS_DEVBROKER_ADDR="127.0.0.1:19092"
  start iss-devbroker
  export ISS_KAFKA_BROKERS="$ISS_DEVBROKER_ADDR"
fi
export ISS_ADMIN_TOKEN="${ISS_ADMIN_TOKEN:-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')}"

"$(binary iss-migrate)" || { echo "migrations failed" >&2; exit 1; }

if [[ "${ISS_PLATFORM_FEED:-isslive}" == "simulator" ]]; then
  start iss-simulator
  export ISS_LS_SERVER="${ISS_SIM_ADDR:-127.0.0.1:8088}" ISS_LS_TLS=false
  export ISS_INGEST_SOURCE_LABEL="${ISS_INGEST_SOURCE_LABEL:-simulator}"
fi
start iss-ingestion
start iss-storage
start iss-peebot
start iss-gateway

cat <<TXT

ISS telemetry platform is running.
  dashboard + REST   http://127.0.0.1:8080/
  gRPC (grpcurl)     ingestion 127.0.0.1:50051, storage :50052, Pee-Bot :50053
  admin token        $ISS_ADMIN_TOKEN   (send as 'authorization: Bearer <token>')
  admin CLI          $(binary issctl) --help   (ISS_ADMIN_TOKEN=... for admin commands)
  logs               .local/logs/
TXT
# The station feed's state, told plainly: streaming, or what is wrong and
# what to do (unreachable without internet access, refused by the server).
feed=""
for _ in $(seq 1 40); do
  feed="$("$(binary issctl)" ingest status 2>/dev/null | grep -E '^(source|hint):' || true)"
  case "$feed" in
    "source:"*streaming*|"source:"*refused*|"source:"*unreachable*|"source:"*circuit*) break ;;
  esac
  sleep 0.5
done
feed="$(printf '%s\n' "$feed" | sed -E 's/^source: +//; s/^hint: +/hint: /')"
echo "  station feed       ${feed:-unknown (see: issctl ingest status)}" | sed '2,$s/^/                     /'
echo "Press Ctrl-C to stop."
# Exit (and stop the rest) as soon as any service dies.
wait -n "${pids[@]}" || true
echo "a service exited; stopping the platform (see .local/logs/)" >&2
exit 1
