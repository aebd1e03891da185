#!/usr/bin/env bash
# One CTest test of a live-service example: runs examples/EXAMPLE/run.sh [--break KIND], and
# checks its exit code, how many checks failed, the evidence lines the verdict must show, and
# that every server it started is gone afterwards.
#
#   run_example_test.sh EXAMPLE KIND|pass EXPECTED_EXIT EXPECTED_FAILED_CHECKS REGEX...
#
# Without the servers it exits 77 (ctest: skipped), except with CI=true, where it fails.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
example=$1 kind=$2 want_rc=$3 want_failed=$4
shift 4

# shellcheck source=SCRIPTDIR/../../examples/lib/servers.sh
. "$REPO/examples/lib/servers.sh"
missing=$(sc_missing_servers)
if [ -n "$missing" ]; then
  echo "missing: $(echo "$missing" | tr '\n' ' ')(scripts/install-deps.sh --test installs them)"
  if [ "${CI:-}" = true ]; then echo "FAIL: the servers are required when CI=true"; exit 1; fi
  exit 77
fi
: "${STAGECHECK:?STAGECHECK must name the built driver}"

out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
args=()
[ "$kind" = pass ] || args=(--break "$kind")
rc=0
start=$SECONDS
"$REPO/examples/$example/run.sh" "${args[@]}" >"$out" 2>"$err" || rc=$?
cat "$out"
sed 's/^/stderr: /' "$err"
echo "---- run.sh exited $rc after $((SECONDS - start)) s"

problems=0
problem() { echo "PROBLEM: $*"; problems=$((problems + 1)); }
[ "$rc" = "$want_rc" ] || problem "exit code $rc, expected $want_rc"
failed=$(grep -cE '^  FAIL ' "$out" || true)
[ "$failed" = "$want_failed" ] || problem "$failed check(s) failed, expected $want_failed"
for re in "$@"; do
  grep -qE -- "$re" "$out" || problem "no line matches: $re"
done
# Everything run.sh started is stopped: nothing listens any more on the ports it announced.
while read -r port; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    problem "something still listens on 127.0.0.1:$port after run.sh exited"
  fi
done < <(grep -oE 'on 127\.0\.0\.1:[0-9]+' "$err" | cut -d: -f2)
[ "$problems" = 0 ] || exit 1
echo "OK"
