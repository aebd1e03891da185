#!/usr/bin/env python3
"""Whole-process cost of watching and remembering a run.

Runs the driver on the bundled production example (examples/blueprint: 40 episodes, the
production runbook spec) N times in each configuration and prints the median wall time:
plain; --monitor (stderr to a file); JSON logs at debug level to a file; --history into a
SQLite file (growing by one run per iteration); all of them together.

Usage: python3 bench/watch/run_bench.py BUILD_DIR [N]
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    driver = os.path.join(build, "bin", "stagecheck")
    base = [driver, "run", os.path.join(ROOT, "examples/blueprint/production_e2e.yaml"),
            "--root", os.path.join(ROOT, "examples/blueprint/scene"),
            "--var", "scene_id=kitchen_001",
            "--var", "job_env=" + os.path.join(ROOT, "examples/blueprint/job.env"),
            "--quiet", "--jobs", "2"]
    with tempfile.TemporaryDirectory() as tmp:
        configs = [
            ("plain", []),
            ("--monitor", ["--monitor"]),
            ("--log-format json --log-level debug", ["--log-format", "json", "--log-level", "debug",
                                                     "--log-file", os.path.join(tmp, "log.jsonl")]),
            ("--history sqlite", ["--history", "sqlite:" + os.path.join(tmp, "h1.db")]),
            ("all of them", ["--monitor", "--log-format", "json", "--log-level", "debug",
                             "--log-file", os.path.join(tmp, "log2.jsonl"),
                             "--history", "sqlite:" + os.path.join(tmp, "h2.db")]),
        ]
        results = {name: [] for name, _ in configs}
        for _ in range(n):  # interleaved, so that drift in the machine's load hits all alike
            for name, extra in configs:
                with open(os.path.join(tmp, "stderr"), "w") as err:
                    t0 = time.perf_counter()
                    code = subprocess.call(base + extra, stdout=subprocess.DEVNULL, stderr=err)
                    results[name].append(time.perf_counter() - t0)
                if code != 0:
                    sys.exit(f"{name}: exit {code}")
        plain = statistics.median(results["plain"])
        print(f"{n} runs each, median wall time (production example, 40 episodes)")
        for name, _ in configs:
            m = statistics.median(results[name])
            print(f"  {name:<40} {m * 1000:8.1f} ms  ({(m - plain) * 1000:+.1f} ms)")
        size = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp)
                   if f.startswith("h1.db"))  # with its WAL
        print(f"  history after {n} runs: {size / 1024:.0f} KiB ({size / n / 1024:.1f} KiB a run)")


if __name__ == "__main__":
    main()
