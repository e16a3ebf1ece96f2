#!/usr/bin/env bash
# Brings up the container engine that modeldeploy's container tests need, on a Debian 12
# machine with no systemd and no Docker Hub:
#   1. installs docker.io and docker-registry from Debian when they are missing;
#   2. starts dockerd in the background (data root, pidfile and log under the state dir);
#   3. starts a local registry on 127.0.0.1:5000 with its own config (no auth, deletes on);
#   4. builds the Python 3.11 base image and pushes it there (build_python_base.sh; skipped
#      when the registry already has the tag);
#   5. writes $STATE/env (source it: MODELDEPLOY_TEST_BASE_IMAGE, MODELDEPLOY_TEST_REGISTRY,
#      DOCKER_HOST).
# Idempotent: daemons already running (by their saved PIDs) are reused. Stop them with
# scripts/ci/engine_down.sh. State dir: ${MODELDEPLOY_CI_STATE:-/var/tmp/modeldeploy-ci}.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
STATE="${MODELDEPLOY_CI_STATE:-/var/tmp/modeldeploy-ci}"
REGISTRY="127.0.0.1:5000"
BASE_IMAGE="${REGISTRY}/modeldeploy/python-base:3.11"
DOCKER_SOCK="/var/run/docker.sock"
WAIT_DOCKERD_S="${MODELDEPLOY_CI_WAIT_DOCKERD_S:-60}"
WAIT_REGISTRY_S="${MODELDEPLOY_CI_WAIT_REGISTRY_S:-30}"
export DOCKER_HOST="unix://${DOCKER_SOCK}"
export MODELDEPLOY_CI_STATE="$STATE" MODELDEPLOY_TEST_REGISTRY="$REGISTRY"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "engine_up: $*"; }

# running PID NAME: PID is a running process called NAME (not a recycled PID).
running() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]; }
# alive PIDFILE NAME: the PID saved in PIDFILE is a running process called NAME.
alive() { running "$(cat "$1" 2>/dev/null || true)" "$2"; }

# wait_for SECONDS LOGFILE PID NAME CMD...: polls CMD until it succeeds; fails early when
# the daemon died, or after SECONDS, printing the end of its log.
wait_for() {
  local timeout="$1" logfile="$2" pid="$3" name="$4"
  shift 4
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    # kill -0 only: right after the fork the child is still named bash/setsid.
    if ! kill -0 "$pid" 2>/dev/null; then
      log "${name} exited while starting; end of ${logfile}:"; tail -n 30 "$logfile" >&2; return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "${name} did not answer within ${timeout} s; end of ${logfile}:"; tail -n 30 "$logfile" >&2; return 1
    fi
    sleep 0.1
  done
}

registry_answers() { curl -fsS -o /dev/null --max-time 2 "http://${REGISTRY}/v2/"; }
docker_answers() { timeout 5 docker version --format '{{.Server.Version}}'; }

mkdir -p "$STATE"
# One engine_up at a time on this machine (CI and a developer, or two terminals). The daemons
# are started with fd 9 closed, or they would hold the lock for as long as they run.
exec 9>"${STATE}/engine_up.lock"
if ! flock -n 9; then
  log "waiting for another engine_up (${STATE}/engine_up.lock)"
  flock -w 300 9 || { log "another engine_up still holds ${STATE}/engine_up.lock after 300 s"; exit 1; }
fi

t_total=$(now)

# --- 1. packages ------------------------------------------------------------------------------
t=$(now)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }
missing=()
for p in docker.io docker-registry; do installed "$p" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq -o APT::Sandbox::User=root
  apt-get install -y -qq --no-install-recommends -o APT::Sandbox::User=root "${missing[@]}" >/dev/null
  log "packages: installed ${missing[*]} ($(since "$t") s)"
else
  log "packages: docker.io and docker-registry already installed ($(since "$t") s)"
fi

# --- 2. dockerd -------------------------------------------------------------------------------
t=$(now)
DOCKERD_PID="${STATE}/dockerd.pid"
DOCKERD_LOG="${STATE}/dockerd.log"
if alive "$DOCKERD_PID" dockerd; then
  wait_for "$WAIT_DOCKERD_S" "$DOCKERD_LOG" "$(cat "$DOCKERD_PID")" dockerd docker_answers
  log "dockerd: already running, pid $(cat "$DOCKERD_PID") ($(since "$t") s)"
elif docker_answers >/dev/null 2>&1; then
  # Someone else's daemon on the socket: use it, never stop it (no pidfile of ours).
  rm -f "$DOCKERD_PID"
  log "dockerd: a daemon not started by this script answers on ${DOCKER_SOCK}; using it ($(since "$t") s)"
else
  rm -f "$DOCKERD_PID"      # stale: dockerd refuses to start over a pidfile naming a live PID
  mkdir -p "${STATE}/docker"
  # from / so that the daemon does not keep the checkout it was started from in use
  (cd / && exec setsid dockerd \
    --data-root "${STATE}/docker" \
    --storage-driver overlay2 \
    --pidfile "$DOCKERD_PID" \
    --host "unix://${DOCKER_SOCK}" \
    </dev/null >>"$DOCKERD_LOG" 2>&1 9>&-) &
  # dockerd writes its own pidfile (and refuses to start when it names a live PID, its own
  # included): do not write it for it; $! is dockerd's PID (setsid execs in a script).
  pid=$!
  wait_for "$WAIT_DOCKERD_S" "$DOCKERD_LOG" "$pid" dockerd docker_answers
  [ "$(cat "$DOCKERD_PID" 2>/dev/null)" = "$pid" ] || echo "$pid" >"$DOCKERD_PID"
  log "dockerd: started, pid ${pid}, server $(docker_answers) ($(since "$t") s)"
fi

# --- 3. registry ------------------------------------------------------------------------------
t=$(now)
REGISTRY_PID="${STATE}/registry.pid"
REGISTRY_LOG="${STATE}/registry.log"
REGISTRY_CONF="${STATE}/registry.yml"
# Debian's default config turns on htpasswd auth with a bad path: always use our own.
cat >"${REGISTRY_CONF}.tmp" <<YAML
# Written by scripts/ci/engine_up.sh: local CI registry, loopback only, no auth.
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: ${STATE}/registry
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: ${REGISTRY}
  headers:
    X-Content-Type-Options: [nosniff]
YAML
mv "${REGISTRY_CONF}.tmp" "$REGISTRY_CONF"
if alive "$REGISTRY_PID" docker-registry; then
  wait_for "$WAIT_REGISTRY_S" "$REGISTRY_LOG" "$(cat "$REGISTRY_PID")" docker-registry registry_answers
  log "registry: already running, pid $(cat "$REGISTRY_PID") ($(since "$t") s)"
elif registry_answers 2>/dev/null; then
  rm -f "$REGISTRY_PID"
  log "registry: something not started by this script answers on ${REGISTRY}; using it ($(since "$t") s)"
else
  rm -f "$REGISTRY_PID"
  mkdir -p "${STATE}/registry"
  (cd / && exec setsid docker-registry serve "$REGISTRY_CONF" </dev/null >>"$REGISTRY_LOG" 2>&1 9>&-) &
  echo $! >"$REGISTRY_PID"
  wait_for "$WAIT_REGISTRY_S" "$REGISTRY_LOG" "$!" docker-registry registry_answers
  log "registry: started on ${REGISTRY}, pid $(cat "$REGISTRY_PID") ($(since "$t") s)"
fi

# --- 4. base image ----------------------------------------------------------------------------
t=$(now)
"${HERE}/build_python_base.sh"
log "base image: ${BASE_IMAGE} ready ($(since "$t") s)"

# --- 5. env file ------------------------------------------------------------------------------
cat >"${STATE}/env.tmp" <<ENV
# Written by scripts/ci/engine_up.sh; source it before the container tests.
export MODELDEPLOY_TEST_BASE_IMAGE=${BASE_IMAGE}
export MODELDEPLOY_TEST_REGISTRY=${REGISTRY}
export DOCKER_HOST=${DOCKER_HOST}
ENV
mv "${STATE}/env.tmp" "${STATE}/env"
log "env: ${STATE}/env"
log "up in $(since "$t_total") s"
