#pragma once
/// \file
/// Batch runs: one spec over many scenes (`scenes/<id>/` under a root), bound to each scene's
/// `scene_id`, in parallel, with a deterministic shard of the scenes per process and a merge
/// of the shards' reports.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/export.hpp"
#include "stagecheck/history.hpp"
#include "stagecheck/open_store.hpp"
#include "stagecheck/report.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/runner.hpp"
#include "stagecheck/s3_store.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck {

/// One share of a batch: the scenes whose shard_of(id, count) is `index`.
struct Shard {
  unsigned index = 0;  ///< From 0.
  unsigned count = 1;  ///< At least 1; index < count.
  /// Where it came from: "--shard", "slurm" (SLURM_ARRAY_TASK_*) or "kubernetes"
  /// (JOB_COMPLETION_INDEX, STAGECHECK_SHARD_COUNT).
  std::string source = "--shard";
};

/// The shard a scene belongs to: FNV-1a 64 of the id's bytes, modulo `count`. Depends on the
/// id alone, so adding or removing other scenes never moves a scene to another shard.
STAGECHECK_API unsigned shard_of(std::string_view scene_id, unsigned count) noexcept;

/// Parses "I/N" (0 <= I < N).
STAGECHECK_API Result<Shard> parse_shard(std::string_view text);

/// The shard given by a Slurm array task (I = SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN,
/// N = SLURM_ARRAY_TASK_COUNT) or a Kubernetes Indexed Job (I = JOB_COMPLETION_INDEX,
/// N = STAGECHECK_SHARD_COUNT), in that order; std::nullopt when neither is there. A partial or
/// inconsistent set of variables is an error naming them.
STAGECHECK_API Result<std::optional<Shard>> shard_from_environment(const EnvLookup& env);

/// Which scenes a batch validates.
struct SceneSelection {
  bool all = true;               ///< Every folder under `scenes/`.
  std::vector<std::string> ids;  ///< Otherwise these (each once, in the order given).
  std::string text;              ///< As given ("all", "a,b", "@FILE"), for the report.
};

/// Parses `all`, `ID,ID,...` or `@FILE` (one id a line; blank lines and `#` comments
/// ignored). Each id must be one path segment. Reads FILE.
STAGECHECK_API Result<SceneSelection> parse_scene_selection(std::string_view text);

/// One scene's outcome in a batch.
struct STAGECHECK_API SceneVerdict {
  std::string scene_id;
  ExitCode exit_code = ExitCode::no_verdict;  ///< pass, fail or no_verdict.
  Summary summary;                            ///< The scene's check counts.
  std::vector<std::string> failed;            ///< Ids of the checks that failed.
  std::vector<std::string> unevaluated;       ///< Ids of the checks that could not be evaluated.
  std::string error;                          ///< Why the scene did not run (e.g. its id was
                                              ///< refused by the spec); empty if it ran.
  std::string failure_marker;                 ///< The spec's on_failure marker, if written.
  double duration_ms = 0.0;

  /// "pass", "fail" or "no_verdict".
  std::string_view verdict() const noexcept;
};

/// A shard report that went into a merge.
struct MergedShard {
  std::string source;  ///< The file or object it was read from.
  std::optional<Shard> shard;
  ExitCode exit_code = ExitCode::no_verdict;
  std::size_t scenes = 0;
};

/// The outcome of a batch (or of a merge of shard batches).
struct STAGECHECK_API BatchReport {
  std::string tool_version;
  std::string spec_name, spec_source, spec_hash;
  std::string root;
  nlohmann::json vars = nlohmann::json::object();  ///< Bound variables but scene_id, redacted.
  std::string selection;                           ///< SceneSelection::text.
  std::optional<Shard> shard;                      ///< This process's share; none if whole.
  /// The whole scene set before sharding: its size and an order-independent digest of its
  /// ids, so that a merge can tell whether its shards saw the same scenes.
  std::size_t set_count = 0;
  std::string set_digest;
  std::string started_at;
  double duration_ms = 0.0;
  bool interrupted = false;
  std::vector<SceneVerdict> scenes;  ///< Sorted by scene id.
  ExitCode exit_code = ExitCode::no_verdict;
  /// Why there is no verdict beyond the scenes' own (e.g. no scene found); empty otherwise.
  std::string message;
  /// A merge: the shard reports it read, and every missing, duplicated or foreign shard
  /// (which makes the exit code 3).
  std::vector<MergedShard> merged_from;
  std::vector<std::string> problems;

  /// "pass", "fail" or "no_verdict".
  std::string_view verdict() const noexcept;
  /// Scenes with this exit code, in id order.
  std::vector<std::string> scenes_with(ExitCode code) const;
};

/// The batch exit-code rule: any scene failed: 1; else any scene without a verdict, no scene
/// at all, an interruption or a problem: 3; else 0. Problems (a merge) make it 3 even when a
/// scene failed: an incomplete set of shards is not the batch's verdict.
STAGECHECK_API ExitCode batch_exit_code(const BatchReport& report) noexcept;

/// What to run.
struct BatchRequest {
  std::filesystem::path spec_file;          ///< Must declare a `scene_id` variable.
  std::map<std::string, std::string> vars;  ///< Like --var; never scene_id.
  std::filesystem::path root = ".";         ///< A folder or s3://BUCKET[/PREFIX].
  StoreOptions store_options;               ///< For a bucket root.
  Store* store = nullptr;                   ///< A store of your own (then `root` is ignored).
  std::vector<std::filesystem::path> plugin_dirs;
  bool load_default_plugins = true;
  RunOptions options;       ///< Each scene's run options (jobs: checks at once per scene).
  unsigned scene_jobs = 0;  ///< Scenes at once; 0 means the number of cores.
  SceneSelection scenes;
  std::optional<Shard> shard;  ///< This process's share; none for every scene.
  /// Called once per finished scene, one call at a time, in completion order.
  std::function<void(const SceneVerdict&)> on_scene;
  /// Called with each scene's whole report when the scene ran, just before its on_scene, one
  /// call at a time (e.g. to alert on a failing scene).
  std::function<void(const Report&)> on_scene_report;
  /// Records each scene's run (see RunRequest::history); a scene that cannot be recorded has
  /// no verdict unless it failed. Must outlive the call.
  History* history = nullptr;
};

/// The verdict and the report of a batch.
struct BatchOutcome {
  ExitCode exit_code = ExitCode::usage;
  std::string error;  ///< Why nothing ran (exit code 2, or 3 when the store failed).
  Errc error_code = Errc::internal;
  std::optional<BatchReport> report;  ///< Absent when nothing ran.
};

/// Loads plugins once and validates the spec, lists `scenes/*/` in the store (streamed), and
/// runs the spec once per selected scene of this shard with `scene_id` bound, `scene_jobs` at
/// once, sharing the store and the plugins. At most `2 * scene_jobs` scenes are queued or in
/// flight, so memory follows the work in flight, not the number of scenes. An id in
/// `scenes.ids` with no folder is exit code 2 before anything runs. Never throws.
STAGECHECK_API BatchOutcome run_batch(const BatchRequest& request);

/// The batch report as JSON (`report_version` 1, `kind` "batch"); field reference in the
/// README.
STAGECHECK_API nlohmann::json batch_report_to_json(const BatchReport& report);

/// Reads a batch report back (for a merge); the error names `source` and the field.
STAGECHECK_API Result<BatchReport> batch_report_from_json(const nlohmann::json& json,
                                                          std::string_view source);

/// A shard report to merge, or why it could not be read.
struct MergeInput {
  std::string source;                 ///< File or object name, for messages.
  std::optional<BatchReport> report;  ///< Absent if it could not be read or parsed.
  std::string error;                  ///< Why it is absent.
};

/// Merges shard reports into one batch report. Every unreadable, duplicated, missing or
/// foreign shard (another spec hash, shard count, selection, variables or scene set), and
/// every scene found in two shards or in the wrong one, is a problem naming it.
STAGECHECK_API BatchReport merge_batch_reports(const std::vector<MergeInput>& inputs);

}  // namespace stagecheck
