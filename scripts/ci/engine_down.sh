#!/usr/bin/env bash
# Stops what scripts/ci/engine_up.sh and postgres_up.sh started: the local registry, dockerd and
# PostgreSQL, each by the PID
# saved in the state dir (TERM, wait with a timeout, then KILL), and removes the pidfiles.
# Harmless when nothing runs; never touches a daemon it has no pidfile for.
# State dir: ${MODELDEPLOY_CI_STATE:-/var/tmp/modeldeploy-ci}.
set -euo pipefail

STATE="${MODELDEPLOY_CI_STATE:-/var/tmp/modeldeploy-ci}"
TERM_WAIT_S="${MODELDEPLOY_CI_STOP_WAIT_S:-30}"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "engine_down: $*"; }

# stop PIDFILE NAME: TERM the process named NAME whose PID the file holds, KILL it after
# TERM_WAIT_S; a stale or missing pidfile is just removed. Returns 2 when nothing ran,
# 3 when KILL was needed.
stop() {
  local pidfile="$1" name="$2" pid deadline t
  t=$(now)
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null || [ "$(cat "/proc/${pid}/comm" 2>/dev/null)" != "$name" ]; then
    if [ -e "$pidfile" ]; then log "${name}: not running (stale pidfile removed)"; else log "${name}: not running"; fi
    rm -f "$pidfile"
    return 2
  fi
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(( $(date +%s) + TERM_WAIT_S ))
  while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "${name}: pid ${pid} still running after ${TERM_WAIT_S} s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$pidfile"
    log "${name}: pid ${pid} killed ($(since "$t") s)"
    return 3
  fi
  rm -f "$pidfile"
  log "${name}: pid ${pid} stopped ($(since "$t") s)"
}

stop "${STATE}/registry.pid" docker-registry || true
rc=0
stop "${STATE}/dockerd.pid" dockerd || rc=$?
# dockerd stops its own containerd on TERM; after a KILL that child is orphaned: stop it too,
# by the PID dockerd saved for it (only when the dockerd was ours).
if [ "$rc" = 3 ]; then
  stop /var/run/docker/containerd/containerd.pid containerd || true
fi
# PostgreSQL of scripts/ci/postgres_up.sh: pg_ctl's fast shutdown (it signals the postmaster by
# the pid in its data dir), then the same TERM/KILL fallback by our pidfile.
if [ -f "${STATE}/postgres.pid" ] && [ -f "${STATE}/pgdata/postmaster.pid" ]; then
  pg_ctl_bin="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/pg_ctl' 2>/dev/null | sort -V | tail -n 1)"
  if [ -n "$pg_ctl_bin" ]; then
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pg_ctl_bin" -D "${STATE}/pgdata" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    else "$pg_ctl_bin" -D "${STATE}/pgdata" -m fast -w -t 30 stop >/dev/null 2>&1 || true; fi
  fi
fi
if [ -f "${STATE}/postgres.pid" ]; then stop "${STATE}/postgres.pid" postgres || true; fi
