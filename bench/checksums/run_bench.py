#!/usr/bin/env python3
"""Whole-process comparison for the checksums check: `stagecheck run` on a spec vs
`sha256sum -c` on the same manifest vs the bare 2-thread OpenSSL floor (evp_floor), warm page
cache, median wall time of N runs, peak RSS from GNU time. Results go to stdout (markdown).

  python3 bench/checksums/run_bench.py --stagecheck build/bin/stagecheck \
      --floor build/bin/evp_floor --generator build/bin/generate_checksums_data \
      [--large-mib 1024] [--small 10000] [--runs 5]

Data: DATA_DIR/<large_mib>x2_<small> (default /tmp/checksums_bench), generated once.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def timed(cmd, cwd=None):
    """Runs cmd under GNU time; returns (wall s, peak RSS KiB, user+sys CPU s, exit code)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        start = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", t.name] + cmd, cwd=cwd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - start
        rss, user, sys_ = t.read().strip().splitlines()[-1].split()
    return wall, int(rss), float(user) + float(sys_), p.returncode


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stagecheck", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--generator", required=True)
    ap.add_argument("--data-dir", default="/tmp/checksums_bench")
    ap.add_argument("--large-mib", type=int, default=1024, help="size of each of the 2 large files")
    ap.add_argument("--small", type=int, default=10000, help="number of small files (1-64 KiB)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2, help="stagecheck -j and evp_floor threads")
    ap.add_argument("--skip-sha256sum", action="store_true")
    args = ap.parse_args()

    data = os.path.join(args.data_dir, f"{args.large_mib}x2_{args.small}")
    if not os.path.exists(os.path.join(data, "SHA256SUMS")):
        os.makedirs(data, exist_ok=True)
        subprocess.run([args.generator, data, str(args.large_mib), str(args.small)], check=True)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(data) for f in fs
                if f not in ("SHA256SUMS", "checksums.json"))
    spec = os.path.join(HERE, "spec.yaml")
    tools = [
        ("stagecheck run (SHA256SUMS)",
         [args.stagecheck, "run", spec, "--root", data, "-q", "-j", str(args.jobs)], None),
        ("stagecheck run (checksums.json)",
         [args.stagecheck, "run", spec, "--root", data, "-q", "-j", str(args.jobs),
          "--var", "manifest=checksums.json"], None),
        (f"evp_floor ({args.jobs} threads)", [args.floor, os.path.join(data, "SHA256SUMS"),
                                              str(args.jobs)], None),
    ]
    if not args.skip_sha256sum:
        tools.append(("sha256sum -c", ["sha256sum", "-c", "--quiet", "SHA256SUMS"], data))

    print(f"data: {data}: 2 x {args.large_mib} MiB + {args.small} small files, "
          f"{total} bytes ({total / 2**30:.2f} GiB)")
    print(f"load average before: {load()}")
    # Warm the page cache (and check every tool agrees the data is intact).
    for name, cmd, cwd in tools:
        _, _, _, code = timed(cmd, cwd)
        if code != 0:
            sys.exit(f"{name}: exit {code} on the warm-up run")
    results = {}
    for _ in range(args.runs):  # interleaved, so that a load spike hits every tool alike
        for name, cmd, cwd in tools:
            wall, rss, cpu, code = timed(cmd, cwd)
            if code != 0:
                sys.exit(f"{name}: exit {code}")
            results.setdefault(name, []).append((wall, rss, cpu))
    print(f"load average after: {load()}")
    base = statistics.median(r[0] for r in results[tools[0][0]])
    floor = statistics.median(r[0] for r in results[tools[2][0]])
    print()
    print("| tool | median wall | min-max | GiB/s | peak RSS | CPU (user+sys) | vs stagecheck "
          "| floor / tool |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, _, _ in tools:
        walls = [r[0] for r in results[name]]
        med = statistics.median(walls)
        rss = max(r[1] for r in results[name])
        cpu = statistics.median(r[2] for r in results[name])
        print(f"| {name} | {med * 1000:.0f} ms | {min(walls) * 1000:.0f}-{max(walls) * 1000:.0f} ms "
              f"| {total / med / 2**30:.2f} | {rss / 1024:.1f} MiB | {cpu:.2f} s | {med / base:.2f}x "
              f"| {floor / med * 100:.0f}% |")


if __name__ == "__main__":
    main()
