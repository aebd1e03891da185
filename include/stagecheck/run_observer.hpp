#pragma once
/// \file
/// RunObserver: follows a run live, event by event, in completion order (a live progress
/// display, structured logs). Unlike a Reporter, which receives results in spec order once a
/// stage is done, an observer hears of each check as it starts and finishes.

#include <string>
#include <string_view>
#include <vector>

#include "stagecheck/check_result.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/report.hpp"
#include "stagecheck/reporter.hpp"

namespace stagecheck {

/// Receives a run's events as they happen. Every method has an empty default: override what
/// you need.
///
/// Thread safety: on_check_start, on_artifact_read and on_check_finish are called from the
/// runner's worker threads, concurrently with each other and with the other events; an
/// implementation must synchronise its own state. on_run_start, on_stage_start,
/// on_stage_finish and on_run_finish are called from the thread that called Runner::run.
/// Methods must return quickly (they are on the checks' path) and should not throw: an
/// exception is caught and dropped by the runner.
///
/// Secrets: on_run_start gets the values of the spec's secret variables. Check messages and
/// paths may contain them (a message may quote an artifact's content): an observer that writes
/// anything must pass its text through redact_secrets() first.
class STAGECHECK_API RunObserver {
 public:
  virtual ~RunObserver();
  /// The run begins. `secret_values`: the bound values of the spec's `secret: true` variables
  /// (as text), never to be written anywhere.
  virtual void on_run_start(const RunInfo& info, const std::vector<std::string>& secret_values);
  /// A stage is about to be decided (dependencies, skip_if) and run.
  virtual void on_stage_start(std::string_view stage_id);
  /// A stage is done: its status and duration (every row of it has had on_check_finish).
  virtual void on_stage_finish(const StageResult& stage);
  /// A check (or a trigger, wait or snapshot row) starts to run. Rows that never run (a
  /// blocked or skipped stage's) get no start, only a finish.
  virtual void on_check_start(std::string_view stage_id, std::string_view check_id,
                              std::string_view type);
  /// A running check resolved an artifact path and is about to read it (once per path and
  /// check evaluation).
  virtual void on_artifact_read(std::string_view stage_id, std::string_view check_id,
                                std::string_view path);
  /// A row of the report is final. Called exactly once for each row of the report, in
  /// completion order.
  virtual void on_check_finish(const CheckResult& result);
  /// The run is done (called before the reporters' end()).
  virtual void on_run_finish(const Report& report);
};

/// `text` with every occurrence of each non-empty value in `secret_values` replaced by `***`.
STAGECHECK_API std::string redact_secrets(std::string text,
                                          const std::vector<std::string>& secret_values);

}  // namespace stagecheck
