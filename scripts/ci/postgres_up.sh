#!/usr/bin/env bash
# Starts a private PostgreSQL for the tests that run on both database backends (the team setup:
# one database for experience, results, deployments and LangGraph checkpoints).
#
#   1. the Debian `postgresql` package, installed when its server binary is missing;
#   2. a cluster of our own under $STATE/pgdata (initdb as the `postgres` user, trust auth,
#      fsync off: throwaway test data), listening on 127.0.0.1:$PORT only; the Debian default
#      cluster is not used or touched;
#   3. started with pg_ctl (pid in $STATE/postgres.pid, log in $STATE/pgsock/postgres.log), waited for
#      with pg_isready; already running = reused;
#   4. writes $STATE/env.postgres: MODELDEPLOY_TEST_POSTGRES_URL, an admin URL on the `postgres`
#      database (tests create and drop a database of their own per test).
# scripts/ci/engine_down.sh stops it. Progress on stdout.
set -euo pipefail

STATE="${MODELDEPLOY_CI_STATE:-/var/tmp/modeldeploy-ci}"
PORT="${MODELDEPLOY_CI_PG_PORT:-54329}"
PGDATA="${STATE}/pgdata"
SOCKETS="${STATE}/pgsock"          # the server's socket and log (written by the postgres user)
started=$(date +%s.%N)
log() { echo "postgres_up: $*"; }
since() { awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

pg_bin() { find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null | sort -V | tail -n 1 | xargs -r dirname; }

mkdir -p "$STATE"
BIN="$(pg_bin)"
if [ -z "$BIN" ]; then
  log "installing the Debian postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends postgresql >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends postgresql >/dev/null; }
  BIN="$(pg_bin)"
fi
[ -n "$BIN" ] || { log "no PostgreSQL server binary after installing postgresql"; exit 1; }

# PostgreSQL refuses to run as root: run its tools as the package's `postgres` user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

mkdir -p "$PGDATA" "$SOCKETS"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA" "$SOCKETS" && chmod 700 "$PGDATA"
if [ ! -f "${PGDATA}/PG_VERSION" ]; then
  as_pg "${BIN}/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
  log "initdb ${PGDATA} ($(since) s)"
fi

if as_pg "${BIN}/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  log "already running on 127.0.0.1:${PORT}"
else
  as_pg "${BIN}/pg_ctl" -D "$PGDATA" -l "${SOCKETS}/postgres.log" -w -t 60 start \
    -o "-p ${PORT} -k ${SOCKETS} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=300" \
    >/dev/null
  log "started on 127.0.0.1:${PORT} ($(since) s)"
fi
head -n 1 "${PGDATA}/postmaster.pid" >"${STATE}/postgres.pid"

cat >"${STATE}/env.postgres" <<EOF
export MODELDEPLOY_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:${PORT}/postgres
EOF
log "ready in $(since) s: source ${STATE}/env.postgres"
