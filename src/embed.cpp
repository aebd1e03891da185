#include "stagecheck/embed.hpp"

#include <ctime>

#include <fmt/format.h>

#include "stagecheck/local_store.hpp"
#include "stagecheck/open_store.hpp"
#include "stagecheck/plugin_loader.hpp"
#include "stagecheck/registry.hpp"
#include "stagecheck/spec.hpp"

namespace stagecheck {

std::string RunOutcome::summary() const {
  if (!report) return fmt::format("stagecheck: no run (exit 2): {}", error);
  const Summary& s = report->summary;
  return fmt::format(
      "stagecheck: {} (exit {}): {} checks, {} pass, {} fail, {} warn, {} skipped, "
      "{} blocked, {} error",
      report->verdict(), static_cast<int>(exit_code), s.total, s.pass, s.fail, s.warn, s.skipped,
      s.blocked, s.error);
}

namespace {

std::string utc_now_seconds() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

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
  body["timestamp"] = utc_now_seconds();
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

}  // namespace

RunOutcome run_spec(const RunRequest& request) {
  RunOutcome out;
  try {
    Registry registry;
    if (auto ok = register_builtin_checks(registry); !ok) {
      out.error = ok.error().message;
      out.error_code = ok.error().code;
      return out;
    }
    PluginLoader loader(registry);
    if (auto ok = loader.load_all(request.plugin_dirs, request.load_default_plugins); !ok) {
      out.error = ok.error().message;
      out.error_code = ok.error().code;
      return out;
    }
    SpecOptions sopts;
    sopts.registry = &registry;
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
    Runner runner(*spec, *store, request.options);
    out.report = runner.run(request.reporters);
    if (spec->on_failure && out.report->exit_code == ExitCode::fail) {
      write_failure_marker(*spec, *store, *out.report);
    }
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
  return run_spec(req);
}

}  // namespace stagecheck
