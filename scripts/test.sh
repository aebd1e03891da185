#!/bin/sh
# The README's test command: install dependencies, build, run the whole suite through CTest.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --test
# Independent test tools (a Parquet writer), pinned by tests/npm/package-lock.json.
npm ci --prefix tests/npm --no-audit --no-fund --loglevel=error
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j2
ctest --test-dir build --output-on-failure -j2
