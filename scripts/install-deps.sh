#!/bin/sh
# Installs what stagecheck needs to build and test, from Debian 12's packages. Idempotent:
# installs only what is missing. Needs root (or sudo).
set -eu
PKGS="g++ cmake make pkg-config nlohmann-json3-dev libfmt-dev libyaml-cpp-dev libboost-dev
libboost-program-options-dev libgtest-dev libgmock-dev libbenchmark-dev python3
libssl-dev"
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
