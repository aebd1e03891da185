#!/usr/bin/env python3
"""The scale fixture: a bucket-shaped folder of N scenes of M episodes each, good runs of the
scene pipeline (examples/blueprint/make_scene.py), with a fraction of them broken in one of a
few ways the production spec must fail. Deterministic from the seed.

    python3 tests/support/make_scenes.py OUT --scenes 1000 --episodes 200 --fail-fraction 0.1 --seed 7
    stagecheck run examples/blueprint/production_e2e.yaml --root OUT --scenes all

OUT/expected.json says, for every scene, the exit code the production spec must give, the
planted fault and the check that must fail; and lists the failing scenes.
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "examples", "blueprint"))
import make_scene  # noqa: E402

PLACEHOLDER = "scene@@placeholder"
VR = "episodes/quality/validation_report.json"
GATE = "episode-generation-job/quality_gate_report.json"


def low_pass_rate(files, rng):
    doc = json.loads(files[VR])
    doc["summary"]["pass_rate"] = 0.85
    files[VR] = json.dumps(doc, indent=2)


def dev_only_fallback(files, rng):
    doc = json.loads(files[VR])
    doc["episodes"][rng.randrange(len(doc["episodes"]))]["dev_only_fallback"] = True
    files[VR] = json.dumps(doc, indent=2)


def gate_blocked(files, rng):
    doc = json.loads(files[GATE])
    doc["summary"].update(blocking_failures=1, can_proceed=False)
    files[GATE] = json.dumps(doc, indent=2)


def missing_dwm_complete(files, rng):
    del files["dwm/.dwm_complete"]


# kind -> (mutation, the check that must fail)
FAULTS = {
    "low_pass_rate": (low_pass_rate, "episode_generation.validation_thresholds"),
    "dev_only_fallback": (dev_only_fallback, "mock_detection.indicators"),
    "gate_blocked": (gate_blocked, "quality_gate.gate_report"),
    "missing_dwm_complete": (missing_dwm_complete, "dwm_preparation.expects[0]"),
}


def template(episodes, tmp):
    """Every file of one good scene, relative to scenes/<id>/, with the id as a placeholder."""
    make_scene.main(tmp, scene=PLACEHOLDER, n=episodes)
    base = os.path.join(tmp, "scenes", PLACEHOLDER)
    files = {}
    for folder, _, names in os.walk(base):
        for name in names:
            path = os.path.join(folder, name)
            with open(path) as f:
                files[os.path.relpath(path, base)] = f.read()
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--scenes", type=int, default=10)
    ap.add_argument("--episodes", type=int, default=40)
    ap.add_argument("--fail-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prefix", default="scene_", help="scene ids are PREFIX00000, PREFIX00001, ...")
    ap.add_argument("--first", type=int, default=0, help="number of the first scene")
    a = ap.parse_args()
    if a.scenes < 0 or a.episodes < 1 or not 0.0 <= a.fail_fraction <= 1.0:
        sys.exit("make_scenes.py: need --scenes >= 0, --episodes >= 1, 0 <= --fail-fraction <= 1")
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        files = template(a.episodes, tmp)
    rng = random.Random(a.seed)
    ids = [f"{a.prefix}{i:05d}" for i in range(a.first, a.first + a.scenes)]
    failing = set(rng.sample(ids, round(a.scenes * a.fail_fraction)))
    kinds = sorted(FAULTS)
    expected = {}
    for sid in ids:
        scene_files = dict(files)
        entry = {"exit_code": 0}
        if sid in failing:
            kind = kinds[rng.randrange(len(kinds))]
            mutate, check = FAULTS[kind]
            mutate(scene_files, rng)
            entry = {"exit_code": 1, "fault": kind, "check": check}
        expected[sid] = entry
        for rel, text in scene_files.items():
            path = os.path.join(a.out, "scenes", sid, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text.replace(PLACEHOLDER, sid))
    with open(os.path.join(a.out, "expected.json"), "w") as f:
        json.dump({"scenes": expected, "failing": sorted(failing), "episodes": a.episodes,
                   "seed": a.seed}, f, indent=2, sort_keys=True)
    print(f"{a.scenes} scenes x {a.episodes} episodes, {len(failing)} failing, in {a.out}")


if __name__ == "__main__":
    main()
