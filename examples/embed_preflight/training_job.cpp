// A training job for one scene. Before it touches the episodes it runs the same quality-gate
// preflight as `stagecheck preflight --consumer training`, in-process. When the preflight
// blocks, stagecheck has already written scenes/<scene>/training/.failed; the job says why
// and exits with the preflight's code without training.
//
//   train --bucket DIR --scene SCENE_ID

#include <stagecheck/embed.hpp>

#include <cstring>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  std::string bucket, scene;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--bucket") == 0) bucket = argv[i + 1];
    if (std::strcmp(argv[i], "--scene") == 0) scene = argv[i + 1];
  }
  if (bucket.empty()) {
    std::cerr << "usage: train --bucket DIR --scene SCENE_ID\n";
    return 2;
  }

  stagecheck::PreflightRequest preflight;
  preflight.root = bucket;
  preflight.scene_id = scene;  // empty or "unknown" is refused (exit code 2), never skipped
  preflight.consumer = "training";
  stagecheck::RunOutcome outcome = stagecheck::run_preflight(preflight);

  std::cerr << outcome.summary() << "\n";
  if (!outcome.passed()) {
    if (outcome.report && !outcome.report->failure_marker.empty()) {
      std::cerr << "train: preflight blocked; see " << outcome.report->failure_marker << "\n";
    }
    std::cerr << "train: not training on scene '" << scene << "'\n";
    return static_cast<int>(outcome.exit_code);
  }
  std::cout << "train: preflight passed; training on scene " << scene << "\n";
  return 0;
}
