#pragma once
/// \file
/// Runner: evaluates every stage of a spec against a store.

#include <atomic>
#include <vector>

#include "stagecheck/artifact.hpp"
#include "stagecheck/chaos_injector.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/report.hpp"
#include "stagecheck/reporter.hpp"
#include "stagecheck/spec.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck {

class History;
class RunObserver;

/// How to run.
struct RunOptions {
  unsigned jobs = 0;          ///< Checks run at once; 0 means the number of cores.
  LoadLimits limits;          ///< Read cap and nesting limit for every artifact.
  bool fail_on_warn = false;  ///< Warnings make the exit code 1.
  /// Set (e.g. from a signal handler) to interrupt: checks not yet started become `error`
  /// "interrupted" and the exit code is 3 unless something already failed.
  const std::atomic<bool>* cancel = nullptr;
  /// Lets checks read this process's environment (e.g. `env_flags` with `source: process`).
  /// Only a job that embeds stagecheck and validates its own environment sets it; the driver
  /// never does, since its environment is not the pipeline's.
  bool allow_process_env = false;
  /// Runs the pipeline as well as validating it: each stage's `trigger` (a command, an HTTP
  /// request or an input marker), its bounded `wait` for the markers the work leaves, and its
  /// before/after `snapshots`. Without it (the default, and the driver's without `--execute`)
  /// those rows are `skipped` and stagecheck only reads.
  bool execute = false;
  /// Chaos at the probe layer: checks that reach live services ask it, through
  /// CheckContext::probe_fault, whether a request faults. Null: no chaos. Must outlive the run.
  const ChaosInjector* chaos = nullptr;
  /// The run's id (Report::run_id), e.g. to tie it to log lines written before it started.
  /// Empty: the runner makes a new one (new_run_id()).
  std::string run_id;
  /// Earlier runs, for `drift` checks (which are errors without one). Null: none. Must outlive
  /// the run. The runner only reads it; recording the run is the caller's (see History).
  const History* history = nullptr;
  /// Follow the run live (a progress monitor, structured logs): each hears every event, from
  /// worker threads too (see RunObserver). Not owned; each must outlive the run.
  std::vector<RunObserver*> observers;
};

/// Runs a spec. Evaluates every stage (never stops at the first failure); independent checks
/// run in parallel; results come out in spec order whatever the timing.
class STAGECHECK_API Runner {
 public:
  /// `spec` and `store` must outlive the runner. The store is only read: a `write_marker`
  /// trigger is an error row.
  Runner(const Spec& spec, const Store& store, RunOptions options);
  /// The same with a store that `write_marker` triggers may write to (only with `execute`).
  Runner(const Spec& spec, Store& store, RunOptions options);
  /// Runs once, feeding `reporters` (begin, each result in spec order, end).
  Report run(const std::vector<Reporter*>& reporters = {});

 private:
  const Spec& spec_;
  const Store& store_;
  Store* writable_ = nullptr;
  RunOptions options_;
};

}  // namespace stagecheck
