"""Pieces of the stand-in services the live-service examples validate (Python standard library only).

- Redis: a minimal RESP2 client over a socket (AUTH, XADD, XGROUP, XREADGROUP, XACK, ...).
- PostgreSQL: statements run through `psql` with psql variables (values are quoted by psql,
  never pasted into SQL text); the password comes from the environment (PG_PASSWORD).
- Metrics: counters, gauges and histograms in the Prometheus text exposition format 0.0.4.
- HTTP: a threading HTTP/1.1 server with keep-alive and a listen backlog for 50+ concurrent
  clients, routing to handler functions that return (status, JSON or text).
"""

import argparse
import json
import math
import os
import socket
import subprocess
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Redis:
    """One connection, one command at a time (guarded by a lock)."""

    def __init__(self, port, password=None, host="127.0.0.1", timeout=10.0):
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rb")
        self._lock = threading.Lock()
        if password:
            self.call("AUTH", password)

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        with self._lock:
            self._sock.sendall(b"".join(out))
            return self._read()

    def _read(self):
        line = self._file.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("redis: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self._file.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError("redis: unexpected reply %r" % line)


def stream_fields(flat):
    """XREADGROUP field list [k1, v1, k2, v2] -> dict."""
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


class Postgres:
    """Runs statements through psql, one process per statement (enough for a stand-in)."""

    def __init__(self, url):
        self.url = url
        self.env = dict(os.environ, PGPASSWORD=os.environ.get("PG_PASSWORD", ""))

    def run(self, sql, **params):
        args = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", self.url]
        for k, v in params.items():
            args += ["-v", "%s=%s" % (k, v)]
        r = subprocess.run(args, input=sql, capture_output=True, text=True, env=self.env,
                           timeout=30)
        if r.returncode != 0:
            raise RuntimeError("psql: " + r.stderr.strip())
        return r.stdout.strip()


def _labels(labels):
    if not labels:
        return ""
    return "{" + ",".join('%s="%s"' % (k, v) for k, v in sorted(labels.items())) + "}"


class Metrics:
    """A registry: counter/gauge values by (name, labels), histograms with fixed buckets."""

    def __init__(self):
        self._lock = threading.Lock()
        self._types = {}
        self._values = {}
        self._hist = {}

    def declare(self, name, kind, buckets=None):
        self._types[name] = (kind, buckets)
        if kind == "histogram":
            self._hist.setdefault((name, ()), ([0] * len(buckets), [0.0]))
        else:
            self._values.setdefault((name, ()), 0)

    def inc(self, name, amount=1, **labels):
        with self._lock:
            key = (name, tuple(sorted(labels.items())))
            self._values[key] = self._values.get(key, 0) + amount
            if labels:
                self._values.pop((name, ()), None)

    def set(self, name, value, **labels):
        with self._lock:
            self._values[(name, tuple(sorted(labels.items())))] = value

    def observe(self, name, value):
        buckets = self._types[name][1]
        with self._lock:
            counts, total = self._hist[(name, ())]
            for i, le in enumerate(buckets):
                if value <= le:
                    counts[i] += 1
            total[0] += value

    def exposition(self):
        lines = []
        with self._lock:
            for name, (kind, buckets) in sorted(self._types.items()):
                lines.append("# TYPE %s %s" % (name, kind))
                if kind == "histogram":
                    counts, total = self._hist[(name, ())]
                    for le, c in zip(buckets, counts):
                        le_s = "+Inf" if math.isinf(le) else repr(float(le))
                        lines.append('%s_bucket{le="%s"} %d' % (name, le_s, c))
                    lines.append("%s_sum %r" % (name, total[0]))
                    lines.append("%s_count %d" % (name, counts[-1]))
                    continue
                for (n, labels), v in sorted(self._values.items()):
                    if n == name:
                        lines.append("%s%s %r" % (name, _labels(dict(labels)), v))
        return "\n".join(lines) + "\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive, as a real service behind a load balancer

    def log_message(self, fmt, *args):  # quiet: the load probe sends thousands of requests
        pass

    def _dispatch(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        try:
            status, payload = self.server.app(method, path, body)
        except Exception as e:  # the stand-in reports its own bugs as 500
            status, payload = 500, {"error": str(e)}
        if isinstance(payload, str):
            data, ctype = payload.encode(), "text/plain; version=0.0.4; charset=utf-8"
        else:
            data, ctype = json.dumps(payload).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")


class _Server(ThreadingHTTPServer):
    request_queue_size = 256       # 50+ concurrent clients connect at once
    daemon_threads = True


def serve(port, app):
    """app(method, path, body_bytes) -> (status, dict|list|str). Blocks."""
    httpd = _Server(("127.0.0.1", port), _Handler)
    httpd.app = app
    httpd.serve_forever(poll_interval=0.2)


def read_env_file(path):
    """KEY=VALUE lines (# comments, optional `export `, optional quotes)."""
    env = {}
    if not path:
        return env
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[7:]
            k, _, v = line.partition("=")
            env[k.strip()] = v.strip().strip("'\"")
    return env


def service_args(extra=()):
    """The options every stand-in takes (run.sh passes them), plus `extra` names (strings)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--pg-url", required=True)
    ap.add_argument("--marker-root", required=True)
    ap.add_argument("--fault", default="")
    for name in extra:
        ap.add_argument(name, required=True)
    return ap.parse_args()


def spawn(fn):
    """Runs fn in a daemon thread; an exception in it ends the whole service (visibly)."""
    def run():
        try:
            fn()
        except Exception:
            traceback.print_exc()
            os._exit(1)
    threading.Thread(target=run, daemon=True).start()


def write_marker(root, rel, doc):
    """Writes the completion marker root/rel atomically (temporary name, then rename)."""
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.replace(path + ".tmp", path)
