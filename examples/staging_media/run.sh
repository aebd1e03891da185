#!/usr/bin/env bash
# Seed 004's staging validation, end to end on this machine: starts redis-server, PostgreSQL,
# the media pipeline (../lib/media_service.py: auth API, embedder, cluster worker, /metrics) and a
# Prometheus scraping it, all on loopback; runs spec.yaml with stagecheck; stops everything;
# exits with stagecheck's exit code (0 pass, 1 fail, 2 usage/spec error, 3 no verdict).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/servers.sh
. "$HERE/../lib/servers.sh"

usage() {
  cat <<'EOF'
usage: examples/staging_media/run.sh [--break KIND] [--keep] [-- STAGECHECK_RUN_OPTIONS...]

Starts real servers on loopback, seeds them like the staging media pipeline, runs
examples/staging_media/spec.yaml with $STAGECHECK (default: build/bin/stagecheck) and exits
with its exit code.

  --break KIND   seed a failing variant:
       flag_off    ENABLE_EMBEDDING_EVENT_STREAMS=0 in the embedder's env file    -> exit 1
       backlog     3 entries delivered to a crashed consumer, never acknowledged  -> exit 1
       counter     the cluster worker never increments cluster_jobs_total         -> exit 1
       slow_jobs   every clustering job takes 3.5 s (p95 over 3 s)                -> exit 1
       down        Prometheus is stopped before the run (could not be evaluated)  -> exit 3
  --keep         keep the temporary folder (logs, configs) and print where it is
  -- OPTIONS     passed to `stagecheck run` (e.g. --report-json report.json, --quiet)
EOF
}

sc_parse_args "flag_off backlog counter slow_jobs down" "$@"
sc_setup

PET=pet-staging-1
PHOTO=synthetic-upload-0001

sc_start_redis
sc_start_postgres media media
sc_psql -f "$HERE/seed.sql" >/dev/null

# The two services' environment files (runbook pre-requisite 1).
embedder_flag=1
[ "$BREAK" = flag_off ] && embedder_flag=0
printf '# auth service (staging)\nSERVICE_NAME=auth\nENABLE_EMBEDDING_EVENT_STREAMS=1\n' >"$SC_TMP/auth.env"
printf '# embedder service (staging)\nSERVICE_NAME=embedder\nENABLE_EMBEDDING_EVENT_STREAMS=%s\nEMBEDDING_MODEL=clip-vit-b32\n' \
  "$embedder_flag" >"$SC_TMP/embedder.env"

if [ "$BREAK" = backlog ]; then
  # A cluster worker that crashed after reading three events: delivered, never acknowledged.
  sc_redis XGROUP CREATE streams:embedding.ingested cluster-workers 0 MKSTREAM >/dev/null
  for p in photo-0041 photo-0042 photo-0043; do
    sc_redis XADD streams:embedding.ingested '*' event embedding.ingested photo_id "$p" \
      model clip-vit-b32 >/dev/null
  done
  sc_redis XREADGROUP GROUP cluster-workers cluster-worker-0 COUNT 3 \
    STREAMS streams:embedding.ingested '>' >/dev/null
fi

fault=""
case $BREAK in counter | slow_jobs) fault=$BREAK ;; esac
mkdir -p "$SC_TMP/store"
sc_start_service media_service "$SC_LIB_DIR/media_service.py" --redis-port "$REDIS_PORT" \
  --pg-url "$PG_URL" --auth-env "$SC_TMP/auth.env" --embedder-env "$SC_TMP/embedder.env" \
  --marker-root "$SC_TMP/store" --fault "$fault"
sc_start_prometheus "127.0.0.1:$SERVICE_PORT"

if [ "$BREAK" = down ]; then
  sc_log "stopping Prometheus before the run (--break down)"
  sc_stop prometheus
fi

sc_run_stagecheck "$HERE/spec.yaml" --root "$SC_TMP/store" \
  --var prometheus_url="$PROM_URL" \
  --var redis_url="$REDIS_URL" \
  --var redis_password_file="$REDIS_PASSWORD_FILE" \
  --var db_url="$PG_URL" \
  --var db_password_file="$PG_PASSWORD_FILE" \
  --var api_url="http://127.0.0.1:$SERVICE_PORT" \
  --var auth_env="$SC_TMP/auth.env" \
  --var embedder_env="$SC_TMP/embedder.env" \
  --var pet_id="$PET" \
  --var photo_id="$PHOTO"
