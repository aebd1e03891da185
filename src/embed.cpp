#include "stagecheck/embed.hpp"

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <tuple>

#include <fmt/format.h>

#include "stagecheck/chaos_store.hpp"
#include "stagecheck/local_store.hpp"
#include "stagecheck/open_store.hpp"
#include "stagecheck/plugin_loader.hpp"
#include "stagecheck/registry.hpp"
#include "stagecheck/spec.hpp"
#include "text_util.hpp"

namespace stagecheck {

std::string RunOutcome::summary() const {
  if (!report) return fmt::format("stagecheck: no run (exit 2): {}", error);
  const Summary& s = report->summary;
  return fmt::format(
             "stagecheck: {} (exit {}): {} checks, {} pass, {} fail, {} warn, {} skipped, "
             "{} blocked, {} error",
             report->verdict(), static_cast<int>(exit_code), s.total, s.pass, s.fail, s.warn,
             s.skipped, s.blocked, s.error) +
         (report->history_error.empty() ? std::string()
                                        : fmt::format("; not recorded in the history {}: {}",
                                                      report->history, report->history_error));
}

namespace {

// Writes the spec's on_failure marker for a failed run; on any error the verdict becomes
// "no verdict" (3): the failure happened but could not be recorded for downstream jobs.
void write_failure_marker(const Spec& spec, Store& store, Report& report) {
  const FailureMarker& m = *spec.on_failure;
  TemplateEnv env;
  env.var = [&](std::string_view name, bool& multi) -> const nlohmann::json* {
    const VarDecl* decl = spec.find_var(name);
    multi = decl != nullptr && decl->type == VarType::store_path;
    auto it = spec.values.find(std::string(name));
    return it == spec.values.end() ? nullptr : &*it;
  };
  auto path = m.path.expand(env);
  if (!path) {
    report.failure_marker_error = path.error().message;
    report.exit_code = ExitCode::no_verdict;
    return;
  }
  const CheckResult* deciding = nullptr;
  nlohmann::json failed = nlohmann::json::array();
  for (const auto& r : report.results) {
    if (r.status != Status::fail) continue;
    if (deciding == nullptr) deciding = &r;
    failed.push_back(r.id);
  }
  nlohmann::json body = m.fields;
  body["status"] = "failed";
  body["timestamp"] = detail::utc_now_seconds();
  body["spec"] = spec.name;
  body["error"] = {
      {"code", deciding != nullptr && !deciding->code.empty() ? deciding->code : "check_failed"},
      {"message", deciding != nullptr ? deciding->message : "the run failed"},
      {"report_path",
       deciding != nullptr && !deciding->artifacts.empty() ? deciding->artifacts.front() : ""},
      {"check", deciding != nullptr ? deciding->id : ""}};
  body["failed_checks"] = std::move(failed);
  report.failure_marker = *path;
  // Messages quote artifact data, which may not be valid UTF-8: replace, never throw.
  if (auto ok = store.write_atomic(
          *path, body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
      !ok) {
    report.failure_marker_error = ok.error().message;
    report.exit_code = ExitCode::no_verdict;
  }
}

// Records a finished run; if it cannot be, the verdict becomes "no verdict" (3) unless the
// run failed: the run happened, but what it found was not remembered.
void record_in_history(History& history, Report& report) {
  report.history = history.describe();
  Result<void> ok = make_error(Errc::internal, "not recorded");
  try {
    ok = history.record(report);
  } catch (const std::exception& e) {
    ok = make_error(Errc::internal, fmt::format("internal error: {}", e.what()));
  }
  if (!ok) {
    report.history_error = ok.error().message;
    if (report.exit_code != ExitCode::fail) report.exit_code = ExitCode::no_verdict;
  }
}

// stagecheck's own resident memory (KiB) and open descriptors, from /proc; -1 if unknown.
std::pair<std::int64_t, int> own_resources() {
  std::int64_t rss = -1;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) {
      rss = std::strtoll(line.c_str() + 6, nullptr, 10);
      break;
    }
  }
  int fds = -1;
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (!ec) {
    fds = 0;
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
      if (ec) break;
      ++fds;
    }
    --fds;  // the iterator's own descriptor
  }
  return {rss, fds};
}

// Growth of stagecheck's own memory or descriptors from the second iteration (the first warms
// up caches and connection pools) to the last: a warning, not a verdict.
std::vector<std::string> growth_warnings(const std::vector<Iteration>& its) {
  std::vector<std::string> warnings;
  if (its.size() < 3) return warnings;
  const Iteration& a = its[1];
  const Iteration& b = its.back();
  if (a.open_fds >= 0 && b.open_fds > a.open_fds) {
    warnings.push_back(
        fmt::format("open descriptors grew from {} after iteration {} to {} after iteration {}",
                    a.open_fds, a.index, b.open_fds, b.index));
  }
  constexpr std::int64_t kRssSlackKib = 8 * 1024;
  if (a.rss_kib > 0 && b.rss_kib > a.rss_kib + kRssSlackKib && b.rss_kib * 10 > a.rss_kib * 11) {
    warnings.push_back(
        fmt::format("resident memory grew from {:.1f} MiB after iteration {} to {:.1f} MiB after "
                    "iteration {}",
                    static_cast<double>(a.rss_kib) / 1024.0, a.index,
                    static_cast<double>(b.rss_kib) / 1024.0, b.index));
  }
  return warnings;
}

// Runs `request.iterations` times; the report holds every iteration's verdict and the results
// of the first failing iteration (else the last).
Report run_iterations(Runner& runner, const RunRequest& request) {
  std::optional<Report> kept;
  std::vector<Iteration> its;
  bool any_fail = false, any_no_verdict = false, interrupted = false;
  double total_ms = 0;
  std::string started_at;
  for (unsigned i = 1; i <= request.iterations; ++i) {
    Report r = runner.run(request.reporters);
    Iteration it;
    it.index = i;
    it.exit_code = static_cast<int>(r.exit_code);
    it.started_at = r.started_at;
    it.duration_ms = r.duration_ms;
    it.pass = r.summary.pass;
    it.fail = r.summary.fail;
    it.warn = r.summary.warn;
    it.error = r.summary.error;
    for (const auto& c : r.results) {
      if (c.status == Status::fail) it.failed.push_back(c.id);
      if (c.status == Status::error) it.unevaluated.push_back(c.id);
    }
    std::tie(it.rss_kib, it.open_fds) = own_resources();
    its.push_back(std::move(it));
    total_ms += r.duration_ms;
    if (i == 1) started_at = r.started_at;
    any_fail |= r.exit_code == ExitCode::fail;
    any_no_verdict |= r.exit_code == ExitCode::no_verdict;
    interrupted |= r.interrupted;
    const bool keep_this =
        !kept || (kept->exit_code != ExitCode::fail &&
                  (r.exit_code == ExitCode::fail || i == request.iterations || r.interrupted));
    if (keep_this) {
      kept = std::move(r);
      kept->results_iteration = i;
    }
    if (interrupted) break;
  }
  Report out = std::move(*kept);
  out.started_at = started_at;
  out.duration_ms = total_ms;
  out.interrupted = interrupted;
  out.exit_code = any_fail ? ExitCode::fail
                  : (any_no_verdict || interrupted || its.size() < request.iterations)
                      ? ExitCode::no_verdict
                      : ExitCode::pass;
  out.stress_warnings = growth_warnings(its);
  out.iterations = std::move(its);
  return out;
}

}  // namespace

RunOutcome run_spec(const RunRequest& request) {
  RunOutcome out;
  try {
    Registry registry;
    PluginLoader loader(registry);
    if (request.registry == nullptr) {
      if (auto ok = register_builtin_checks(registry); !ok) {
        out.error = ok.error().message;
        out.error_code = ok.error().code;
        return out;
      }
      if (auto ok = loader.load_all(request.plugin_dirs, request.load_default_plugins); !ok) {
        out.error = ok.error().message;
        out.error_code = ok.error().code;
        return out;
      }
    }
    SpecOptions sopts;
    sopts.registry = request.registry != nullptr ? request.registry : &registry;
    sopts.vars = request.vars;
    auto spec = request.spec_file.empty()
                    ? load_spec_string(request.spec_text, request.spec_name, sopts)
                    : load_spec_file(request.spec_file, sopts);
    if (!spec) {
      out.error = spec.error().message;
      out.error_code = spec.error().code;
      return out;
    }
    std::unique_ptr<Store> owned;
    Store* store = request.store;
    if (store == nullptr) {
      auto opened = open_store(request.root.string(), request.store_options);
      if (!opened) {
        out.error = fmt::format("root: {}", opened.error().message);
        out.error_code = opened.error().code;
        return out;
      }
      owned = std::move(*opened);
      store = owned.get();
    }
    // Chaos: one injector for the store layer and the probe layer.
    std::optional<ChaosInjector> chaos;
    std::unique_ptr<ChaosStore> chaos_store;
    RunOptions options = request.options;
    if (options.run_id.empty()) options.run_id = new_run_id();  // one id for every iteration
    if (options.history == nullptr) options.history = request.history;
    if (request.chaos && request.chaos->rate > 0) {
      chaos.emplace(*request.chaos);
      chaos_store = std::make_unique<ChaosStore>(*store, *chaos);
      store = chaos_store.get();
      options.chaos = &*chaos;
    }
    Runner runner(*spec, *store, options);
    out.report =
        request.iterations > 1 ? run_iterations(runner, request) : runner.run(request.reporters);
    if (spec->on_failure && out.report->exit_code == ExitCode::fail) {
      write_failure_marker(*spec, *store, *out.report);
    }
    if (chaos) out.report->chaos = chaos->report();
    if (request.history != nullptr) record_in_history(*request.history, *out.report);
    out.exit_code = out.report->exit_code;
    return out;
  } catch (const std::exception& e) {
    out.exit_code = ExitCode::no_verdict;
    out.error = fmt::format("internal error: {}", e.what());
    out.report.reset();
    return out;
  }
}

}  // namespace stagecheck

namespace stagecheck {

RunOutcome run_preflight(const PreflightRequest& request) {
  RunRequest req;
  req.spec_text = std::string(preflight_spec());
  req.spec_name = "preflight.yaml (bundled)";
  req.vars = {{"scene_id", request.scene_id}, {"consumer", request.consumer}};
  req.root = request.root;
  req.store_options = request.store_options;
  req.store = request.store;
  req.plugin_dirs = request.plugin_dirs;
  req.load_default_plugins = request.load_default_plugins;
  req.options = request.options;
  req.reporters = request.reporters;
  req.history = request.history;
  return run_spec(req);
}

}  // namespace stagecheck
