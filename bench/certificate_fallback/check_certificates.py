#!/usr/bin/env python3
"""The "ad-hoc script" baseline for the certificate_fallback benchmark.

Does what the stagecheck check does, the way a pipeline engineer would script it: walks the
episodes folder with os.scandir, json.load()s every <episode_id>/quality_certificate.json (with
a 64 MiB size cap) and applies the same rules: a JSON object, episode_id equal to its folder,
validation_passed exactly True, recommended_use in the allowed list, scene_id equal to the
expected one, no episode folder without a certificate, at least --min certificates. Prints the
counts by recommended_use and up to ten failures; exits 0 on pass, 1 on fail.

--strict also refuses what stagecheck refuses and json.load accepts: duplicate keys, NaN and
Infinity. It costs a Python callback per object and constant.

    check_certificates.py FOLDER [--scene-id kitchen_001] [--allowed production_training,fine_tuning]
"""

import argparse
import json
import os
import sys

MAX_BYTES = 64 << 20


def refuse_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--scene-id")
    parser.add_argument("--allowed", default="production_training,fine_tuning")
    parser.add_argument("--min", type=int, default=1)
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    allowed = set(args.allowed.split(","))
    hooks = {}
    if args.strict:
        hooks = {"object_pairs_hook": refuse_duplicates, "parse_constant": refuse_constant}

    total = 0
    by_use = {}
    failures = []
    try:
        entries = sorted(os.scandir(args.folder), key=lambda e: e.name)
    except FileNotFoundError:
        entries = []
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        path = os.path.join(entry.path, "quality_certificate.json")
        try:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size > MAX_BYTES:
                    failures.append(f"{entry.name}: too large")
                    total += 1
                    continue
                doc = json.load(f, **hooks)
        except FileNotFoundError:
            failures.append(f"{entry.name}: no quality_certificate.json in the episode folder")
            continue
        except (ValueError, UnicodeDecodeError) as e:
            failures.append(f"{entry.name}: malformed JSON: {e}")
            total += 1
            continue
        total += 1
        if not isinstance(doc, dict):
            failures.append(f"{entry.name}: expected a JSON object")
            continue
        problems = []
        episode_id = doc.get("episode_id")
        if not isinstance(episode_id, str) or episode_id != entry.name:
            problems.append(f"episode_id {episode_id!r} does not match its folder")
        if doc.get("validation_passed") is not True:
            problems.append(f"validation_passed is {doc.get('validation_passed')!r}")
        use = doc.get("recommended_use")
        if isinstance(use, str):
            by_use[use] = by_use.get(use, 0) + 1
            if use not in allowed:
                problems.append(f"recommended_use {use!r} is not allowed")
        else:
            problems.append(f"recommended_use is {use!r}")
        if args.scene_id is not None and doc.get("scene_id") != args.scene_id:
            problems.append(f"scene_id {doc.get('scene_id')!r} does not match {args.scene_id!r}")
        if problems:
            failures.append(f"{entry.name}: {'; '.join(problems)}")

    print(json.dumps({"certificates": total, "failed": len(failures), "by_recommended_use": by_use}))
    for failure in failures[:10]:
        print(failure)
    if total == 0 or total < args.min or failures:
        print("FAIL")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
