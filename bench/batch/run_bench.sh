#!/bin/bash
# The batch benchmark: the production spec over N scenes x M episodes (tests/support/make_scenes.py),
# scenes per second and peak RSS (/usr/bin/time -v) with 1 and 2 jobs, and peak RSS for the first
# 100 scenes against all of them. Not a test: it prints a table for bench/README.md.
#
#   bench/batch/run_bench.sh [BUILD_DIR] [WORK_DIR] [SCENES] [EPISODES]
#
# WORK_DIR keeps the generated fixture between runs (default /tmp/stagecheck-batch-bench).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$HERE/build}
WORK=${2:-/tmp/stagecheck-batch-bench}
SCENES=${3:-1000}
EPISODES=${4:-200}
DRIVER=$BUILD/bin/stagecheck
SPEC=$HERE/examples/blueprint/production_e2e.yaml
ROOT=$WORK/fleet-$SCENES-$EPISODES
if [ ! -f "$ROOT/expected.json" ]; then
  rm -rf "$ROOT"
  /usr/bin/time -f "generated in %e s" python3 "$HERE/tests/support/make_scenes.py" "$ROOT" \
    --scenes "$SCENES" --episodes "$EPISODES" --fail-fraction 0.05 --seed 11
fi
ls "$ROOT/scenes" | head -n 100 > "$WORK/first100.txt"
# One run: prints "label  scenes  wall_s  scenes/s  peak_rss_MiB  exit".
measure() {
  local label=$1 n=$2; shift 2
  local log=$WORK/time.log code=0
  /usr/bin/time -v "$DRIVER" run "$SPEC" --root "$ROOT" --quiet "$@" >"$WORK/out.txt" 2>"$log" || code=$?
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$log")
  printf '%-28s %6d %8.2f %9.1f %9s %4d\n' "$label" "$n" "$wall" "$(echo "$n / $wall" | bc -l)" "$rss" "$code"
}
echo "fixture: $ROOT ($SCENES scenes x $EPISODES episodes); $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %6s %8s %9s %9s %4s\n' run scenes wall_s scenes/s rss_MiB exit
cat "$ROOT/scenes/$(ls "$ROOT/scenes" | head -n 1)/episodes/quality/validation_report.json" >/dev/null
measure "first 100, --jobs 1" 100 --scenes "@$WORK/first100.txt" --jobs 1
measure "first 100, --jobs 2" 100 --scenes "@$WORK/first100.txt" --jobs 2
measure "all, --jobs 1" "$SCENES" --scenes all --jobs 1
measure "all, --jobs 2" "$SCENES" --scenes all --jobs 2
