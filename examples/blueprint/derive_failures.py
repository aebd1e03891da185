#!/usr/bin/env python3
"""Derives failing (and a few passing) variants of the good example scene, one per criterion
of the runbook, and writes OUT/variants.json saying what stagecheck must report for each.

    python3 examples/blueprint/derive_failures.py examples/blueprint/scene OUT
    stagecheck run examples/blueprint/production_e2e.yaml --root OUT/low_pass_rate --var scene_id=kitchen_001

Each entry: name, what was broken, the expected exit code, the check that must show it, that
check's status, a text the check's message or artifacts must contain, and extra --var values.
"""
import json
import os
import shutil
import sys

SCENE = "kitchen_001"
S = f"scenes/{SCENE}"
VR = f"{S}/episodes/quality/validation_report.json"
GATE = f"{S}/episode-generation-job/quality_gate_report.json"
IMPORT = f"{S}/episodes/import_manifest.json"
CERTS = f"{S}/episodes/quality/episodes"


def load(root, rel):
    with open(os.path.join(root, rel)) as f:
        return json.load(f)


def save(root, rel, obj):
    with open(os.path.join(root, rel), "w") as f:
        json.dump(obj, f, indent=2)


def edit(rel, fn):
    def apply(root):
        doc = load(root, rel)
        fn(doc)
        save(root, rel, doc)
    return apply


def remove(rel):
    return lambda root: os.remove(os.path.join(root, rel))


def write_text(rel, text):
    def apply(root):
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    return apply


def set_path(doc, path, value):
    keys = path.split(".")
    for k in keys[:-1]:
        doc = doc[int(k)] if isinstance(doc, list) else doc[k]
    last = keys[-1]
    if isinstance(doc, list):
        doc[int(last)] = value
    else:
        doc[last] = value


def setv(rel, path, value):
    return edit(rel, lambda d: set_path(d, path, value))


def gate_blocked(doc):
    doc["summary"].update(passed=6, failed=1, blocking_failures=1, can_proceed=False)
    doc["results"][2].update(passed=False, message="Average quality score: 0.84 (min 0.90)")


def gate_lies(doc):
    doc["results"][4]["passed"] = False  # the summary still says 7 passed, can proceed


def cert_testing_far_down(root):
    os.remove(os.path.join(root, GATE))
    rel = f"{CERTS}/episode_000037/quality_certificate.json"
    doc = load(root, rel)
    doc["recommended_use"] = "testing"
    save(root, rel, doc)


def lerobot_is_mock(root):
    rel = f"{S}/episodes/lerobot/meta/episodes.jsonl"
    lines = open(os.path.join(root, rel)).read().splitlines()
    row = json.loads(lines[21])
    row["is_mock"] = True
    lines[21] = json.dumps(row, sort_keys=True)
    write_text(rel, "\n".join(lines) + "\n")(root)


def nan_in_report(root):
    text = open(os.path.join(root, VR)).read()
    write_text(VR, text.replace('"average_score": ', '"average_score": NaN, "x_": ', 1))(root)


def truncate(rel, keep=300):
    def apply(root):
        data = open(os.path.join(root, rel), "rb").read()[:keep]
        open(os.path.join(root, rel), "wb").write(data)
    return apply


def symlink_out_of_root(root):
    outside = os.path.join(os.path.dirname(root), "outside_validation_report.json")
    shutil.copy(os.path.join(root, VR), outside)
    os.remove(os.path.join(root, VR))
    os.symlink(outside, os.path.join(root, VR))


def bad_env(root):
    with open(os.path.join(root, "job.env"), "w") as f:
        f.write(open(os.path.join(os.path.dirname(__file__), "job.env")).read()
                .replace("ALLOW_MOCK_DATA=false", "ALLOW_MOCK_DATA=true"))


def no_geniesim(root):
    setv(f"{S}/config.json", "use_geniesim", False)(root)
    shutil.rmtree(os.path.join(root, S, "geniesim"))


def cert(n):
    return f"{CERTS}/episode_{n:06d}/quality_certificate.json"


# name, description, mutation, exit, check id, status, needle, extra vars
VARIANTS = [
    ("good", "the unmodified scene", None, 0, "quality_gate.gate_report", "pass", "7/7 gates passed", {}),
    ("missing_variation_marker", "no Genie Sim export trigger", remove(f"{S}/variation_assets/.variation_pipeline_complete"),
     1, "geniesim_export.inputs[0]", "fail", ".variation_pipeline_complete' is missing", {}),
    ("missing_geniesim_submitted", "no .geniesim_submitted", remove(f"{S}/geniesim/.geniesim_submitted"),
     1, "geniesim_export.expects[0]", "fail", ".geniesim_submitted' is missing", {}),
    ("missing_geniesim_complete", "no .geniesim_complete", remove(f"{S}/geniesim/.geniesim_complete"),
     1, "geniesim_export.expects[1]", "fail", ".geniesim_complete' is missing", {}),
    ("missing_job_json", "no geniesim/job.json", remove(f"{S}/geniesim/job.json"),
     1, "geniesim_export.expects[2]", "fail", "geniesim/job.json' is missing", {}),
    ("missing_usd_marker", "no episode generation trigger", remove(f"{S}/usd/.usd_complete"),
     1, "episode_generation.inputs[0]", "fail", "usd/.usd_complete' is missing", {}),
    ("missing_episodes_complete", "no .episodes_complete", remove(f"{S}/episodes/.episodes_complete"),
     1, "episode_generation.expects[0]", "fail", ".episodes_complete' is missing", {}),
    ("missing_validation_report", "no validation_report.json", remove(VR),
     1, "episode_generation.expects[1]", "fail", "validation_report.json' is missing", {}),
    ("low_pass_rate", "pass rate 0.85 < 0.90", setv(VR, "summary.pass_rate", 0.85),
     1, "episode_generation.validation_thresholds", "fail", "summary.pass_rate = 0.85", {}),
    ("low_average_score", "average score 0.80 < 0.85", setv(VR, "summary.average_score", 0.80),
     1, "episode_generation.validation_thresholds", "fail", "summary.average_score = 0.8", {}),
    ("physx_not_used", "physx_used false", setv(VR, "physics_validation.physx_used", False),
     1, "episode_generation.validation_thresholds", "fail", "physics_validation.physx_used = false", {}),
    ("non_physx_episodes", "2 non-PhysX episodes", setv(VR, "physics_validation.non_physx_episode_count", 2),
     1, "episode_generation.validation_thresholds", "fail", "non_physx_episode_count = 2", {}),
    ("string_boolean", 'physx_used is the string "true"', setv(VR, "physics_validation.physx_used", "true"),
     1, "episode_generation.validation_thresholds", "fail", 'string "true"', {}),
    ("nan_in_report", "a NaN in validation_report.json", nan_in_report,
     1, "episode_generation.validation_thresholds", "fail", "malformed JSON", {}),
    ("symlink_out_of_root", "validation_report.json is a symlink out of the root", symlink_out_of_root,
     1, "episode_generation.validation_thresholds", "fail", "outside the root", {}),
    ("failed_marker_present", "an episodes/.failed marker", write_text(f"{S}/episodes/.failed", '{"status": "failed"}\n'),
     1, "episode_generation.no_failed_marker", "fail", "must be absent", {}),
    ("quality_tier_full", "average 0.92 under the full tier's 0.95", None,
     1, "episode_generation.tier_thresholds", "fail", "summary.average_score", {"quality_tier": "full"}),
    ("gate_blocked", "the gate report blocks (can_proceed false)", edit(GATE, gate_blocked),
     1, "quality_gate.gate_report", "fail", "qg-6a-quality-score-sli", {}),
    ("gate_summary_lies", "a failed error gate under a summary that says proceed", edit(GATE, gate_lies),
     1, "quality_gate.gate_report", "fail", "qg-6d-physics-validation", {}),
    ("gate_truncated", "a truncated gate report", truncate(GATE),
     1, "quality_gate.gate_report", "fail", "quality_gate_report.json", {}),
    ("no_gate_certificates_ok", "no gate report; every certificate allows production use", remove(GATE),
     0, "quality_gate.certificate_fallback", "pass", "40", {}),
    ("no_gate_certificate_testing", "no gate report; episode 37 of 40 is for testing only", cert_testing_far_down,
     1, "quality_gate.certificate_fallback", "fail", "episode_000037", {}),
    ("dev_only_fallback", "episode 33 used the dev-only heuristic fallback",
     setv(VR, "episodes.33.dev_only_fallback", True),
     1, "mock_detection.indicators", "fail", "episodes[33].dev_only_fallback", {}),
    ("heuristic_backend", "episode 12 ran on the heuristic backend", setv(VR, "episodes.12.physics_backend", "heuristic"),
     1, "mock_detection.indicators", "fail", "episodes[12].physics_backend", {}),
    ("certificate_mock_sensor", "episode 29's certificate has a mock sensor",
     setv(cert(29), "sensor_source", "mock"),
     1, "mock_detection.indicators", "fail", "episode_000029", {}),
    ("lerobot_is_mock", "LeRobot episode 21 is_mock", lerobot_is_mock,
     1, "mock_detection.indicators", "fail", "is_mock", {}),
    ("missing_import_complete", "no .geniesim_import_complete", remove(f"{S}/geniesim/.geniesim_import_complete"),
     1, "geniesim_import.expects[0]", "fail", ".geniesim_import_complete' is missing", {}),
    ("import_average_low", "import average 0.80", setv(IMPORT, "quality.average_score", 0.80),
     1, "geniesim_import.import_quality", "fail", "quality.average_score = 0.8", {}),
    ("threshold_mismatch", "import ran with threshold 0.80, not 0.85", setv(IMPORT, "quality.threshold", 0.80),
     1, "geniesim_import.import_quality", "fail", "quality.threshold = 0.8", {}),
    ("threshold_string", 'quality.threshold is the string "0.85"', setv(IMPORT, "quality.threshold", "0.85"),
     1, "geniesim_import.import_quality", "fail", 'string "0.85"', {}),
    ("zero_passed_validation", "no episode passed import validation", setv(IMPORT, "episodes.passed_validation", 0),
     1, "geniesim_import.import_quality", "fail", "episodes.passed_validation = 0", {}),
    ("lerobot_skip_rate", "2.5% of episodes skipped in LeRobot conversion", setv(IMPORT, "lerobot.skip_rate_percent", 2.5),
     1, "geniesim_import.lerobot_conversion", "fail", "lerobot.skip_rate_percent = 2.5", {}),
    ("import_marker_wrong_job", ".geniesim_import_complete names another job",
     setv(f"{S}/geniesim/.geniesim_import_complete", "job_id", "gsjob-000000"),
     1, "geniesim_import.import_marker_matches_job", "fail", "gsjob-000000", {}),
    ("submitted_marker_wrong_job", ".geniesim_submitted names another job",
     setv(f"{S}/geniesim/.geniesim_submitted", "job_id", "gsjob-000000"),
     1, "geniesim_export.submitted_marker_matches_job", "fail", "gsjob-000000", {}),
    ("missing_regen3d_marker", "no DWM trigger", remove(f"{S}/assets/.regen3d_complete"),
     1, "dwm_preparation.inputs[0]", "fail", ".regen3d_complete' is missing", {}),
    ("missing_dwm_complete", "no .dwm_complete", remove(f"{S}/dwm/.dwm_complete"),
     1, "dwm_preparation.expects[0]", "fail", ".dwm_complete' is missing", {}),
    ("production_validation_not_ok", "production_validation.json says ok false",
     setv(f"{S}/production_validation.json", "ok", False),
     1, "production_config.production_validation", "fail", "ok = false", {}),
    ("production_validation_required", "production_validation.json missing although required",
     remove(f"{S}/production_validation.json"),
     1, "production_validation_required.expects[0]", "fail", "production_validation.json' is missing",
     {"require_production_validation": "true"}),
    ("mock_flag_in_job_env", "the job ran with ALLOW_MOCK_DATA=true", bad_env,
     1, "production_config.job_flags", "fail", "ALLOW_MOCK_DATA", {"job_env": "@VARIANT@/job.env"}),
    ("use_geniesim_false", "Genie Sim disabled: export and import are skipped, episodes and DWM run", no_geniesim,
     0, "geniesim_import.import_quality", "skipped", "geniesim_export", {}),
    ("use_geniesim_string", 'use_geniesim is the string "false"', setv(f"{S}/config.json", "use_geniesim", "false"),
     1, "geniesim_export.skip_if", "fail", 'string "false"', {}),
    ("pipeline_manifest_path", "the import manifest read where the pipeline writes it", None,
     0, "geniesim_import.import_quality", "pass", "geniesim_gsjob-7f3a21/import_manifest.json",
     {"import_manifest_path": "episodes/geniesim_gsjob-7f3a21/import_manifest.json"}),
]


def main(scene, out):
    os.makedirs(out, exist_ok=True)
    manifest = []
    for name, what, mutate, code, check, status, needle, extra in VARIANTS:
        dest = os.path.join(out, name)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(scene, dest, symlinks=True)
        if mutate is not None:
            mutate(dest)
        extra = {k: v.replace("@VARIANT@", dest) for k, v in extra.items()}
        manifest.append({"name": name, "description": what, "root": dest, "exit_code": code,
                         "check": check, "status": status, "needle": needle, "vars": extra})
    with open(os.path.join(out, "variants.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"{len(manifest)} variants in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: derive_failures.py SCENE_DIR OUT_DIR")
    main(sys.argv[1], sys.argv[2])
