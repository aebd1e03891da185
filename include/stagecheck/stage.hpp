#pragma once
/// \file
/// Stage: one step of a pipeline, with its dependencies, skip rule and checks.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stagecheck/artifact_ref.hpp"
#include "stagecheck/check.hpp"
#include "stagecheck/condition.hpp"
#include "stagecheck/snapshot.hpp"
#include "stagecheck/source_mark.hpp"
#include "stagecheck/status.hpp"
#include "stagecheck/trigger.hpp"

namespace stagecheck {

/// `skip_if`: skip the stage when `condition` holds on `artifact`. An absent optional
/// artifact, or a field the condition needs that is absent, means "not skipped"; an artifact
/// that exists but cannot be parsed, or a type mismatch, fails the stage.
struct SkipRule {
  bool has_artifact = true;  ///< false: the condition uses variables only (`$name`).
  ArtifactRef artifact;
  Condition condition;
  SourceMark mark;
};

/// One check in a stage, ready to run.
struct StageCheck {
  std::string id;  ///< Full id "<stage>.<check>".
  std::string type;
  Severity severity = Severity::error;
  std::string description;
  std::string failure_code;  ///< The spec's `failure_code`: the result's code when it fails.
  SourceMark mark;
  std::shared_ptr<const Check> check;
  /// A `drift` check: the id of the check whose result it measures. The runner evaluates such
  /// checks after every other check of the run. Empty for every other check.
  std::string measures;
};

/// A stage of the spec. Immutable once loaded.
struct Stage {
  std::string id;
  std::string name;
  std::string description;
  std::vector<std::string> depends_on;
  std::optional<SkipRule> skip_if;
  /// Runs before the stage is validated, only with RunOptions::execute.
  std::optional<Trigger> trigger;
  /// Bounded wait for the trigger's markers (runs with or without a trigger).
  std::optional<StageWait> wait;
  /// Values recorded before the trigger and compared after it.
  std::vector<Snapshot> snapshots;
  /// Checks in spec order: input markers first, then expected artifacts, then `checks:`.
  std::vector<StageCheck> checks;
  SourceMark mark;
};

}  // namespace stagecheck
