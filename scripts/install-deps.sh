#!/bin/sh
# Installs what stagecheck needs to build and test, from Debian 12's packages. Idempotent:
# installs only what is missing. Needs root (or sudo). Usage: install-deps.sh [--test]
set -eu
PKGS="g++ cmake make pkg-config nlohmann-json3-dev libfmt-dev libyaml-cpp-dev libboost-dev
libboost-program-options-dev libgtest-dev libgmock-dev libbenchmark-dev python3
libssl-dev libarchive-dev libutf8proc-dev libcurl4-openssl-dev libhiredis-dev libpq-dev
libsqlite3-dev libspdlog-dev"
# With --test: also what only the test suite needs. The tests use independent tools from the npm
# registry (tests/npm/package.json); a machine with its own Node.js keeps it.
# The live-service probes' tests and examples start real servers on loopback.
if [ "${1:-}" = "--test" ]; then
  command -v npm >/dev/null || PKGS="$PKGS nodejs npm"
  PKGS="$PKGS redis-server postgresql-15 prometheus prometheus-pushgateway nginx-light"
  # A real Alertmanager for the alert tests (tests/alerts/; promtool comes with prometheus).
  PKGS="$PKGS prometheus-alertmanager"
  # A single-node Slurm cluster for the sharded batch test (tests/engines/slurm_batch_test.sh).
  PKGS="$PKGS slurmctld slurmd slurm-client munge"
fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "stagecheck: installing:$missing" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
