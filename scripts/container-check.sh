#!/usr/bin/env bash
# Builds the container image and runs docker-compose.yml with podman where Docker Engine
# is absent (these machines), then checks both. Root; Debian bookworm packages only.
#
#   scripts/container-check.sh          # everything below, in order
#   scripts/container-check.sh prepare  # podman/buildah/runc/debootstrap; base image
#   scripts/container-check.sh build    # docker/Dockerfile -> iss-platform:latest; stand-ins
#   scripts/container-check.sh image    # checks of the built image
#   scripts/container-check.sh stack    # compose up, tests/ops/check_stack.py, down
#
# Exit 0 all passed, 1 a check failed, 77 skipped (podman cannot run containers here;
# the reason is printed). Settings (environment):
#   ISS_CONTAINER_STATE    /var/tmp/iss-containers: base rootfs, generated .env, logs
#   ISS_CONTAINER_PROJECT  iss-check: prefix of containers, network and volumes
#   ISS_CONTAINER_CCACHE   the host's ccache folder (ccache -k cache_dir): the builder
#                          compiles through it (buildah -v), so an image built after a
#                          native build reuses its objects; "none" = the Dockerfile's own
#                          cache mount only
#   ISS_CONTAINER_MIN_CCACHE_HITS  fail below this % of compiler cache hits in the image
#                          build (CI: after the native build nearly all should hit)
# podman's settings come from docker/podman/containers.conf (CONTAINERS_CONF), never /etc.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
state="${ISS_CONTAINER_STATE:-/var/tmp/iss-containers}"
project="${ISS_CONTAINER_PROJECT:-iss-check}"
export CONTAINERS_CONF="$root/docker/podman/containers.conf"
image=localhost/iss-platform:latest
base=docker.io/library/debian:bookworm
python=/usr/bin/python3  # Debian's: the one that sees python3-yaml
compose=("$python" "$root/scripts/compose-podman.py" -p "$project" --pull never
  -f docker-compose.yml -f docker/standins/docker-compose.standins.yml --env-file "$state/env")
# Every service but grafana (no Debian package, no stand-in; checked statically).
stack_services=(redpanda redpanda-init postgres migrate isslive ingestion storage peebot gateway
  prometheus)
mkdir -p "$state/logs"

say() { echo "== container-check: $*"; }
skip() {
  echo "#####################################################################"
  echo "## SKIPPED container checks: $*"
  echo "#####################################################################"
  exit 77
}
fail() { echo "container-check: FAIL: $*" >&2; exit 1; }
elapsed() { echo $(($(date +%s) - $1)); }

prepare() {
  [[ $(id -u) -eq 0 ]] || skip "needs root (podman and buildah run as root here)"
  local pkgs=(podman buildah runc catatonit debootstrap docker-compose python3-yaml) missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" </dev/null >"$state/logs/apt.log" 2>&1 ||
      skip "apt-get install ${missing[*]} failed (see $state/logs/apt.log)"
  fi
  if ! podman image exists "$base"; then
    # No registry answers here: the base image is Debian's own minbase, from the mirror.
    say "base image: debootstrap --variant=minbase bookworm"
    local t0 rootfs="$state/rootfs"
    t0=$(date +%s)
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian \
      >"$state/logs/debootstrap.log" 2>&1 || skip "debootstrap failed (see $state/logs/debootstrap.log)"
    # Sources as in Debian's official image: the release, its updates and security.
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import --change 'CMD ["bash"]' - localhost/iss-base:bookworm >/dev/null 2>&1
    podman tag localhost/iss-base:bookworm "$base" docker.io/library/debian:bookworm-slim
    rm -rf "$rootfs"
    say "base image ready in $(elapsed "$t0") s"
  fi
  local out
  out=$(podman run --rm --pull=never --no-healthcheck "$base" true 2>&1) ||
    skip "podman cannot run a container on this machine: $out"
}

build() {
  local t0 ccache_dir="${ISS_CONTAINER_CCACHE:-}" vol=()
  if [[ -z "$ccache_dir" ]] && command -v ccache >/dev/null; then
    ccache_dir=$(ccache -k cache_dir)
  fi
  if [[ -n "$ccache_dir" && "$ccache_dir" != none ]]; then
    mkdir -p "$ccache_dir"
    vol=(-v "$ccache_dir:/host-ccache" --build-arg CCACHE_DIR=/host-ccache)
    # ccache hashes these: the builder must see the host's values to hit its objects.
    for v in LANG LC_ALL LC_CTYPE LC_MESSAGES; do
      [[ -n "${!v+set}" ]] && vol+=(--build-arg "$v=${!v}")
    done
    say "building $image (compiler cache: the host's $ccache_dir)"
  else
    say "building $image (compiler cache: the Dockerfile's cache mount)"
  fi
  t0=$(date +%s)
  # Docker's image format: OCI images have no HEALTHCHECK (buildah drops it with a warning).
  buildah bud --isolation chroot --pull=never --layers --format docker "${vol[@]}" \
    -f docker/Dockerfile -t "$image" . >"$state/logs/build-image.log" 2>&1 ||
    { tail -n 40 "$state/logs/build-image.log"; fail "image build failed (log: $state/logs/build-image.log)"; }
  local hits
  hits=$(sed -n 's/^ccache hits: *//p' "$state/logs/build-image.log" | tail -n 1)
  say "image built in $(elapsed "$t0") s; compiler cache hits ${hits:-(none compiled: layer cache)}"
  # CI sets ISS_CONTAINER_MIN_CCACHE_HITS: after its native build the image's compile must
  # come from that cache (~20 min on 2 cores otherwise).
  if [[ -n "${ISS_CONTAINER_MIN_CCACHE_HITS:-}" && -n "$hits" ]]; then
    local pct=${hits#*(}
    pct=${pct%%.*}
    ((pct >= ISS_CONTAINER_MIN_CCACHE_HITS)) ||
      fail "the image build hit the host's ccache for only $hits (at least $ISS_CONTAINER_MIN_CCACHE_HITS % wanted)"
  fi
  t0=$(date +%s)
  for s in postgres:15 prometheus:2; do
    buildah bud --isolation chroot --pull=never --layers --format docker -f "docker/standins/${s%%:*}.Dockerfile" \
      -t "localhost/iss-standin-$s" . >"$state/logs/build-standin-${s%%:*}.log" 2>&1 ||
      { tail -n 40 "$state/logs/build-standin-${s%%:*}.log"; fail "stand-in $s build failed"; }
  done
  say "stand-in images built in $(elapsed "$t0") s"
}

image_checks() {
  local failed=0 user bins b out size base_size
  user=$(podman image inspect -f '{{.Config.User}}' "$image")
  [[ "$user" == 10001:10001 ]] || { echo "FAIL: image user is '$user', not 10001:10001"; failed=1; }
  out=$(podman image inspect -f '{{json .Config.Healthcheck.Test}}' "$image")
  [[ "$out" == *iss-healthcheck* ]] || { echo "FAIL: the image has no HEALTHCHECK ($out)"; failed=1; }
  out=$(podman run --rm --pull=never --no-healthcheck --read-only --entrypoint id "$image" -u)
  [[ "$out" == 10001 ]] || { echo "FAIL: runs as uid '$out'"; failed=1; }
  # Every program starts, finds its libraries and prints its configuration (--help),
  # read-only as compose runs it.
  bins=$(podman run --rm --pull=never --no-healthcheck --entrypoint bash "$image" -c \
    'ls /usr/local/bin | grep -E "^iss" | grep -vx iss-healthcheck')
  for b in $bins; do
    if out=$(podman run --rm --pull=never --no-healthcheck --read-only "$image" "$b" --help 2>&1) &&
      grep -q "ISS_" <<<"$out"; then
      echo "ok: $b --help ($(grep -c "ISS_" <<<"$out") settings)"
    else
      echo "FAIL: $b --help: $(head -n 5 <<<"$out")"
      failed=1
    fi
  done
  for b in iss-ingestion iss-storage iss-peebot iss-gateway iss-migrate iss-simulator iss-devbroker issctl; do
    grep -qx "$b" <<<"$bins" || { echo "FAIL: $b is not in the image"; failed=1; }
  done
  # The dashboard where compose's ISS_GATEWAY_WEB_ROOT points, identical to the tree's;
  # the migrations beside it (iss-migrate has them compiled in; the stack check counts them).
  for f in gateway/web/*; do
    if podman run --rm --pull=never --no-healthcheck --entrypoint cat "$image" "/usr/local/share/iss/web/${f##*/}" |
      cmp -s - "$f"; then
      echo "ok: /usr/local/share/iss/web/${f##*/}"
    else
      echo "FAIL: /usr/local/share/iss/web/${f##*/} differs from $f or is missing"
      failed=1
    fi
  done
  out=$(podman run --rm --pull=never --no-healthcheck --entrypoint ls "$image" /usr/local/share/iss/migrations)
  [[ "$out" == "$(ls migrations)" ]] || { echo "FAIL: migrations in the image: $out"; failed=1; }
  size=$(podman image inspect -f '{{.Size}}' "$image")
  base_size=$(podman image inspect -f '{{.Size}}' "$base")
  say "image size $((size / 1000000)) MB = base $((base_size / 1000000)) MB + $(((size - base_size) / 1000000)) MB" \
    "(the base is debootstrap's minbase, larger than Docker Hub's bookworm-slim)"
  ((failed == 0)) || fail "image checks"
}

stack() {
  local t0 rc=0
  # Secrets for this run only: random, in a file only root reads.
  if [[ ! -s "$state/env" ]]; then
    local token pgpw
    token=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
    pgpw=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    (
      umask 077
      sed -e "s|^ISS_ADMIN_TOKEN=.*|ISS_ADMIN_TOKEN=$token|" \
        -e "s|^POSTGRES_PASSWORD=.*|POSTGRES_PASSWORD=$pgpw|" \
        -e "s|^ISS_PG_DSN=.*|ISS_PG_DSN=postgresql://iss:$pgpw@postgres:5432/iss|" \
        -e "s|^GF_SECURITY_ADMIN_PASSWORD=.*|GF_SECURITY_ADMIN_PASSWORD=$token|" \
        .env.example >"$state/env"
    )
  fi
  "${compose[@]}" down -v >/dev/null 2>&1 || true  # leftovers of an interrupted run
  trap '"${compose[@]}" down -v >"$state/logs/final-down.log" 2>&1 || true' EXIT
  say "compose up (${stack_services[*]})"
  t0=$(date +%s)
  "${compose[@]}" up --timeout 300 "${stack_services[@]}" || {
    "${compose[@]}" ps || true
    fail "compose up"
  }
  say "stack up in $(elapsed "$t0") s"
  "$python" tests/ops/check_stack.py --project "$project" --env-file "$state/env" \
    --compose "${compose[*]}" --services "${stack_services[*]}" || rc=$?
  # check_stack.py prints the services' logs itself on a failure, before its own
  # `down` check removes the containers.
  ((rc == 0)) || fail "stack checks"
  "${compose[@]}" down -v >/dev/null 2>&1 || true
  trap - EXIT
}

step="${1:-all}"
case "$step" in
  prepare) prepare ;;
  build) prepare && build ;;
  image) prepare && image_checks ;;
  stack) prepare && stack ;;
  all)
    t_all=$(date +%s)
    prepare
    build
    image_checks
    stack
    say "all container checks passed in $(elapsed "$t_all") s"
    ;;
  *) echo "usage: $0 [prepare|build|image|stack]" >&2; exit 2 ;;
esac
