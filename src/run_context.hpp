#pragma once
// Internal: the run-wide artifact cache and the per-check CheckContext implementation.

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "stagecheck/chaos_injector.hpp"
#include "stagecheck/check_context.hpp"
#include "stagecheck/run_observer.hpp"
#include "stagecheck/spec.hpp"

namespace stagecheck::detail {

using Doc = std::shared_ptr<const nlohmann::json>;

/// Shared by every check of one run. Each artifact is read and parsed once, even when many
/// checks on many threads ask for it at the same moment.
class RunState {
 public:
  RunState(const Spec& spec, const Store& store, LoadLimits limits, const std::atomic<bool>* cancel,
           unsigned jobs, bool allow_process_env, const ChaosInjector* chaos = nullptr)
      : spec_(spec),
        store_(store),
        limits_(limits),
        cancel_(cancel),
        jobs_(jobs),
        allow_process_env_(allow_process_env),
        chaos_(chaos) {}

  const Spec& spec() const { return spec_; }
  const Store& store() const { return store_; }
  const LoadLimits& limits() const { return limits_; }
  bool cancelled() const { return cancel_ != nullptr && cancel_->load(std::memory_order_relaxed); }
  unsigned jobs() const { return jobs_; }
  bool allow_process_env() const { return allow_process_env_; }
  const ChaosInjector* chaos() const { return chaos_; }
  /// The run's observers (RunOptions::observers); set before any check runs.
  void set_observers(const std::vector<RunObserver*>& observers) { observers_ = observers; }
  /// Calls `f(observer)` for each observer; an exception from one is dropped.
  template <typename F>
  void notify(F&& f) const {
    for (RunObserver* o : observers_) {
      try {
        f(*o);
      } catch (...) {  // NOLINT(bugprone-empty-catch): an observer never breaks the run
      }
    }
  }
  bool observed() const { return !observers_.empty(); }

  /// Loads `path` as `format` with a read cap, once per (path, format, cap).
  /// With `fresh`, reads anew and caches nothing.
  Result<Doc> load(const std::string& path, Format format, std::uint64_t max_bytes,
                   bool fresh = false);
  /// The run's history and this run's key in it (for `drift` checks).
  void set_history(const History* history, std::string key) {
    history_ = history;
    history_key_ = std::move(key);
  }
  const History* history() const { return history_; }
  const std::string& history_key() const { return history_key_; }
  /// Makes a final result visible to CheckContext::result_of. Called by the runner's thread
  /// only, between phases (never while checks run): readers need no lock. `result` must stay
  /// where it is for the rest of the run.
  void publish(const CheckResult& result) { results_[result.id] = &result; }
  const CheckResult* result_of(std::string_view id) const {
    auto it = results_.find(id);
    return it == results_.end() ? nullptr : it->second;
  }

  /// Forgets every document read so far (after a trigger, the pipeline may have rewritten
  /// them). Documents already handed out stay valid.
  void forget_cached();

 private:
  const Spec& spec_;
  const Store& store_;
  LoadLimits limits_;
  const std::atomic<bool>* cancel_;
  unsigned jobs_;
  bool allow_process_env_;
  const ChaosInjector* chaos_;
  std::vector<RunObserver*> observers_;
  const History* history_ = nullptr;
  std::string history_key_;
  std::map<std::string, const CheckResult*, std::less<>> results_;
  std::mutex mutex_;
  std::map<std::string, std::shared_future<Result<Doc>>> cache_;
};

/// The CheckContext of one check evaluation.
class CheckContextImpl final : public CheckContext {
 public:
  /// With `fresh`, every artifact is read anew instead of from the run's cache.
  explicit CheckContextImpl(RunState& run, bool fresh = false) : run_(run), fresh_(fresh) {}

  const Store& store() const override { return run_.store(); }
  const LoadLimits& limits() const override { return run_.limits(); }
  const nlohmann::json* var(std::string_view name) const override;
  Result<std::string> resolve(const PathTemplate& path) override;
  Result<Artifact> artifact(const ArtifactRef& ref) override;
  Result<Doc> load(const ArtifactRef& ref) override;
  Result<Doc> load_path(const std::string& path, Format format) override;
  EvalEnv eval_env() override;
  void record_artifact(std::string path) override;
  bool cancelled() const override { return run_.cancelled(); }
  unsigned jobs() const override { return run_.jobs(); }
  bool process_env_allowed() const override { return run_.allow_process_env(); }
  std::optional<Error> probe_fault(std::string_view service, std::string_view target) override;
  const CheckResult* result_of(std::string_view check_id) const override {
    return run_.result_of(check_id);
  }
  const History* history() const override { return run_.history(); }
  std::string history_key() const override { return run_.history_key(); }

  /// Names this evaluation in RunObserver::on_artifact_read events (both must outlive it).
  void observe_as(const std::string& stage_id, const std::string& check_id) {
    stage_id_ = &stage_id;
    check_id_ = &check_id;
  }

  /// Paths recorded, sorted and unique.
  std::vector<std::string> artifacts() const { return {read_.begin(), read_.end()}; }

 private:
  Result<Doc> load_declared(std::string_view name);
  TemplateEnv template_env();

  RunState& run_;
  std::set<std::string> read_;
  std::vector<Doc> keep_;  // keeps documents alive for pointers handed to conditions
  int depth_ = 0;          // guards declared-artifact resolution recursion
  bool fresh_ = false;
  const std::string* stage_id_ = nullptr;  // see observe_as()
  const std::string* check_id_ = nullptr;
};

}  // namespace stagecheck::detail
