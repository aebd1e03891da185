#pragma once
/// \file
/// CheckContext: what a running check may use. One context per check evaluation.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "stagecheck/artifact.hpp"
#include "stagecheck/artifact_ref.hpp"
#include "stagecheck/check_result.hpp"
#include "stagecheck/condition.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/path_template.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck {

class History;

/// Services for one evaluation of one check. Loads are cached across the whole run (an
/// artifact read by ten checks is read and parsed once) and every path resolved through the
/// context is recorded as "read" in the check's result. Used by one thread at a time.
class STAGECHECK_API CheckContext {
 public:
  virtual ~CheckContext();

  /// The store being validated (read-only).
  virtual const Store& store() const = 0;
  /// The run's load limits.
  virtual const LoadLimits& limits() const = 0;
  /// A bound spec variable, or nullptr.
  virtual const nlohmann::json* var(std::string_view name) const = 0;
  /// Expands a template to a store path (reading other artifacts as needed).
  virtual Result<std::string> resolve(const PathTemplate& path) = 0;
  /// Resolves an artifact reference to an Artifact bound to the store; records its path.
  virtual Result<Artifact> artifact(const ArtifactRef& ref) = 0;
  /// Loads and parses an artifact (cached for the run); records its path.
  virtual Result<std::shared_ptr<const nlohmann::json>> load(const ArtifactRef& ref) = 0;
  /// Loads and parses a store path in `format` (cached for the run); records the path.
  virtual Result<std::shared_ptr<const nlohmann::json>> load_path(const std::string& path,
                                                                  Format format) = 0;
  /// The environment for Condition::evaluate: spec vars and `@artifact` operands.
  virtual EvalEnv eval_env() = 0;
  /// Records a path this check read (or tried to read).
  virtual void record_artifact(std::string path) = 0;
  /// True once the run has been interrupted; long checks should stop and return error.
  virtual bool cancelled() const = 0;
  /// The number of threads a check may use for its own parallel work (--jobs).
  virtual unsigned jobs() const = 0;
  /// True if RunOptions::allow_process_env was set by an embedding job.
  virtual bool process_env_allowed() const = 0;
  /// Chaos at the probe layer (`--chaos`): a check calls this before each request it makes to
  /// a live service (`service`: e.g. "prometheus"; `target`: the URL or host, without
  /// credentials) and, when it returns an error, treats it exactly as its client's own
  /// transport error (the check could not be evaluated). Retries are already accounted for.
  /// Always empty without `--chaos`.
  virtual std::optional<Error> probe_fault(std::string_view service, std::string_view target);
  /// The final result of another check of this run ("<stage>.<check>"), or nullptr when there
  /// is no such check or its result is not final yet. Results become final stage by stage; a
  /// `drift` check, which runs after every other check of the run, sees them all. The pointer
  /// stays valid for the rest of this check's run().
  virtual const CheckResult* result_of(std::string_view check_id) const;
  /// The run's history (RunOptions::history, `--history URL`), or nullptr without one.
  virtual const History* history() const;
  /// This run's key in the history: history_key(spec name, redacted vars). Empty without a
  /// history.
  virtual std::string history_key() const;
};

}  // namespace stagecheck
