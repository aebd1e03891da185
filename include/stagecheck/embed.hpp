#pragma once
/// \file
/// The embedding API: run a spec in-process, e.g. as a pipeline job's preflight.
///
///     stagecheck::RunRequest req;
///     req.spec_file = "preflight.yaml";
///     req.vars = {{"scene_id", scene_id}};
///     req.root = "/mnt/bucket";  // or "s3://bucket/prefix", "gs://..." (see store_options)
///     stagecheck::RunOutcome out = stagecheck::run_spec(req);
///     if (!out.passed()) { std::cerr << out.summary() << "\n"; return 1; }  // refuse to work

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "stagecheck/chaos_injector.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/history.hpp"
#include "stagecheck/open_store.hpp"
#include "stagecheck/report.hpp"
#include "stagecheck/reporter.hpp"
#include "stagecheck/runner.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck {

/// What to run.
struct RunRequest {
  std::filesystem::path spec_file;  ///< The spec to load; or leave empty and set spec_text.
  std::string spec_text;            ///< A spec given as text (used when spec_file is empty).
  std::string spec_name = "<embedded spec>";  ///< Stands in for the file name in messages.
  std::map<std::string, std::string> vars;    ///< Like --var NAME=VALUE.
  /// What to validate: a local folder, `s3://BUCKET[/PREFIX]` or `gs://BUCKET[/PREFIX]`,
  /// opened with open_store() (ignored if `store` is set).
  std::filesystem::path root = ".";
  /// For a bucket `root`: endpoint, region, credentials or token, retries, the API of gs://.
  /// The environment is read only if `store_options.s3.env` (s3://) or `store_options.gcs.env`
  /// (gs://) is set (e.g. to process_environment()).
  StoreOptions store_options;
  Store* store = nullptr;  ///< A store of your own; must outlive the call. Written
                           ///< to only for a spec's on_failure marker.
  std::vector<std::filesystem::path> plugin_dirs;  ///< Like --plugin-dir.
  bool load_default_plugins = true;  ///< Also load the installed plugin folder if it exists.
  /// Check types already loaded (e.g. once for a batch of runs); must outlive the call, with
  /// the PluginLoader that filled it. When set, plugin_dirs and load_default_plugins are
  /// ignored.
  const Registry* registry = nullptr;
  RunOptions options;                ///< Jobs, limits, fail_on_warn, cancellation.
  std::vector<Reporter*> reporters;  ///< Receive results as the run goes (may be empty).
  /// Stress: run the spec this many times (plugins, spec and store set up once). Each
  /// iteration feeds the reporters; the outcome passes only if every iteration passed
  /// (Report::iterations). Stops early when the run is cancelled.
  unsigned iterations = 1;
  /// Chaos: inject transport-level faults into the store (ChaosStore), reproducibly from the
  /// seed; Report::chaos lists them. The verdict is then the clean run's, or 3.
  std::optional<ChaosOptions> chaos;
  /// Run history: when set, `drift` checks read it (unless options.history is set) and the run
  /// is recorded in it after it ends (Report::history). If it cannot be recorded,
  /// Report::history_error says why and the exit code is 3 unless the run failed. Must outlive
  /// the call; may be shared by concurrent calls.
  History* history = nullptr;
};

/// The verdict and the report.
struct STAGECHECK_API RunOutcome {
  /// 0 pass, 1 fail, 2 usage/spec/plugin error (nothing ran), 3 no verdict.
  ExitCode exit_code = ExitCode::usage;
  /// Why nothing ran (exit code 2); empty otherwise.
  std::string error;
  /// Errc::spec_error (messages carry file:line:column), Errc::plugin_error, or another code
  /// (e.g. the root cannot be opened) when nothing ran.
  Errc error_code = Errc::internal;
  /// The report; absent when nothing ran.
  std::optional<Report> report;

  /// True only for a clean pass (exit code 0).
  bool passed() const noexcept { return exit_code == ExitCode::pass; }
  /// One line for logs: the verdict and the counts, or the error.
  std::string summary() const;
};

/// Loads plugins, loads and validates the spec, binds variables, opens the store, runs every
/// stage and returns the verdict with the report. If the run failed and the spec has an
/// `on_failure.write_marker`, writes that marker atomically (exit code 3 if it cannot).
/// Never throws; errors before the run are exit code 2 with `error` set. Thread-safe as long
/// as requests share nothing mutable.
STAGECHECK_API RunOutcome run_spec(const RunRequest& request);

/// The quality-gate preflight of the scene pipeline's downstream consumers (training, import,
/// upsell): the gate report decides, the per-episode certificates decide only when the report
/// is absent. When it blocks, `scenes/<scene_id>/<consumer>/.failed` is written.
struct PreflightRequest {
  std::string scene_id;              ///< Required; empty or "unknown" is exit code 2.
  std::string consumer;              ///< Required, one path segment, e.g. "training".
  std::filesystem::path root = ".";  ///< Folder, s3:// or gs:// URI (ignored if `store` is set).
  StoreOptions store_options;        ///< For a bucket `root` (see RunRequest).
  Store* store = nullptr;
  std::vector<std::filesystem::path> plugin_dirs;
  bool load_default_plugins = true;  ///< The preflight needs the quality_gate and
                                     ///< certificate_fallback plugins.
  RunOptions options;
  std::vector<Reporter*> reporters;
  History* history = nullptr;  ///< Records the run (see RunRequest::history).
};

/// Runs the bundled preflight spec (preflight_spec()) for one scene and consumer.
STAGECHECK_API RunOutcome run_preflight(const PreflightRequest& request);

/// The bundled preflight spec's text (examples/blueprint/preflight.yaml at build time).
STAGECHECK_API std::string_view preflight_spec() noexcept;

}  // namespace stagecheck
