# shellcheck shell=bash disable=SC2034   # the variables set here are read by the scripts sourcing it
# Real servers on loopback for the live-service examples (examples/*/run.sh source this file).
#
# Every server gets a free port and a folder under one private temporary folder ($SC_TMP);
# everything started here is recorded and stopped by sc_stop_all (run.sh installs it as the
# EXIT trap), newest first. Nothing is installed: a missing binary is reported by
# sc_missing_servers and run.sh exits 2 naming it (scripts/install-deps.sh --test installs
# redis-server, postgresql-15, prometheus and nginx-light).
#
# Secrets: the Redis and PostgreSQL passwords are random per run, written to 0600 files (given to
# stagecheck as local_path variables) and passed to the services through their environment,
# never on a command line (ps shows those).

SC_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SC_REPO_DIR=$(cd "$SC_LIB_DIR/../.." && pwd)
SC_PG_BIN=${STAGECHECK_PG_BIN:-/usr/lib/postgresql/15/bin}
SC_TMP=""
SC_PIDS=()          # background processes we started, in start order
SC_PG_DATA=""       # a PostgreSQL data folder to stop with pg_ctl
SC_QUIET=${SC_QUIET:-0}

sc_log() { [ "$SC_QUIET" = 1 ] || printf '%s\n' "run.sh: $*" >&2; }
sc_die() { printf '%s\n' "run.sh: $*" >&2; exit "${2:-2}"; }

# The servers a run needs, missing ones printed one per line (empty output: all there).
sc_missing_servers() {
  local b
  for b in redis-server redis-cli prometheus psql python3; do
    command -v "$b" >/dev/null 2>&1 || echo "$b"
  done
  for b in initdb pg_ctl; do
    [ -x "$SC_PG_BIN/$b" ] || echo "$SC_PG_BIN/$b"
  done
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then echo "user postgres"; fi
}

# The stagecheck driver: $STAGECHECK, else build/bin/stagecheck of this repository.
sc_find_stagecheck() {
  local sc=${STAGECHECK:-$SC_REPO_DIR/build/bin/stagecheck}
  [ -x "$sc" ] || sc_die "stagecheck driver not found at $sc: build it (cmake --build build --target stagecheck_driver) or set STAGECHECK"
  printf '%s\n' "$sc"
}

sc_init() {
  local missing
  missing=$(sc_missing_servers)
  [ -z "$missing" ] || sc_die "missing: $(echo "$missing" | tr '\n' ' ')(install them with scripts/install-deps.sh --test)"
  SC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/stagecheck-example.XXXXXX")
  chmod 755 "$SC_TMP"          # PostgreSQL runs as the postgres user and needs to reach its folder
  umask 077
}

sc_freeport() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

sc_secret() { python3 -c 'import secrets;print(secrets.token_hex(12))'; }

# sc_password_file NAME PASSWORD: writes $SC_TMP/NAME.password (mode 0600: sc_init's umask) and
# prints its path, for a local_path variable of the spec.
sc_password_file() {
  printf '%s\n' "$2" >"$SC_TMP/$1.password"
  printf '%s\n' "$SC_TMP/$1.password"
}

# sc_spawn NAME LOGFILE COMMAND...: starts COMMAND in the background, records its pid.
sc_spawn() {
  local name=$1 log=$2; shift 2
  "$@" >"$log" 2>&1 &
  SC_PIDS+=("$!")
  eval "SC_PID_$name=$!"
}

sc_pid_of() { eval "printf '%s' \"\${SC_PID_$1:-}\""; }

# sc_wait_up SECONDS NAME COMMAND...: retries COMMAND every 0.1 s; gives up at once when the
# process spawned as NAME has exited (e.g. its port was taken).
sc_wait_up() {
  local secs=$1 name=$2 pid
  shift 2
  local deadline=$((SECONDS + secs))
  pid=$(sc_pid_of "$name")
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# sc_attempts WHAT FUNCTION ARGS...: up to 3 tries of FUNCTION, which sets SC_LAST_ERROR when it
# fails. A port that was free when chosen may be taken before the server binds it.
SC_LAST_ERROR=""
sc_attempts() {
  local what=$1 i
  shift
  for i in 1 2 3; do
    "$@" && return 0
    sc_log "$what did not start (attempt $i of 3): $SC_LAST_ERROR"
  done
  sc_die "$what failed to start: $SC_LAST_ERROR" 3
}

# Stops one spawned process (by the name given to sc_spawn) and waits for it.
sc_stop() {
  local pid i
  pid=$(sc_pid_of "$1")
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  eval "SC_PID_$1="
  for i in "${!SC_PIDS[@]}"; do
    [ "${SC_PIDS[$i]}" != "$pid" ] || unset "SC_PIDS[$i]"
  done
  SC_PIDS=("${SC_PIDS[@]}")
}

sc_stop_all() {
  local i pid
  set +e
  for ((i = ${#SC_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${SC_PIDS[$i]}
    kill "$pid" 2>/dev/null
  done
  for pid in "${SC_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  SC_PIDS=()
  sc_stop_postgres
  if [ -n "$SC_TMP" ] && [ -d "$SC_TMP" ]; then
    if [ -n "${SC_KEEP_TMP:-}" ]; then sc_log "kept $SC_TMP"; else rm -rf "$SC_TMP"; fi
  fi
}

# --- Redis: REDIS_PORT, REDIS_PASSWORD, REDIS_PASSWORD_FILE, REDIS_URL (without the password) ---
sc_start_redis() {
  REDIS_PASSWORD=$(sc_secret)
  sc_attempts redis-server _sc_redis_once
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  REDIS_PASSWORD_FILE=$(sc_password_file redis "$REDIS_PASSWORD")
  sc_log "redis-server on 127.0.0.1:$REDIS_PORT"
}

_sc_redis_once() {
  REDIS_PORT=$(sc_freeport)
  local dir=$SC_TMP/redis
  mkdir -p "$dir"
  printf 'port %s\nbind 127.0.0.1\ndir %s\nsave ""\nappendonly no\nrequirepass %s\n' \
    "$REDIS_PORT" "$dir" "$REDIS_PASSWORD" >"$dir/redis.conf"
  sc_spawn redis "$dir/redis.log" redis-server "$dir/redis.conf"
  sc_wait_up 10 redis _sc_redis_pong && return 0
  SC_LAST_ERROR=$(tail -3 "$dir/redis.log")
  sc_stop redis
  return 1
}

# Our server answers PONG (not just anything listening on the port), within 2 s.
_sc_redis_pong() {
  [ "$(REDISCLI_AUTH=$REDIS_PASSWORD timeout 2 redis-cli --no-auth-warning -h 127.0.0.1 \
    -p "$REDIS_PORT" PING 2>/dev/null)" = PONG ]
}

# redis-cli against our server; the password goes through the environment (REDISCLI_AUTH).
sc_redis() { REDISCLI_AUTH=$REDIS_PASSWORD redis-cli --no-auth-warning -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# --- PostgreSQL: PG_PORT, PG_USER, PG_PASSWORD(_FILE), PG_DB, PG_URL (no password in it) -------
# The superuser `postgres` may connect only through the private socket folder; the application
# role PG_USER logs in over TCP with a scram-sha-256 password.
sc_start_postgres() {
  PG_USER=${1:-app}
  PG_DB=${2:-app}
  PG_PASSWORD=$(sc_secret)
  local dir=$SC_TMP/pg as=()
  mkdir -p "$dir"
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; as=(runuser -u postgres --); fi
  "${as[@]}" "$SC_PG_BIN/initdb" -D "$dir/data" -U postgres -A trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
    sc_die "initdb failed: $(tail -5 "$dir/initdb.log")" 3
  SC_PG_SOCKET=$dir
  sc_attempts PostgreSQL _sc_postgres_once "${as[@]}"
  sc_psql_admin -q -c "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'" \
    -c "CREATE DATABASE $PG_DB OWNER $PG_USER" >/dev/null
  PG_URL="postgresql://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB"
  PG_PASSWORD_FILE=$(sc_password_file pg "$PG_PASSWORD")
  sc_log "PostgreSQL on 127.0.0.1:$PG_PORT (database $PG_DB, role $PG_USER)"
}

_sc_postgres_once() {
  PG_PORT=$(sc_freeport)
  local dir=$SC_PG_SOCKET
  "$@" "$SC_PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 30 -o \
    "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off" \
    start >"$dir/pg_ctl.log" 2>&1 && { SC_PG_DATA=$dir/data; return 0; }
  SC_LAST_ERROR=$(tail -3 "$dir/pg.log")
  return 1
}

sc_stop_postgres() {
  [ -n "$SC_PG_DATA" ] || return 0
  local as=()
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$SC_PG_BIN/pg_ctl" -D "$SC_PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  SC_PG_DATA=""
}

# psql as the superuser over the private socket, and as the application role over TCP.
sc_psql_admin() { psql -X -v ON_ERROR_STOP=1 -h "$SC_PG_SOCKET" -p "$PG_PORT" -U postgres -d postgres "$@"; }
sc_psql() { PGPASSWORD=$PG_PASSWORD psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" "$@"; }

# --- Prometheus: PROM_PORT, PROM_URL. Scrapes every TARGET (host:port) each second. ------------
sc_start_prometheus() {
  local dir=$SC_TMP/prometheus t targets=""
  mkdir -p "$dir"
  for t in "$@"; do targets="$targets${targets:+, }'$t'"; done
  cat >"$dir/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: app
    static_configs: [{targets: [$targets]}]
EOF
  sc_attempts Prometheus _sc_prometheus_once "$dir" "$#"
  sc_log "Prometheus on 127.0.0.1:$PROM_PORT, scraping $*"
}

# The first scrape lands about 6 s after start (Prometheus' discovery throttle).
_sc_prometheus_once() {
  local dir=$1 n=$2
  PROM_PORT=$(sc_freeport)
  PROM_URL="http://127.0.0.1:$PROM_PORT"
  sc_spawn prometheus "$dir/prometheus.log" prometheus --config.file="$dir/prometheus.yml" \
    --storage.tsdb.path="$dir/tsdb" --web.listen-address="127.0.0.1:$PROM_PORT"
  sc_wait_up 30 prometheus sc_prom_all_up "$n" && return 0
  SC_LAST_ERROR="no first scrape of all $n target(s): $(tail -3 "$dir/prometheus.log")"
  sc_stop prometheus
  return 1
}

# True when Prometheus reports at least N targets up.
sc_prom_all_up() {
  python3 - "$PROM_URL" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
q = urllib.parse.urlencode({"query": "count(up == 1)"})
res = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/query?" + q, timeout=2))["data"]["result"]
sys.exit(0 if res and float(res[0]["value"][1]) >= int(sys.argv[2]) else 1)
PY
}

# True when URL answers with a 2xx status.
sc_http_ok() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1"
}

# --- A Python service of the example (the system under test) ---------------------------------
# sc_start_service NAME SCRIPT ARGS...: SERVICE_PORT is chosen and passed as --port; the service
# prints nothing until it listens; we wait for its /health.
sc_start_service() {
  sc_attempts "$1" _sc_service_once "$@"
  sc_log "$1 on 127.0.0.1:$SERVICE_PORT"
}

_sc_service_once() {
  local name=$1 script=$2
  shift 2
  SERVICE_PORT=$(sc_freeport)
  sc_spawn "$name" "$SC_TMP/$name.log" env REDIS_PASSWORD="${REDIS_PASSWORD:-}" \
    PG_PASSWORD="${PG_PASSWORD:-}" PYTHONPATH="$SC_LIB_DIR" PYTHONDONTWRITEBYTECODE=1 \
    python3 "$script" --port "$SERVICE_PORT" "$@"
  sc_wait_up 15 "$name" sc_http_ok "http://127.0.0.1:$SERVICE_PORT/health" && return 0
  SC_LAST_ERROR=$(tail -5 "$SC_TMP/$name.log")
  sc_stop "$name"
  return 1
}

# --- run.sh plumbing ---------------------------------------------------------------------------
# sc_parse_args "KIND..." "$@": sets BREAK (one of the KINDs, or empty) and EXTRA (the options
# after `--`, for `stagecheck run`); handles --keep and --help (run.sh defines usage()).
sc_parse_args() {
  local kinds=" $1 "
  shift
  BREAK=""
  EXTRA=()
  while [ $# -gt 0 ]; do
    case $1 in
      --break) [ $# -ge 2 ] || { usage >&2; exit 2; }; BREAK=$2; shift 2 ;;
      --break=*) BREAK=${1#--break=}; shift ;;
      --keep) SC_KEEP_TMP=1; shift ;;
      -h | --help) usage; exit 0 ;;
      --) shift; EXTRA=("$@"); break ;;
      *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
  done
  if [ -n "$BREAK" ] && [[ $kinds != *" $BREAK "* ]]; then
    echo "run.sh: unknown --break kind '$BREAK'" >&2; usage >&2; exit 2
  fi
}

# Finds the driver, checks the servers, makes the temporary folder, stops everything on exit.
sc_setup() {
  STAGECHECK_BIN=$(sc_find_stagecheck)
  sc_init
  trap sc_stop_all EXIT
  trap 'exit 130' INT TERM
}

# sc_run_stagecheck SPEC ARGS...: `stagecheck run SPEC --execute ARGS... EXTRA...`, then exits
# with its exit code (the EXIT trap stops the servers).
sc_run_stagecheck() {
  local spec=$1 rc=0
  shift
  sc_log "stagecheck run $spec${BREAK:+ (--break $BREAK)}"
  "$STAGECHECK_BIN" run "$spec" --execute "$@" "${EXTRA[@]}" || rc=$?
  sc_log "stagecheck exited $rc"
  exit "$rc"
}
