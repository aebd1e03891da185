#!/usr/bin/env python3
"""Writes a small delivery of the scene pipeline's import job: a LeRobot bundle archive
(lerobot_bundle_<job>.tar.gz) and the import_manifest.json that describes it (package{path,
sha256, size_bytes, format, includes} and file_inventory[{path, size_bytes}], as in
pipeline-artifacts.md sections 4 and 7). Python 3 standard library only; the output is
byte-for-byte reproducible for a given zlib.

    python3 examples/dataset/make_delivery.py                   # rewrites examples/dataset/delivery
    python3 examples/dataset/make_delivery.py /tmp/d --variant pickle_disguised

Variants (each a delivery that `stagecheck run examples/dataset/delivery.yaml --root DIR` must
fail, with the member or field named), or `--list` to print them:
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

JOB_ID = "gsjob-7f3a21"
SCENE_ID = "kitchen_001"
BUNDLE = f"lerobot_bundle_{JOB_ID}.tar.gz"
MTIME = 1767225600  # 2026-01-01T00:00:00Z, so that the archive is reproducible

# A pickle of a call to os.system("id"), protocol 2: what np.load(allow_pickle=True) would run.
PICKLE = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."

VARIANTS = {
    "pickle_disguised": "lerobot/meta/stats.json is a pickle (listed in file_inventory)",
    "path_traversal": "a member named ../../outside.json",
    "symlink_out": "lerobot/meta/passwd is a symbolic link to ../../../etc/passwd",
    "npy_object": "lerobot/meta/episode_index.npy is a NumPy array of object dtype",
    "sha_mismatch": "package.sha256 does not match the archive",
    "missing_file": "file_inventory lists recordings/episode_000002.json, absent from the archive",
    "unlisted_file": "the archive holds lerobot/debug.log, absent from file_inventory",
    "truncated": "the archive is cut in half (package describes the cut file)",
    "no_sha256": "the manifest has no package.sha256",
}


def jdump(obj):
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def episode(i, score):
    frames = [{"frame": f, "timestamp": round(f / 30, 4), "action": [0.01 * f, 0.0, -0.01 * f]}
              for f in range(6)]
    return {"episode_id": f"episode_{i:06d}", "scene_id": SCENE_ID, "task_name": "pick_mug",
            "quality_score": score, "collision_count": 0, "frame_count": len(frames),
            "frames": frames}


def bundle_files():
    """The bundle's files, in archive order: (path, bytes)."""
    episodes = [episode(0, 0.93), episode(1, 0.91)]
    files = []
    for ep in episodes:
        files.append((f"recordings/{ep['episode_id']}.json", jdump(ep)))
    rows = [{"episode_id": ep["episode_id"], "num_frames": ep["frame_count"],
             "quality_score": ep["quality_score"], "validation_passed": True,
             "file": f"recordings/{ep['episode_id']}.json"} for ep in episodes]
    files.append(("lerobot/dataset_info.json", jdump({
        "schema_version": "1.0.0", "scene_id": SCENE_ID, "job_id": JOB_ID, "run_id": JOB_ID,
        "pipeline_commit": "0000000", "episodes": rows, "total_episodes": len(rows),
        "total_frames": sum(r["num_frames"] for r in rows), "skipped_episodes": 0,
        "skip_rate_percent": 0.0, "conversion_failures": [],
        "average_quality_score": 0.92, "source": "genie_sim",
        "converted_at": "2026-01-01T00:00:00Z"})))
    files.append(("lerobot/episodes.jsonl",
                  b"".join(json.dumps(r, sort_keys=True).encode() + b"\n" for r in rows)))
    files.append(("lerobot/meta/info.json", jdump({
        "codebase_version": "v2.0", "version": "2.0", "robot_type": "franka", "fps": 30,
        "total_episodes": 2, "total_frames": 12, "total_tasks": 1,
        "data_pack": {"tier": "core"}})))
    files.append(("lerobot/meta/tasks.jsonl", b'{"task": "pick mug", "task_index": 0}\n'))
    sums = {path: {"sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}
            for path, data in files}
    files.append(("checksums.json", jdump({"generated_at": "2026-01-01T00:00:00Z", "root": ".",
                                          "algorithm": "sha256", "files": sums})))
    return files


def npy_object():
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + PICKLE


def make_tar(files, links=()):
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            dirs = set()
            for path, data in files:
                parts = path.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    d = "/".join(parts[:i])
                    if d and d not in dirs and ".." not in parts[:i]:
                        dirs.add(d)
                        info = tarfile.TarInfo(d)
                        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
                        tar.addfile(info)
                info = tarfile.TarInfo(path)
                info.size, info.mode, info.mtime = len(data), 0o644, MTIME
                tar.addfile(info, io.BytesIO(data))
            for path, target in links:
                info = tarfile.TarInfo(path)
                info.type, info.linkname, info.mode, info.mtime = (tarfile.SYMTYPE, target,
                                                                   0o777, MTIME)
                tar.addfile(info)
    return raw.getvalue()


def build(variant):
    files = bundle_files()
    links = []
    unlisted = set()
    if variant == "pickle_disguised":
        files.append(("lerobot/meta/stats.json", PICKLE))
    elif variant == "path_traversal":
        files.append(("../../outside.json", b"{}\n"))
        unlisted.add("../../outside.json")
    elif variant == "symlink_out":
        links.append(("lerobot/meta/passwd", "../../../etc/passwd"))
    elif variant == "npy_object":
        files.append(("lerobot/meta/episode_index.npy", npy_object()))
    elif variant == "unlisted_file":
        files.append(("lerobot/debug.log", b"debug\n"))
        unlisted.add("lerobot/debug.log")
    archive = make_tar(files, links)
    if variant == "truncated":
        archive = archive[: len(archive) // 2]
    inventory = [{"path": p, "size_bytes": len(d)} for p, d in files if p not in unlisted]
    if variant == "missing_file":
        inventory.append({"path": "recordings/episode_000002.json", "size_bytes": 512})
    package = {"path": BUNDLE, "sha256": hashlib.sha256(archive).hexdigest(),
               "size_bytes": len(archive), "format": "tar.gz",
               "includes": ["lerobot", "recordings", "checksums.json"]}
    if variant == "sha_mismatch":
        package["sha256"] = hashlib.sha256(archive + b"x").hexdigest()
    if variant == "no_sha256":
        del package["sha256"]
    manifest = {
        "schema_version": "1.3", "generated_at": "2026-01-01T00:00:00Z", "scene_id": SCENE_ID,
        "run_id": JOB_ID, "job_id": JOB_ID, "status": "success", "success": True,
        "recordings_format": "json", "artifact_contract_version": "1.0",
        "checksums_path": "checksums.json",
        "episodes": {"downloaded": 2, "passed_validation": 2, "filtered": 0},
        "quality": {"average_score": 0.92, "min_score": 0.91, "max_score": 0.93,
                    "threshold": 0.85},
        "package": package, "file_inventory": inventory,
    }
    return archive, jdump(manifest)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default=os.path.join(here, "delivery"),
                        help="folder to write (default: examples/dataset/delivery)")
    parser.add_argument("--variant", choices=sorted(VARIANTS), help="write a broken delivery")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    args = parser.parse_args()
    if args.list:
        for name in sorted(VARIANTS):
            print(f"{name:18} {VARIANTS[name]}")
        return 0
    archive, manifest = build(args.variant)
    os.makedirs(args.out, exist_ok=True)
    for name, data in ((BUNDLE, archive), ("import_manifest.json", manifest)):
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
    print(f"wrote {args.out}/{BUNDLE} ({len(archive)} bytes) and import_manifest.json"
          + (f" [{args.variant}: {VARIANTS[args.variant]}]" if args.variant else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
