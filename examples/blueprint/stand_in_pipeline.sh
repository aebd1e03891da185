#!/bin/bash
# A local stand-in for the scene pipeline's four Cloud Workflows, so that
# `stagecheck run production_e2e.yaml --execute` can drive a whole run on one machine.
#
#   stand_in_pipeline.sh WORKFLOW --root DIR --scene ID
#
# WORKFLOW is one of
#   upstream                     the scene's inputs as the upstream pipelines leave them
#                                (config, variation/USD/regen3d markers); run it once first
#   genie-sim-export             geniesim/.geniesim_submitted at once, then job.json and
#                                .geniesim_complete
#   episode-generation           episodes, certificates, reports, the gate report, then
#                                episodes/.episodes_complete
#   genie-sim-import             the import manifests, then .geniesim_import_complete
#   dwm-preparation              dwm/.dwm_complete
#
# Like `gcloud workflows execute`, a workflow returns at once and its work lands in DIR a
# little later (STAND_IN_DELAY seconds, default 1), each file written atomically and the
# completion marker last; stagecheck's `wait` polls for the markers.
#
# Environment (stagecheck passes these through the spec's env_allow):
#   STAND_IN_SOURCE  the finished run to play back (default: the bundled good scene,
#                    examples/blueprint/scene); a variant from derive_failures.py plays
#                    back a failing run
#   STAND_IN_DELAY   seconds before a workflow's work lands (default 1)
#   STAND_IN_FAIL    a workflow name: that workflow fails at once (exit 1), as a workflow
#                    whose execution ends in FAILED
#   STAND_IN_HANG    a workflow name: that workflow never returns (for trigger timeouts)
#   STAND_IN_HANG_NOTE  a file: a hanging workflow writes its process group id there
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
workflow="$1"; shift
root="" scene=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root | --scene)
      [ $# -ge 2 ] || { echo "stand_in_pipeline: $1 needs a value" >&2; exit 2; }
      if [ "$1" = --root ]; then root="$2"; else scene="$2"; fi
      shift 2 ;;
    *) echo "stand_in_pipeline: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$root" ] && [ -n "$scene" ] || { echo "stand_in_pipeline: --root and --scene are required" >&2; exit 2; }
case "$root" in *://*) echo "stand_in_pipeline: plays back into a local folder only, not $root" >&2; exit 2 ;; esac

source_root="${STAND_IN_SOURCE:-$here/scene}"
src="$source_root/scenes/$scene"
[ -d "$src" ] || { echo "stand_in_pipeline: no scene '$scene' under $source_root" >&2; exit 2; }
dst="$root/scenes/$scene"
delay="${STAND_IN_DELAY:-1}"

# Which workflow writes a file (path relative to the scene folder).
owner() {
  case "$1" in
    geniesim/.geniesim_import_complete | episodes/geniesim_*/* | episodes/import_manifest.json)
      echo genie-sim-import ;;
    geniesim/*) echo genie-sim-export ;;
    episodes/* | episode-generation-job/*) echo episode-generation ;;
    dwm/*) echo dwm-preparation ;;
    *) echo upstream ;;
  esac
}

# The workflow's files, its completion markers (.*_complete) last.
files_of() {
  (cd "$src" && find . \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort) |
    while IFS= read -r f; do if [ "$(owner "$f")" = "$1" ]; then echo "$f"; fi; done |
    awk '{ if ($0 ~ /(^|\/)\.[a-z0-9_]*_complete$/) last[++n] = $0; else print } END { for (i = 1; i <= n; i++) print last[i] }'
}

# Copies one file atomically: a temporary name in the same folder, then rename.
put() {
  mkdir -p "$(dirname "$dst/$1")"
  if [ -L "$src/$1" ]; then
    ln -sfn "$(readlink "$src/$1")" "$dst/$1"
  else
    cp "$src/$1" "$dst/$1.stand-in.tmp.$$"
    mv -f "$dst/$1.stand-in.tmp.$$" "$dst/$1"
  fi
}

case "$workflow" in
  upstream | genie-sim-export | episode-generation | genie-sim-import | dwm-preparation) ;;
  *) echo "stand_in_pipeline: unknown workflow '$workflow'" >&2; exit 2 ;;
esac

echo "stand_in_pipeline: $workflow for scene $scene from $source_root"
if [ "${STAND_IN_FAIL:-}" = "$workflow" ]; then
  echo "stand_in_pipeline: workflow $workflow: execution FAILED (STAND_IN_FAIL)" >&2
  exit 1
fi
if [ "${STAND_IN_HANG:-}" = "$workflow" ]; then
  echo "stand_in_pipeline: workflow $workflow hangs (STAND_IN_HANG), process group $$"
  if [ -n "${STAND_IN_HANG_NOTE:-}" ]; then echo "$$" > "$STAND_IN_HANG_NOTE"; fi
  sleep 86400
fi

mkdir -p "$dst"
if [ "$workflow" = upstream ]; then
  files_of upstream | while IFS= read -r f; do put "$f"; done
  exit 0
fi
# A workflow that starts again withdraws its completion marker first, so that a wait never
# mistakes an earlier run's marker for this one's (stagecheck run --iterations N).
files_of "$workflow" | { grep -E '(^|/)\.[a-z0-9_]*_complete$' || true; } | while IFS= read -r f; do
  rm -f "$dst/$f"
done
# genie-sim-export acknowledges the submission at once.
if [ "$workflow" = genie-sim-export ] && [ -f "$src/geniesim/.geniesim_submitted" ]; then
  put geniesim/.geniesim_submitted
fi
# The rest lands later, as a workflow's execution does. Detached from stagecheck's pipe.
(
  sleep "$delay"
  files_of "$workflow" | while IFS= read -r f; do
    if [ "$workflow" = genie-sim-export ] && [ "$f" = geniesim/.geniesim_submitted ]; then
      continue
    fi
    put "$f"
  done
) </dev/null >/dev/null 2>&1 &
echo "stand_in_pipeline: $workflow started; its output lands in ${delay}s"
