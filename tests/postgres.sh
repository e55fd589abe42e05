#!/usr/bin/env bash
# A throwaway PostgreSQL server for the cluster tests (make test-postgres).
#   tests/postgres.sh start   installs Debian's postgresql if missing, initdb in a temporary directory owned by
#                             the postgres user (PostgreSQL refuses to run as root), starts it on loopback and a
#                             unix socket, and prints the admin URL (user "app", trust auth) on stdout
#   tests/postgres.sh stop    stops it and removes the directory
# SMRTCHAT_PG_OPTIONS replaces the test-speed settings (fsync off: never for data you keep).
# State lives in ${SMRTCHAT_PG_STATE:-/tmp/smrtchat-pg.state}.
set -euo pipefail
state="${SMRTCHAT_PG_STATE:-/tmp/smrtchat-pg.state}"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres -- "$@"; fi
}

bin_dir() {
  local initdb
  initdb="$(dpkg -L postgresql-15 2>/dev/null | grep -E 'bin/initdb$' | head -1 || true)"
  [ -n "$initdb" ] || initdb="$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || true)"
  [ -n "$initdb" ] || { echo "initdb not found" >&2; exit 1; }
  dirname "$initdb"
}

start() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "installing postgresql" >&2
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
  fi
  command -v psql >/dev/null || { echo "psql missing (postgresql-client)" >&2; exit 1; }
  local bin dir port
  bin="$(bin_dir)"
  dir="$(mktemp -d /tmp/smrtchat-pg.XXXXXX)"
  chown postgres: "$dir" 2>/dev/null || true
  chmod 700 "$dir"
  port="${SMRTCHAT_PG_PORT:-$((25000 + RANDOM % 20000))}"
  # Byte-order collation (cursor order matches SQLite's), Unicode character classes for ILIKE and text search.
  as_postgres "$bin/initdb" -D "$dir/data" -A trust -U app -E UTF8 --lc-collate=C --lc-ctype=C.UTF-8 >&2
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 ${SMRTCHAT_PG_OPTIONS--c fsync=off -c synchronous_commit=off}" \
    -w start >&2
  echo "dir=$dir port=$port bin=$bin" > "$state"
  echo "postgres://app@127.0.0.1:$port/postgres"
}

stop() {
  [ -f "$state" ] || return 0
  local dir port bin
  eval "$(cat "$state")"
  as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
  rm -rf "$dir" "$state"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
