#!/usr/bin/env python3
"""Whole-process benchmark of the certificate_fallback check (see bench/README.md).

For each certificate count: generates the data set once (bucket layout), then times, warm
(page cache filled by a first untimed run), the median wall time of --runs runs of:
  stagecheck  build/bin/stagecheck run spec.yaml (the certificate_fallback check)
  python3     check_certificates.py (the ad-hoc script; also --strict)
  floor       read_floor (list + open + read on 2 threads, no parsing)
and each one's peak RSS (GNU time's %M, else ru_maxrss from os.wait4). Prints a Markdown
table; progress and the load average go to stderr.

    run_bench.py --stagecheck build/bin/stagecheck --floor build-bench/read_floor \
        --generator build-bench/generate_certificates [--counts 10000 100000] [--runs 7]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCENE = "kitchen_001"


GNU_TIME = "/usr/bin/time"


def run_once(cmd):
    """Runs cmd; returns (seconds, peak RSS in KiB).

    The peak RSS comes from GNU time (package `time`) when present: its child is forked from a
    small C program, whereas a child forked from this Python process starts with Python's
    pages and os.wait4's ru_maxrss counts them. Without it, ru_maxrss from os.wait4 is an
    upper bound.
    """
    rss_file = None
    if os.access(GNU_TIME, os.X_OK):
        fd, rss_file = tempfile.mkstemp(prefix="cf_bench_rss_")
        os.close(fd)
        cmd = [GNU_TIME, "-f", "%M", "-o", rss_file] + cmd
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    rss = usage.ru_maxrss
    if rss_file:
        with open(rss_file) as f:
            rss = int(f.read().split()[-1])
        os.unlink(rss_file)
    if code != 0:
        sys.exit(f"{' '.join(cmd)} exited {code}: {err}")
    return elapsed, rss


def measure(cmd, runs):
    run_once(cmd)  # Warm-up: fills the page cache and the dentry cache.
    times, rss = [], []
    for _ in range(runs):
        t, m = run_once(cmd)
        times.append(t)
        rss.append(m)
    return statistics.median(times), min(times), max(times), max(rss)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stagecheck", required=True)
    parser.add_argument("--floor", required=True)
    parser.add_argument("--generator", required=True)
    parser.add_argument("--data-dir", default="/tmp/certificate_fallback_bench")
    parser.add_argument("--counts", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=0, help="stagecheck -j (0: default)")
    parser.add_argument("--no-strict", action="store_true", help="skip python3 --strict")
    args = parser.parse_args()

    spec = os.path.join(HERE, "spec.yaml")
    script = os.path.join(HERE, "check_certificates.py")
    print(f"load average before: {loadavg()}", file=sys.stderr)
    rows = []
    for count in args.counts:
        root = os.path.join(args.data_dir, str(count))
        folder = os.path.join(root, "scenes", SCENE, "episodes", "quality", "episodes")
        if not os.path.isdir(folder) or len(os.listdir(folder)) != count:
            subprocess.run(["rm", "-rf", root], check=True)
            subprocess.run([args.generator, root, str(count), SCENE], check=True)
        stagecheck = [args.stagecheck, "run", spec, "--root", root, "--var", f"scene_id={SCENE}", "-q"]
        if args.jobs:
            stagecheck += ["-j", str(args.jobs)]
        tools = [
            ("stagecheck run", stagecheck),
            ("python3 script", [sys.executable, script, folder, "--scene-id", SCENE]),
        ]
        if not args.no_strict:
            tools.append(("python3 script --strict",
                          [sys.executable, script, folder, "--scene-id", SCENE, "--strict"]))
        tools.append(("floor (2 threads)", [args.floor, folder, "2"]))
        results = {}
        for name, cmd in tools:
            results[name] = measure(cmd, args.runs)
            med, lo, hi, rss = results[name]
            print(f"{count:>7} {name:<26} median {med*1000:8.1f} ms  (min {lo*1000:.1f}, max "
                  f"{hi*1000:.1f})  peak RSS {rss/1024:6.1f} MiB", file=sys.stderr)
        rows.append((count, results))
    print(f"load average after: {loadavg()}", file=sys.stderr)

    print("| certificates | tool | median wall | min-max | peak RSS | vs stagecheck |")
    print("|---:|---|---:|---:|---:|---:|")
    for count, results in rows:
        base = results["stagecheck run"][0]
        for name, (med, lo, hi, rss) in results.items():
            print(f"| {count:,} | {name} | {med*1000:.0f} ms | {lo*1000:.0f}-{hi*1000:.0f} ms | "
                  f"{rss/1024:.1f} MiB | {med/base:.2f}x |")


if __name__ == "__main__":
    main()
