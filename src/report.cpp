#include "stagecheck/report.hpp"

#include <array>
#include <cstdint>
#include <random>

#include <fmt/format.h>

namespace stagecheck {

std::string new_run_id() {
  std::random_device rd;
  std::string id;
  id.reserve(32);
  for (int i = 0; i < 4; ++i) id += fmt::format("{:08x}", static_cast<std::uint32_t>(rd()));
  return id;
}

Summary summarize(const std::vector<CheckResult>& results) noexcept {
  Summary summary;
  summary.total = results.size();
  for (const CheckResult& result : results) {
    switch (result.status) {
      case Status::pass:
        ++summary.pass;
        break;
      case Status::fail:
        ++summary.fail;
        break;
      case Status::warn:
        ++summary.warn;
        break;
      case Status::skipped:
        ++summary.skipped;
        break;
      case Status::blocked:
        ++summary.blocked;
        break;
      case Status::error:
        ++summary.error;
        break;
    }
  }
  return summary;
}

ExitCode compute_exit_code(const Summary& summary, bool fail_on_warn, bool interrupted) noexcept {
  // A failure is positive evidence that something is wrong, so it wins even over an
  // interrupted or partially evaluated run. `blocked` is not counted here: a check is only
  // blocked when a dependency failed or errored, and that dependency already decides.
  if (summary.fail > 0 || (fail_on_warn && summary.warn > 0)) return ExitCode::fail;
  // A pass needs positive evidence for everything that was meant to be evaluated; skipped
  // checks were deliberately not evaluated and do not count either way.
  if (summary.error > 0 || summary.evaluated() == 0 || interrupted) return ExitCode::no_verdict;
  return ExitCode::pass;
}

// The header declares verdict() without STAGECHECK_API although the library is built with
// hidden visibility; exporting the definition keeps it linkable from the driver and tests.
STAGECHECK_API std::string_view Report::verdict() const noexcept {
  switch (exit_code) {
    case ExitCode::pass:
      return "pass";
    case ExitCode::fail:
      return "fail";
    case ExitCode::usage:
      return "usage_error";
    case ExitCode::no_verdict:
      return "no_verdict";
  }
  return "no_verdict";
}

}  // namespace stagecheck
