#!/usr/bin/env python3
"""Runs examples/k8s/indexed-job.yaml without Kubernetes: reads the manifest, runs the Indexed
Job's container command once per completion index with the environment the manifest gives the
pod (literal values, and the completion index for the fieldRef to the job-completion-index
annotation), each volume's mountPath mapped to a local folder and `stagecheck` to the built
driver; then runs the merge Job's command the same way, and checks that the merged verdict,
failing scenes and per-scene results equal a single-process run's.

    tests/engines/k8s_indexed_job_test.py DRIVER

This tests the manifest's commands and environment, not Kubernetes: it was not run on a cluster.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
MANIFEST = os.path.join(SOURCE, "examples", "k8s", "indexed-job.yaml")
INDEX_ANNOTATION = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def pod_env(container, index):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if index is not None:
        env["JOB_COMPLETION_INDEX"] = str(index)  # Kubernetes sets it in every Indexed Job pod
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == INDEX_ANNOTATION:
            if index is None:
                sys.exit(f"{e['name']}: the completion index outside an Indexed Job")
            env[e["name"]] = str(index)
        else:
            sys.exit(f"env {e['name']}: unsupported source {e}")
    return env


def expand(arg, env):
    """Kubernetes' $(VAR) expansion in command and args ($$ escapes)."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), arg)


def run_container(container, index, mounts, bindir):
    env = pod_env(container, index)
    env["PATH"] = bindir + ":" + env["PATH"]
    argv = [expand(a, env) for a in container.get("command", []) + container.get("args", [])]
    for mount in container.get("volumeMounts", []):
        argv = [a.replace(mount["mountPath"], mounts[mount["name"]]) for a in argv]
    return subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def main():
    driver = os.path.abspath(sys.argv[1])
    docs = list(yaml.safe_load_all(open(MANIFEST)))
    indexed = [d for d in docs if d["kind"] == "Job" and d["spec"].get("completionMode") == "Indexed"]
    merge = [d for d in docs if d["kind"] == "Job" and d["spec"].get("completionMode") != "Indexed"]
    assert len(indexed) == 1 and len(merge) == 1, "one Indexed Job and one merge Job expected"
    job = indexed[0]["spec"]
    n = job["completions"]
    container = job["template"]["spec"]["containers"][0]
    shard_count = [e["value"] for e in container["env"] if e["name"] == "STAGECHECK_SHARD_COUNT"]
    assert shard_count == [str(n)], f"STAGECHECK_SHARD_COUNT {shard_count} must equal completions {n}"

    with tempfile.TemporaryDirectory() as w:
        subprocess.run([sys.executable, os.path.join(SOURCE, "tests/support/make_scenes.py"),
                        f"{w}/data", "--scenes", "16", "--episodes", "10", "--fail-fraction", "0.25",
                        "--seed", "8"], check=True, stdout=subprocess.DEVNULL)
        os.makedirs(f"{w}/reports")
        # `stagecheck` on the pods' PATH is the built driver.
        os.makedirs(f"{w}/bin")
        os.symlink(driver, f"{w}/bin/stagecheck")
        mounts = {"spec": os.path.join(SOURCE, "examples", "blueprint"), "data": f"{w}/data",
                  "reports": f"{w}/reports"}
        for i in range(n):
            r = run_container(container, i, mounts, f"{w}/bin")
            print(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else f"pod {i}: no output")
            assert r.returncode == 0, f"pod {i} failed ({r.returncode}):\n{r.stdout}"
        mc = merge[0]["spec"]["template"]["spec"]["containers"][0]
        m = run_container(mc, None, mounts, f"{w}/bin")
        single = subprocess.run([driver, "run", os.path.join(SOURCE, "examples/blueprint/production_e2e.yaml"),
                                 "--root", f"{w}/data", "--scenes", "all", "--quiet",
                                 "--report-json", f"{w}/single.json"], stdout=subprocess.DEVNULL)
        merged = json.load(open(f"{w}/reports/merged.json"))
        one = json.load(open(f"{w}/single.json"))
        expected = json.load(open(f"{w}/data/expected.json"))
        strip = lambda scenes: [{k: v for k, v in s.items() if k != "duration_ms"} for s in scenes]
        sources = {json.load(open(f"{w}/reports/shard-{i}.json"))["shard"]["source"] for i in range(n)}
        checks = [
            ("the single run fails (the fleet has failing scenes)", single.returncode == 1),
            ("the merge Job's exit code equals the single run's", m.returncode == single.returncode),
            ("verdicts equal", merged["verdict"] == one["verdict"]),
            ("failing scenes equal", merged["failing_scenes"] == one["failing_scenes"] == expected["failing"]),
            ("per-scene results equal", strip(merged["scenes"]) == strip(one["scenes"])),
            ("no merge problems", merged["problems"] == []),
            (f"{n} shards, taken from the Indexed Job's environment", sources == {"kubernetes"}
             and len(merged["merged_from"]) == n),
        ]
        for name, ok in checks:
            print(("ok   " if ok else "FAIL ") + name)
        if not all(ok for _, ok in checks):
            print(m.stdout)
            sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
