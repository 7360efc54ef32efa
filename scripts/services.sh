#!/usr/bin/env bash
# Real Postgres and Redis servers for the contract tests, on loopback, on non-default ports, with
# their data under ./.services/ (git-ignored).
#
#   scripts/services.sh start    install if missing, start both (idempotent), print the env exports
#   scripts/services.sh stop     stop what `start` started (by its pid files), nothing else
#   scripts/services.sh status   exit 0 when both answer
#   scripts/services.sh env      print `export LLMUX_TEST_PG=… LLMUX_TEST_REDIS=…`
#
# Typical use:  eval "$(scripts/services.sh start)" && npm test
# Ports: LLMUX_PG_PORT (55432), LLMUX_REDIS_PORT (56379). Progress goes to stderr, exports to stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SVC="$ROOT/.services"
PG_PORT="${LLMUX_PG_PORT:-55432}"
REDIS_PORT="${LLMUX_REDIS_PORT:-56379}"
PG_DIR="$SVC/pg"
PG_DATA="$PG_DIR/data"
REDIS_DIR="$SVC/redis"
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/llmux_test"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

say() { echo "services: $*" >&2; }

pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [[ -n "$d" && -x "$d/initdb" ]] && echo "$d"
}

# Postgres refuses to run as root: when we are root, run its tools as the `postgres` user.
as_pg() {
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_installed() {
  if [[ -n "$(pg_bin)" ]] && command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
    return 0
  fi
  local sudo=""
  if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || { say "postgresql/redis-server missing and not root; install them"; exit 1; }
    sudo="sudo"
  fi
  say "installing postgresql and redis-server (apt-get)…"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql redis-server >&2
}

alive() { [[ -f "$1" ]] && kill -0 "$(head -n 1 "$1")" 2>/dev/null; }

pg_ready() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; }
redis_ready() { [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]; }

start_pg() {
  local bin
  bin="$(pg_bin)"
  mkdir -p "$PG_DIR/sock"
  if [[ $EUID -eq 0 ]]; then
    chown -R postgres:postgres "$PG_DIR"
    if ! runuser -u postgres -- test -w "$PG_DIR"; then
      say "the postgres user cannot reach $PG_DIR (a parent folder is not traversable); move the checkout or chmod o+x its parents"
      exit 1
    fi
  fi
  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    say "initdb $PG_DATA"
    # trust auth is acceptable only because the cluster listens on 127.0.0.1 and holds test data.
    as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1
  fi
  if alive "$SVC/pg.pid" && pg_ready; then
    say "postgres already running on $PG_PORT"
  else
    say "starting postgres on 127.0.0.1:$PG_PORT"
    # The port lies inside Linux's default range for outgoing connections (32768-60999): right
    # after heavy local traffic (a benchmark) a closed client socket can hold it in TIME_WAIT for up
    # to a minute, and the bind fails. Wait that out instead of failing the whole run.
    local try
    for try in $(seq 1 9); do
      if as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -w -t 30 \
          -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_DIR/sock -c fsync=off" start >&2; then
        break
      fi
      if [[ $try -eq 9 ]] || ! tail -n 5 "$PG_DIR/postgres.log" | grep -q 'Address already in use'; then
        say "postgres did not start; see $PG_DIR/postgres.log (another server on port $PG_PORT? set LLMUX_PG_PORT)"
        exit 1
      fi
      say "port $PG_PORT is held by another socket (after heavy local traffic, usually a closed connection in TIME_WAIT); retrying in 10 s ($try/8)"
      sleep 10
    done
    head -n 1 "$PG_DATA/postmaster.pid" >"$SVC/pg.pid"
  fi
  if ! as_pg "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'llmux_test'" | grep -q 1; then
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres llmux_test
  fi
}

start_redis() {
  mkdir -p "$REDIS_DIR"
  if alive "$SVC/redis.pid" && redis_ready; then
    say "redis already running on $REDIS_PORT"
    return 0
  fi
  say "starting redis on 127.0.0.1:$REDIS_PORT"
  # No persistence: the tests use a unique key prefix per run and never need data across restarts.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --dir "$REDIS_DIR" \
    --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" --save "" --appendonly no
  local i
  for i in $(seq 1 50); do
    redis_ready && break
    sleep 0.1
  done
  redis_ready || { say "redis did not start; see $REDIS_DIR/redis.log"; exit 1; }
  cp "$REDIS_DIR/redis.pid" "$SVC/redis.pid"
}

print_env() {
  echo "export LLMUX_TEST_PG=$PG_URL"
  echo "export LLMUX_TEST_REDIS=$REDIS_URL"
}

stop_all() {
  if alive "$SVC/pg.pid"; then
    say "stopping postgres"
    as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w stop >&2 || true
  fi
  rm -f "$SVC/pg.pid"
  if alive "$SVC/redis.pid"; then
    say "stopping redis"
    local pid
    pid="$(head -n 1 "$SVC/redis.pid")"
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$SVC/redis.pid"
}

status() {
  local rc=0
  if alive "$SVC/pg.pid" && pg_ready; then say "postgres: up ($PG_URL)"; else say "postgres: down"; rc=1; fi
  if alive "$SVC/redis.pid" && redis_ready; then say "redis: up ($REDIS_URL)"; else say "redis: down"; rc=1; fi
  return $rc
}

case "${1:-}" in
  start)
    mkdir -p "$SVC"
    ensure_installed
    start_pg
    start_redis
    print_env
    ;;
  stop) stop_all ;;
  status) status ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
