#include "stagecheck/embed.hpp"

#include <fmt/format.h>

#include "stagecheck/local_store.hpp"
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
    const Store* store = request.store;
    if (store == nullptr) {
      auto opened = open_local_store(request.root);
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
