#!/bin/bash
# Proves the packaging the way a user meets it: install the build tree into a fresh prefix,
# then build examples/custom_plugin and examples/embed out of tree with find_package(stagecheck)
# against that prefix, and run them with the installed driver.
#   run_packaging_test.sh BUILD_DIR SOURCE_DIR custom_plugin|embed|pkgconfig
set -euo pipefail
BUILD=$1 SRC=$2 WHAT=$3
WORK=$(mktemp -d /tmp/stagecheck-pkg-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_code() {  # expect_code N command...
  local want=$1; shift
  set +e; "$@" >"$WORK/out" 2>"$WORK/err"; local got=$?; set -e
  [ "$got" = "$want" ] || { cat "$WORK/out" "$WORK/err" >&2; fail "'$*' exited $got, expected $want"; }
}

cmake --install "$BUILD" --prefix "$WORK/prefix" >/dev/null
PREFIX=$WORK/prefix
SC=$PREFIX/bin/stagecheck
[ -x "$SC" ] || fail "the driver was not installed"
first_dir() { for d in "$@"; do [ -d "$d" ] && { echo "$d"; return; }; done; }
LIBDIR=$(first_dir "$PREFIX"/lib/*-linux-gnu "$PREFIX"/lib64 "$PREFIX"/lib)
[ -L "$LIBDIR/libstagecheck.so.0" ] || fail "no libstagecheck.so.0 (SOVERSION) in $LIBDIR"

case "$WHAT" in
  custom_plugin)
    cmake -S "$SRC/examples/custom_plugin" -B "$WORK/plugin" -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null
    cmake --build "$WORK/plugin" -j2 >/dev/null
    SO=$WORK/plugin/stagecheck_object_count.so
    [ -f "$SO" ] || fail "plugin not built"
    # Only the entry point is exported.
    exported=$(nm -D --defined-only "$SO" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort -u | tr '\n' ' ')
    [ "$exported" = "stagecheck_plugin_v1 " ] || fail "plugin exports more than its entry point: $exported"
    expect_code 0 "$SC" list-checks --plugin-dir "$WORK/plugin"
    grep -q "object_count  \[artifacts\]  from plugin example_object_count 1.0.0 ($SO)" "$WORK/out" || { cat "$WORK/out"; fail "list-checks does not show the plugin's provenance"; }
    expect_code 0 "$SC" run "$SRC/examples/custom_plugin/spec.yaml" --plugin-dir "$WORK/plugin" \
      --root "$SRC/examples/custom_plugin/data" --var scene_id=kitchen_001
    grep -q "3 objects ending in '/quality_certificate.json'" "$WORK/out" || fail "unexpected output"
    # A missing certificate fails.
    cp -r "$SRC/examples/custom_plugin/data" "$WORK/data"
    rm "$WORK/data/scenes/kitchen_001/episodes/quality/episodes/episode_000001/quality_certificate.json"
    expect_code 1 "$SC" run "$SRC/examples/custom_plugin/spec.yaml" --plugin-dir "$WORK/plugin" \
      --root "$WORK/data" --var scene_id=kitchen_001
    grep -q "2 objects ending in '/quality_certificate.json'.*expected between 3 and 3" "$WORK/out" || fail "failure not explained"
    # Installed into the plugin folder, it is loaded with no --plugin-dir.
    PLUGDIR=$(first_dir "$PREFIX"/lib*/stagecheck/plugins "$PREFIX"/lib/*/stagecheck/plugins)
    [ -n "$PLUGDIR" ] || fail "no installed plugin folder"
    cp "$SO" "$PLUGDIR/"
    expect_code 0 "$SC" list-checks
    grep -q "from plugin example_object_count 1.0.0 ($PLUGDIR/stagecheck_object_count.so)" "$WORK/out" || fail "installed plugin not loaded by default"
    ;;
  embed)
    cmake -S "$SRC/examples/embed" -B "$WORK/embed" -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null
    cmake --build "$WORK/embed" -j2 >/dev/null
    JOB=$WORK/embed/training_job
    expect_code 0 "$JOB" --root "$SRC/examples/quickstart/scene" --scene kitchen_001 --out "$WORK/started"
    [ -f "$WORK/started" ] || fail "the job did not run on a passing scene"
    rm -f "$WORK/started"
    expect_code 1 "$JOB" --root "$SRC/examples/quickstart/broken" --scene kitchen_001 --out "$WORK/started"
    [ ! -e "$WORK/started" ] || fail "the job ran although the preflight failed"
    grep -q "refusing to train" "$WORK/err" || fail "no refusal message"
    grep -q "preflight.quality_gate" "$WORK/err" || fail "the failing check is not named"
    expect_code 2 "$JOB" --root "$WORK/nope" --scene kitchen_001 --out "$WORK/started"
    ;;
  embed_preflight)
    cmake -S "$SRC/examples/embed_preflight" -B "$WORK/train" -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null
    cmake --build "$WORK/train" -j2 >/dev/null
    cp -r "$SRC/examples/blueprint/scene" "$WORK/bucket"
    expect_code 0 "$WORK/train/train" --bucket "$WORK/bucket" --scene kitchen_001
    grep -q "training on scene kitchen_001" "$WORK/out" || fail "did not train on a passing scene"
    [ ! -e "$WORK/bucket/scenes/kitchen_001/training/.failed" ] || fail "a passing preflight wrote a marker"
    # Block it: the gate report says it cannot proceed.
    sed -i 's/"can_proceed": true/"can_proceed": false/' \
      "$WORK/bucket/scenes/kitchen_001/episode-generation-job/quality_gate_report.json"
    expect_code 1 "$WORK/train/train" --bucket "$WORK/bucket" --scene kitchen_001
    grep -q "not training" "$WORK/err" || fail "no refusal"
    grep -q '"code": "quality_gate_blocked"' "$WORK/bucket/scenes/kitchen_001/training/.failed" || fail "no .failed marker"
    expect_code 2 "$WORK/train/train" --bucket "$WORK/bucket" --scene unknown
    ;;
  pkgconfig)
    PKG_CONFIG_PATH=$(first_dir "$PREFIX"/lib*/pkgconfig "$PREFIX"/lib/*/pkgconfig)
    export PKG_CONFIG_PATH
    pkg-config --exists stagecheck || fail "pkg-config cannot find stagecheck"
    driver_version=$("$SC" --version | cut -d' ' -f2)
    [ "$(pkg-config --modversion stagecheck)" = "$driver_version" ] || fail "pkg-config version differs from the driver's"
    printf '#include <stagecheck/version.hpp>\n#include <iostream>\nint main(){std::cout<<stagecheck::version()<<"\\n";}\n' > "$WORK/v.cpp"
    # shellcheck disable=SC2046
    g++ "$WORK/v.cpp" -o "$WORK/v" $(pkg-config --cflags --libs stagecheck) -Wl,-rpath,"$(pkg-config --variable=libdir stagecheck)"
    [ "$("$WORK/v")" = "$(pkg-config --modversion stagecheck)" ] || fail "pkg-config build does not run"
    ;;
  *) fail "unknown test $WHAT" ;;
esac
echo "PASS: packaging $WHAT"
