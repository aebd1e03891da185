#!/usr/bin/env python3
"""Writes the good example scene: a bucket-shaped folder holding one production run of the
scene pipeline (40 episodes), in the formats of ../shared/reference/pipeline-artifacts.md.

    python3 examples/blueprint/make_scene.py examples/blueprint/scene

The output is deterministic; the repository ships it, so this is only needed to change it.
"""
import json
import os
import sys

SCENE = "kitchen_001"
JOB = "gsjob-7f3a21"
N = 40
TS = "2025-03-02T10:05:09Z"


def write(root, scene, rel, obj):
    path = os.path.join(root, "scenes", scene, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        if isinstance(obj, str):
            f.write(obj)
        else:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")


def score(i):
    return round(0.86 + (i * 7 % 13) / 100.0, 3)  # 0.86 .. 0.98


def main(root, scene=SCENE, n=N, job=JOB):
    """Writes scenes/<scene>/ under root: a good run of n episodes of Genie Sim job `job`."""
    def put(rel, obj):
        write(root, scene, rel, obj)

    ids = [f"episode_{i:06d}" for i in range(n)]
    scores = [score(i) for i in range(n)]
    avg = round(sum(scores) / n, 4)

    put("config.json", {"schema_version": "1.0", "scene_id": scene, "use_geniesim": True,
                                "robot_type": "franka", "episodes_per_task": 10, "bundle_tier": "pro"})
    for marker in ["variation_assets/.variation_pipeline_complete", "usd/.usd_complete",
                   "assets/.regen3d_complete"]:
        put(marker, "{}\n")
    put("geniesim/.geniesim_submitted", {"scene_id": scene, "status": "submitted",
          "timestamp": "2025-03-02T09:12:44Z", "job_id": job,
          "job_metadata_path": f"scenes/{scene}/geniesim/job.json"})
    put("geniesim/.geniesim_complete", {"scene_id": scene, "status": "completed",
          "timestamp": "2025-03-02T09:40:02Z", "robot_type": "franka", "commercial_only": True,
          "ready_for_geniesim": True})
    put("geniesim/job.json", {
        "job_id": job, "scene_id": scene, "status": "completed", "submitted_at": "2025-03-02T09:12:44Z",
        "generation_params": {"robot_type": "franka", "episodes_per_task": 10, "min_quality_score": 0.85},
        "job_metrics": {"status": "completed", "duration_seconds": 1598.2, "episodes_collected": n,
                        "episodes_passed": n, "quality_pass_rate": 1.0, "failure_reason": None},
        "artifacts": {"episodes_prefix": f"scenes/{scene}/episodes/",
                      "lerobot_prefix": f"scenes/{scene}/episodes/lerobot/"}})
    put("geniesim/.geniesim_import_complete", {"scene_id": scene, "job_id": job,
          "status": "completed", "timestamp": "2025-03-02T10:20:31Z"})
    put("episodes/.episodes_complete", {"scene_id": scene, "status": "completed",
          "timestamp": "2025-03-02T10:05:10Z", "physics_validated": True})
    put("dwm/.dwm_complete", {"scene_id": scene, "status": "completed",
          "timestamp": "2025-03-02T10:31:55Z"})

    episodes = []
    for i, (eid, s) in enumerate(zip(ids, scores)):
        episodes.append({"episode_id": eid, "status": "passed", "physics_backend": "isaac_sim",
                         "dev_only_fallback": False, "retry_count": 0, "can_retry": False,
                         "failure_reasons": [], "validation_errors": [],
                         "metrics": {"task_success": True, "grasp_success": True,
                                     "placement_success": True, "total_collisions": 0,
                                     "unexpected_collisions": 0, "camera_data_present": True,
                                     "gripper_transition_present": True, "overall_score": s,
                                     "total_duration": 12.5 + i % 5}})
    put("episodes/quality/validation_report.json", {
        "scene_id": scene,
        "summary": {"total_episodes": n, "passed": n, "failed": 0, "needs_retry": 0, "pass_rate": 1.0,
                    "average_score": avg, "min_score": min(scores), "max_score": max(scores),
                    "score_std": 0.037},
        "physics_validation": {"physx_used": True, "physx_episode_count": n,
                               "non_physx_episode_count": 0, "physics_backends": ["isaac_sim"]},
        "quality_distribution": {"excellent_0.9_1.0": sum(s >= 0.9 for s in scores),
                                 "good_0.7_0.9": sum(0.7 <= s < 0.9 for s in scores),
                                 "acceptable_0.5_0.7": 0, "poor_0.3_0.5": 0, "failed_0.0_0.3": 0},
        "failure_analysis": {"failure_counts": {}, "most_common_failure": None,
                             "total_collision_events": 0, "total_joint_limit_events": 0},
        "episodes": episodes})

    for eid, s in zip(ids, scores):
        use = "production_training" if s >= 0.90 else "fine_tuning"
        put(f"episodes/quality/episodes/{eid}/quality_certificate.json", {
            "episode_id": eid, "scene_id": scene, "task_id": "pick_mug", "generated_at": "2025-03-02T09:58:01Z",
            "pipeline_version": "1.0.0", "sensor_source": "isaac_sim_replicator", "physics_backend": "physx",
            "isaac_sim_version": None, "gpu_type": None, "data_quality_level": "production",
            "training_suitability": "production", "recommended_use": use, "overall_quality_score": s,
            "confidence_score": 1.0, "validation_passed": True, "validation_warnings": [],
            "validation_errors": [], "provenance_metrics": None, "frame_count": 240, "camera_count": 3,
            "partial_camera_coverage": False, "ee_coverage_ratio": 1.0,
            "data_hash": "9f2c" + eid[-6:],
            "trajectory_metrics": {"smoothness_score": 0.93, "collision_count": 0},
            "task_metrics": {"goal_achievement_score": 0.95}})

    put("episodes/dataset_quality_manifest.json", {
        "scene_id": scene, "generated_at": "2025-03-02T09:58:05Z",
        "episodes": [{"episode_id": eid, "task_name": "pick_mug", "quality_score": s,
                      "suitability": "production" if s >= 0.9 else "fine_tuning",
                      "sensor_backend": "isaac_sim_replicator", "physics_backend": "physx", "warnings": []}
                     for eid, s in zip(ids, scores)],
        "summary": {"total_episodes": n, "production": sum(s >= 0.9 for s in scores),
                    "fine_tuning": sum(s < 0.9 for s in scores), "dev_only": 0}})

    gates = [
        ("qg-6-episodes", "warning", f"{n} episodes generated, collision-free rate 1.00"),
        ("qg-11-episode-metadata", "error", "Episode metadata complete"),
        ("qg-6a-quality-score-sli", "error", f"Average quality score: {avg:.2f} (min 0.90)"),
        ("qg-6c-sensor-capture", "error", "Sensor capture rate 1.00 (min 0.95)"),
        ("qg-6d-physics-validation", "error", "Physics validation rate 1.00 (min 0.95)"),
        ("qg-6b-sim2real", "warning", "Sim2real metrics within range"),
        ("qg-12b-data-realness", "error", "Data realness 0.93 (min 0.70)"),
    ]
    put("episode-generation-job/quality_gate_report.json", {
        "report_version": "2.0", "scene_id": scene, "timestamp": TS,
        "required_checkpoints": ["episodes_generated"], "executed_checkpoints": ["episodes_generated"],
        "skipped_checkpoints": [], "skip_reasons": {},
        "summary": {"total_gates": len(gates), "passed": len(gates), "failed": 0, "blocking_failures": 0,
                    "can_proceed": True, "required_checkpoints": 1, "executed_checkpoints": 1,
                    "skipped_checkpoints": 0},
        "results": [{"gate_id": g, "checkpoint": "episodes_generated", "passed": True, "severity": sev,
                     "message": msg, "details": {}, "recommendations": [],
                     "requires_human_approval": False, "timestamp": TS} for g, sev, msg in gates]})

    manifest = {
        "schema_version": "1.3", "generated_at": "2025-03-02T10:20:30Z", "scene_id": scene, "run_id": job,
        "job_id": job, "status": "success", "success": True, "recordings_format": "json",
        "episodes": {"downloaded": n, "passed_validation": n, "filtered": 0, "excluded_failed_count": 0,
                     "excluded_failed_ids": [], "download_errors": 0, "parse_failed": 0, "min_required": 1},
        "quality": {"average_score": avg, "min_score": min(scores), "max_score": max(scores),
                    "threshold": 0.85, "validation_enabled": True},
        "lerobot": {"conversion_success": True, "converted_count": n, "skipped_episodes": 0,
                    "skip_rate_percent": 0.0, "conversion_failures": [], "required": True, "skip_rate_max": 0.0},
        "validation": {"episodes": {"total": n, "passed": n, "failed": 0}},
        "provenance": {"git_sha": "3c1e9a7", "pipeline_version": "1.0.0", "source": "genie_sim",
                       "job_id": job, "scene_id": scene, "importer": "import_from_geniesim", "client_mode": "local",
                       "config_snapshot": {"env": {"MIN_QUALITY_SCORE": "0.85", "ENABLE_VALIDATION": "true",
                                                   "FILTER_LOW_QUALITY": "true", "GENIESIM_VALIDATE_FRAMES": "1",
                                                   "GENIESIM_FAIL_ON_FRAME_VALIDATION": "1",
                                                   "LEROBOT_SKIP_RATE_MAX": "0"}}},
        "checksums_path": "checksums.json"}
    put("episodes/import_manifest.json", manifest)              # where the runbook reads it
    put(f"episodes/geniesim_{job}/import_manifest.json", manifest)  # where the pipeline writes it

    put("episodes/lerobot/meta/episodes.jsonl", "".join(
        json.dumps({"episode_index": i, "task_index": 0, "task": "pick_mug", "length": 240, "scene_id": scene,
                    "success": True, "quality_score": s, "is_mock": False, "split": "train",
                    "rgb_frames_expected_total": 720, "rgb_frames_written_total": 720,
                    "dropped_frames_total": 0}, sort_keys=True) + "\n" for i, s in enumerate(scores)))
    put("episodes/lerobot/meta/info.json", {
        "codebase_version": "v2.0", "robot_type": "franka", "fps": 30, "total_episodes": n,
        "total_frames": n * 240, "data_pack": {"tier": "plus"},
        "data_quality": {"physics_validated": True, "sensor_source": "isaac_sim_replicator",
                         "validation_type": "physx", "isaac_sim_used": True, "warnings": []},
        "lineage": {"quality_gates": {"bypass_enabled": False}}})

    put("production_validation.json", {
        "timestamp": "2025-03-02T09:00:00Z", "production_mode": True, "release_path_run": True, "ok": True,
        "errors": [], "warnings": [],
        "checks": {"quality_gate_policy": {"skip_requested": False}, "checkpoint_hashes": {"enabled": True}}})


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_scene.py OUT_DIR")
    main(sys.argv[1])
