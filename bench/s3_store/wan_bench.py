#!/usr/bin/env python3
"""The S3 store over a WAN-like link: s3rver behind a latency proxy that holds every request
20 ms before forwarding it (the issue 6 benchmark). Shares s3rver, upload and the curl harness
with run_bench.py.

    python3 bench/s3_store/wan_bench.py BUILD_DIR [--delay-ms 20] [--counts 1000 10000]
                                        [--curl-max 1000] [--runs 1] [--skip-scene]

Data sets (each in its own s3rver, uploaded untimed, then read through the proxy):
  scene        examples/blueprint/scene (40 episodes), spec examples/blueprint/production_e2e.yaml
               --var scene_id=kitchen_001
  N certs      generate_certificates N, spec bench/certificate_fallback/spec.yaml
For each: stagecheck --io-concurrency 32 (default), stagecheck --io-concurrency 1 (the same
requests one after another), stagecheck --jobs 32 --io-concurrency 32 (the checks read through
blocking calls from --jobs threads, default the number of cores, so --jobs also bounds the
requests in flight), and, up to --curl-max objects, one `curl` process per listing page
and per object (the scene: every object under scenes/kitchen_001/; certificates: every
certificate, json.loads, validation_passed). The proxy counts requests (by method) and bytes
both ways and the most requests it held at once; stagecheck's peak RSS comes from /usr/bin/time -v. Every stagecheck run must exit 0.
Prints a Markdown table.
"""
import argparse
import asyncio
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_bench import (BUCKET, SCENE, SOURCE, curl_get, curl_list,  # noqa: E402
                       curl_per_object, start_s3rver, upload)

GNU_TIME = "/usr/bin/time"


class LatencyProxy:
    """A loopback HTTP/1.1 proxy (asyncio, own thread): one upstream connection per client
    connection; each request (head + Content-Length body) is held `delay` seconds, then
    forwarded; responses are piped back untouched. Delays of concurrent requests overlap, as
    round trips on a real link do. Counts requests by method, bytes each way, connections and
    the most requests held at once."""

    def __init__(self, upstream_port, delay):
        self.upstream_port, self.delay = upstream_port, delay
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait()
        self.reset()

    def reset(self):
        self.methods = collections.Counter()
        self.bytes_up = self.bytes_down = self.connections = self.held = self.max_held = 0

    @property
    def requests(self):
        return sum(self.methods.values())

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0, backlog=256))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _shutdown(self):
        self.server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self):
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()

    async def _client(self, creader, cwriter):
        self.connections += 1
        try:
            ureader, uwriter = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            cwriter.close()
            return
        down = asyncio.ensure_future(self._pipe(ureader, cwriter))
        try:
            while True:
                head = await creader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await creader.readexactly(length) if length else b""
                self.methods[head.split(b" ", 1)[0].decode()] += 1
                self.bytes_up += len(head) + len(body)
                self.held += 1
                self.max_held = max(self.max_held, self.held)
                await asyncio.sleep(self.delay)
                self.held -= 1
                uwriter.write(head + body)
                await uwriter.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            uwriter.close()
            try:
                await asyncio.wait_for(down, 5)
            except (asyncio.TimeoutError, ConnectionError):
                pass
            cwriter.close()

    async def _pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                self.bytes_down += len(data)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def timed_rss(cmd, env):
    """Runs cmd under GNU time -v; returns (exit code, seconds, peak RSS KiB, stdout)."""
    fd, rss_file = tempfile.mkstemp(prefix="wan_bench_time_")
    os.close(fd)
    start = time.perf_counter()
    r = subprocess.run([GNU_TIME, "-v", "-o", rss_file] + cmd, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    with open(rss_file) as f:
        rss = next(int(line.split(":")[1]) for line in f
                   if "Maximum resident set size" in line)
    os.unlink(rss_file)
    return r.returncode, elapsed, rss, r.stdout.decode(errors="replace")


def measure(proxy, fn, runs):
    """Median wall time of `runs` runs of fn (returns peak RSS or None), with the proxy's
    counters of the last run."""
    times, rss = [], []
    for _ in range(runs):
        proxy.reset()
        start = time.perf_counter()
        r = fn()
        times.append(time.perf_counter() - start)
        if r is not None:
            rss.append(r)
    return dict(wall=statistics.median(times), lo=min(times), hi=max(times),
                requests=proxy.requests, methods=dict(proxy.methods), up=proxy.bytes_up,
                down=proxy.bytes_down, connections=proxy.connections, max_held=proxy.max_held,
                rss=max(rss) if rss else None)


def bench_data_set(args, label, local_root, spec, objects, curl_fn, rows):
    work = tempfile.mkdtemp(prefix="stagecheck-wanbench-")
    s3 = proxy = None
    try:
        s3, port = start_s3rver(work)
        t0 = time.perf_counter()
        n = upload(local_root, port)
        print(f"{label}: uploaded {n} objects in {time.perf_counter() - t0:.1f} s (untimed)",
              file=sys.stderr)
        proxy = LatencyProxy(port, args.delay_ms / 1000)
        endpoint = f"http://127.0.0.1:{proxy.port}"
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="S3RVER",
                   AWS_SECRET_ACCESS_KEY="S3RVER")
        stagecheck = os.path.join(args.build, "bin", "stagecheck")

        def run_stagecheck(flags):
            cmd = [stagecheck, "run", spec, "--root", f"s3://{BUCKET}", "--var",
                   f"scene_id={SCENE}", "--quiet"] + flags
            code, _, rss, out = timed_rss(cmd, env)
            if code != 0:
                sys.exit(f"{label}: stagecheck {' '.join(flags)}: exit {code}\n{out}")
            return rss

        cases = [(f"stagecheck {' '.join(flags)}", lambda flags=flags: run_stagecheck(flags))
                 for flags in (["--io-concurrency", "32"], ["--io-concurrency", "1"],
                               ["--jobs", "32", "--io-concurrency", "32"])]
        if objects <= args.curl_max:
            cases.append(("curl per object", curl_fn(endpoint)))
        for name, fn in cases:
            print(f"{label}: {name} ...", file=sys.stderr)
            m = measure(proxy, fn, args.runs)
            m.update(data=label, tool=name)
            print(f"  {json.dumps(m)}", file=sys.stderr)
            rows.append(m)
    finally:
        if proxy is not None:
            proxy.close()
        if s3 is not None:
            s3.terminate()
            s3.wait()
        shutil.rmtree(work, ignore_errors=True)


def scene_curl(endpoint):
    def run():
        keys = curl_list(endpoint, f"scenes/{SCENE}/")
        for key in keys:
            curl_get(endpoint, key)
    return run


def certs_curl(count):
    def make(endpoint):
        def run():
            if curl_per_object(endpoint) != count:
                sys.exit("curl per object: not every certificate passed")
        return run
    return make


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--delay-ms", type=float, default=20)
    ap.add_argument("--counts", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--curl-max", type=int, default=1000,
                    help="skip curl per object above this many objects (minutes at 10,000)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--skip-scene", action="store_true")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    print(f"load: {os.getloadavg()}", file=sys.stderr)
    rows = []
    if not args.skip_scene:
        scene = os.path.join(SOURCE, "examples/blueprint/scene")
        objects = sum(len(f) for _, _, f in os.walk(scene))
        bench_data_set(args, "blueprint scene (40 episodes)", scene,
                       os.path.join(SOURCE, "examples/blueprint/production_e2e.yaml"), objects,
                       scene_curl, rows)
    for count in args.counts:
        data = tempfile.mkdtemp(prefix="stagecheck-wanbench-certs-")
        try:
            subprocess.run([os.path.join(args.build, "bin", "generate_certificates"), data,
                            str(count)], check=True, stdout=subprocess.DEVNULL)
            bench_data_set(args, f"{count:,} certificates", data,
                           os.path.join(SOURCE, "bench/certificate_fallback/spec.yaml"), count,
                           certs_curl(count), rows)
        finally:
            shutil.rmtree(data, ignore_errors=True)
    print(f"load: {os.getloadavg()}", file=sys.stderr)
    print(f"{args.delay_ms:g} ms per request, {args.runs} run(s) each (median)\n")
    print("| data | tool | requests (by method) | bytes down / up | wall | requests/s "
          "| most in flight | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for m in rows:
        methods = ", ".join(f"{k} {v}" for k, v in sorted(m["methods"].items()))
        rss = f"{m['rss'] / 1024:.1f} MiB" if m["rss"] else "-"
        print(f"| {m['data']} | {m['tool']} | {m['requests']:,} ({methods}) "
              f"| {m['down']:,} / {m['up']:,} | {m['wall']:.2f} s "
              f"| {m['requests'] / m['wall']:.0f} | {m['max_held']} | {rss} |")


if __name__ == "__main__":
    main()
