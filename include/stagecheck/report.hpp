#pragma once
/// \file
/// Report: the outcome of a run, and the exit-code rule every verb shares.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/chaos_injector.hpp"
#include "stagecheck/check_result.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/iteration.hpp"
#include "stagecheck/status.hpp"

namespace stagecheck {

/// Exit codes (see the README's table).
enum class ExitCode : int {
  pass = 0,        ///< Something was evaluated; nothing failed or could not be evaluated.
  fail = 1,        ///< At least one check failed. Takes precedence over no_verdict.
  usage = 2,       ///< Usage, spec or plugin error, before anything ran.
  no_verdict = 3,  ///< Nothing failed but something could not be evaluated, nothing was
                   ///< evaluated at all, or the run was interrupted.
};

/// The status of one stage.
struct StageResult {
  std::string id;
  std::string name;
  Status status = Status::pass;  ///< pass, fail, warn, skipped, blocked or error.
  std::string reason;            ///< Why skipped/blocked, empty otherwise.
  double duration_ms = 0.0;
};

/// Counts per status.
struct Summary {
  std::size_t total = 0, pass = 0, fail = 0, warn = 0, skipped = 0, blocked = 0, error = 0;
  /// Checks that reached a verdict (pass, fail or warn).
  std::size_t evaluated() const noexcept { return pass + fail + warn; }
};

/// Everything a reporter needs at the end of a run.
struct STAGECHECK_API Report {
  static constexpr int kReportVersion = 1;
  std::string tool_version;
  /// Identifies this run in logs, history, metrics and alerts (RunOptions::run_id, or a new
  /// random id).
  std::string run_id;
  std::string spec_name;
  std::string spec_source;
  std::string spec_hash;
  std::string root;
  nlohmann::json vars;     ///< Redacted bound variables.
  std::string started_at;  ///< RFC 3339 UTC.
  double duration_ms = 0.0;
  bool fail_on_warn = false;
  bool interrupted = false;
  std::vector<StageResult> stages;
  std::vector<CheckResult> results;  ///< In spec order.
  Summary summary;
  ExitCode exit_code = ExitCode::no_verdict;
  /// The spec's on_failure marker: where it was written, or why it could not be (then the
  /// exit code is 3: the failure could not be recorded). Both empty when none was due.
  std::string failure_marker;
  std::string failure_marker_error;
  /// The run history it was recorded in (History::describe()), and why it could not be
  /// recorded (then the exit code is 3 unless the run failed). Both empty without a history.
  std::string history;
  std::string history_error;
  /// A stress run (more than one iteration): every iteration in order, which one `results`
  /// come from, and warnings about stagecheck's own growth (memory, descriptors). Empty for a
  /// single run.
  std::vector<Iteration> iterations;
  unsigned results_iteration = 0;
  std::vector<std::string> stress_warnings;
  /// With `--chaos`: every fault injected into the store and what became of it.
  std::optional<ChaosReport> chaos;

  /// "pass", "fail" or "no_verdict".
  std::string_view verdict() const noexcept;
};

/// A new random run id: 32 lowercase hex digits (128 bits from the system's random source).
STAGECHECK_API std::string new_run_id();

/// Counts statuses.
STAGECHECK_API Summary summarize(const std::vector<CheckResult>& results) noexcept;
/// The exit-code rule: 1 if anything failed (or warned with fail_on_warn); else 3 if anything
/// could not be evaluated, nothing was evaluated, or the run was interrupted; else 0.
STAGECHECK_API ExitCode compute_exit_code(const Summary& summary, bool fail_on_warn,
                                          bool interrupted) noexcept;

}  // namespace stagecheck
