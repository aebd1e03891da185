#!/usr/bin/env bash
# Seed 002's production scenario, end to end on this machine: starts redis-server (the Trigger
# Mesh), PostgreSQL (Grace's database, seeded with phases 1-3 of a mission), Grace
# (../lib/grace_service.py) and a Prometheus scraping it, all on loopback; runs spec.yaml with
# stagecheck (which triggers phase 4, the forced rollback, and runs the load and persistence
# phases); stops everything; exits with stagecheck's exit code (0 pass, 1 fail, 2 usage/spec
# error, 3 no verdict).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/servers.sh
. "$HERE/../lib/servers.sh"

usage() {
  cat <<'USAGE'
usage: examples/production_scenario/run.sh [--break KIND] [--keep] [-- STAGECHECK_RUN_OPTIONS...]

Starts real servers on loopback, seeds them like Grace after a production scenario's first
phases, runs examples/production_scenario/spec.yaml with $STAGECHECK (default:
build/bin/stagecheck) and exits with its exit code.

  --break KIND   seed a failing variant:
       slow        task submissions take 0.8 s each (avg over 500 ms)             -> exit 1
       errors      1 task submission in 5 fails with 503 (error rate 20%)           -> exit 1
       orphan      action 3 was deleted, its events and contract were left behind  -> exit 1
       audit_gap   entry 9 was deleted from the immutable log (a gap, a broken chain) -> exit 1
       rollback_uncounted  the forced rollback is done and logged, but the mission's
                   rollback counter in the database does not move                  -> exit 1
       down        redis-server (the Trigger Mesh) is stopped before the run
                   (the mesh check could not be evaluated)                          -> exit 3
  --keep         keep the temporary folder (logs, configs) and print where it is
  -- OPTIONS     passed to `stagecheck run` (e.g. --report-json report.json, --quiet)
USAGE
}

sc_parse_args "slow errors orphan audit_gap rollback_uncounted down" "$@"
sc_setup

MISSION=mission-e2e-0001
ROLLBACK_ACTION=6

sc_start_redis
sc_start_postgres grace grace
sc_psql -f "$HERE/seed.sql" >/dev/null

case $BREAK in
  orphan)
    # A faulty cleanup removed action 3 and nothing that refers to it.
    sc_psql_admin -q -d grace -c "DELETE FROM actions WHERE id = 3" >/dev/null ;;
  audit_gap)
    # Someone with superuser rights went around the append-only trigger.
    sc_psql_admin -q -d grace -c "SET session_replication_role = replica" \
      -c "DELETE FROM immutable_log WHERE seq = 9" >/dev/null ;;
esac

fault=""
case $BREAK in slow | errors | rollback_uncounted) fault=$BREAK ;; esac
mkdir -p "$SC_TMP/store"
sc_start_service grace_service "$SC_LIB_DIR/grace_service.py" --redis-port "$REDIS_PORT" \
  --pg-url "$PG_URL" --marker-root "$SC_TMP/store" --fault "$fault"
sc_start_prometheus "127.0.0.1:$SERVICE_PORT"

if [ "$BREAK" = down ]; then
  sc_log "stopping redis-server before the run (--break down)"
  sc_stop redis
fi

API="http://127.0.0.1:$SERVICE_PORT"
sc_run_stagecheck "$HERE/spec.yaml" --root "$SC_TMP/store" \
  --var api_url="$API" \
  --var health_url="$API/health" \
  --var mission_url="$API/api/missions/$MISSION" \
  --var tasks_url="$API/api/tasks" \
  --var prometheus_url="$PROM_URL" \
  --var db_url="$PG_URL" \
  --var db_password_file="$PG_PASSWORD_FILE" \
  --var redis_url="$REDIS_URL" \
  --var redis_password_file="$REDIS_PASSWORD_FILE" \
  --var mission_id="$MISSION" \
  --var rollback_action="$ROLLBACK_ACTION"
