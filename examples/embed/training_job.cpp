// A downstream job (say, training) that refuses to start unless the scene it consumes passes
// the quality-gate preflight. It links stagecheck::core and runs the spec in-process.
//
//   training_job --root DIR --scene SCENE_ID --out FILE
//
// Exit codes follow stagecheck's: 0 the job ran, 1 the preflight failed, 2 usage or spec
// error, 3 the preflight could not reach a verdict. A `.failed` marker is never needed: the
// job simply does not produce its output.

#include <stagecheck/embed.hpp>

#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

namespace {

// The preflight, embedded in the job: the runbook's downstream criteria.
constexpr const char* kPreflight = R"(version: 1
name: training-preflight
vars:
  scene_id: {type: segment, required: true}
artifacts:
  gate: scenes/${scene_id}/episode-generation-job/quality_gate_report.json
stages:
  - id: preflight
    checks:
      - id: quality_gate
        type: json
        artifact: gate
        conditions:
          - summary.can_proceed == true
          - summary.blocking_failures == 0
          - count(results[*] where passed == false and severity == "error") == 0
      - id: no_failed_marker
        type: marker
        path: scenes/${scene_id}/episodes/.failed
        expect: absent
)";

}  // namespace

int main(int argc, char** argv) {
  std::string root, scene, out;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--root") == 0)
      root = argv[i + 1];
    else if (std::strcmp(argv[i], "--scene") == 0)
      scene = argv[i + 1];
    else if (std::strcmp(argv[i], "--out") == 0)
      out = argv[i + 1];
  }
  if (root.empty() || scene.empty() || out.empty()) {
    std::cerr << "usage: training_job --root DIR --scene SCENE_ID --out FILE\n";
    return 2;
  }

  stagecheck::RunRequest request;
  request.spec_text = kPreflight;
  request.spec_name = "training-preflight";
  request.vars = {{"scene_id", scene}};
  request.root = root;
  stagecheck::RunOutcome preflight = stagecheck::run_spec(request);

  std::cerr << preflight.summary() << "\n";
  if (!preflight.passed()) {
    if (preflight.report) {
      for (const auto& r : preflight.report->results) {
        if (r.status != stagecheck::Status::pass)
          std::cerr << "  " << r.id << ": " << r.message << "\n";
      }
    }
    std::cerr << "training_job: refusing to train on scene " << scene << "\n";
    return static_cast<int>(preflight.exit_code);
  }

  // The job's real work would start here.
  std::ofstream(out) << "training started for scene " << scene << "\n";
  std::cout << "training_job: preflight passed; wrote " << out << "\n";
  return 0;
}
