#!/usr/bin/env bash
# The http_load probe beside wrk against the same nginx on loopback, same concurrency.
#
#   bench/http/run_bench.sh [BUILD_DIR] [CONCURRENCY] [DURATION_S]
#
# BUILD_DIR defaults to build-http (it needs bin/stagecheck and lib/stagecheck/plugins).
# Starts nginx (1 worker, access log off, keep-alive) serving a 60-byte JSON file from a temp
# folder on a free port, runs `wrk -t2 -cC -dDs` and then `stagecheck run` on an http_load
# spec with the same concurrency and duration (threads 1 and threads 2), and prints requests
# per second and latency figures for each. Machine load is printed before and after.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-http}
conc=${2:-50}
dur=${3:-10}
driver=$build/bin/stagecheck
plugins=$build/lib/stagecheck/plugins
for tool in nginx wrk jq; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done
[ -x "$driver" ] || { echo "missing driver: $driver (build stagecheck_driver and http)" >&2; exit 2; }

work=$(mktemp -d /tmp/stagecheck-http-bench-XXXXXX)
nginx_pid=
cleanup() {
  if [ -n "$nginx_pid" ]; then kill -QUIT "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
mkdir -p "$work/html" "$work/tmp"
printf '{"status":"ok","items":[1,2,3],"version":"1.4.2","n":42}\n' > "$work/html/health.json"
{
  [ "$(id -u)" = 0 ] && echo "user root;"
  cat <<CONF
worker_processes ${NGINX_WORKERS:-1};
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 1000000;
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi;
  uwsgi_temp_path $work/tmp/uwsgi;
  scgi_temp_path $work/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $work/html;
    location / { }
  }
}
CONF
} > "$work/nginx.conf"
nginx -e "$work/error.log" -c "$work/nginx.conf" -p "$work" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 200); do curl -fs -o /dev/null "http://127.0.0.1:$port/health.json" && break; sleep 0.02; done
url="http://127.0.0.1:$port/health.json"

echo "== machine"
echo "cpus: $(nproc); $(uptime | sed 's/.*load average/load average/')"
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), workers ${NGINX_WORKERS:-1}; $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "target: $url, concurrency $conc, ${dur}s each"

echo
echo "== wrk -t2 -c$conc -d${dur}s --latency"
wrk -t2 -c"$conc" -d"${dur}s" --latency "$url" | tee "$work/wrk.txt"

run_probe() {
  local threads=$1
  cat > "$work/spec.yaml" <<SPEC
version: 1
name: http-bench
stages:
  - id: bench
    checks:
      - id: load
        type: http_load
        url: $url
        duration: ${dur}s
        concurrency: $conc
        threads: $threads
        timeout: 5s
        thresholds: ["p(99) < 1s", "error_rate == 0"]
SPEC
  "$driver" run "$work/spec.yaml" --root "$work" --no-default-plugins --plugin-dir "$plugins" \
    --format json > "$work/report.json" || true
  jq -r --arg t "$threads" '.results[] | select(.id == "bench.load") |
    "status \(.status); threads \($t): \(.observed.requests) requests in \(.observed.elapsed_s * 1000 | round / 1000) s = \(.observed.rps | round) req/s; errors \(.observed.errors)\n" +
    "latency ms: min \(.observed.latency_ms.min) avg \(.observed.latency_ms.avg) med \(.observed.latency_ms.med) p90 \(.observed.latency_ms.p90) p95 \(.observed.latency_ms.p95) p99 \(.observed.latency_ms.p99) max \(.observed.latency_ms.max)"' \
    "$work/report.json"
}
for threads in 1 2; do
  echo
  echo "== stagecheck http_load: duration ${dur}s, concurrency $conc, threads $threads"
  run_probe "$threads"
done
echo
echo "== after: $(uptime | sed 's/.*load average/load average/')"
