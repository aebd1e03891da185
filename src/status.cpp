#include "stagecheck/status.hpp"

#include "stagecheck/check.hpp"
#include "stagecheck/check_context.hpp"
#include "stagecheck/error.hpp"
#include "stagecheck/reporter.hpp"
#include "stagecheck/source_mark.hpp"
#include "stagecheck/store.hpp"
#include "stagecheck/version.hpp"

namespace stagecheck {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::not_found:
      return "not_found";
    case Errc::permission_denied:
      return "permission_denied";
    case Errc::out_of_root:
      return "out_of_root";
    case Errc::not_a_file:
      return "not_a_file";
    case Errc::too_large:
      return "too_large";
    case Errc::malformed:
      return "malformed";
    case Errc::type_mismatch:
      return "type_mismatch";
    case Errc::io_error:
      return "io_error";
    case Errc::unavailable:
      return "unavailable";
    case Errc::interrupted:
      return "interrupted";
    case Errc::spec_error:
      return "spec_error";
    case Errc::plugin_error:
      return "plugin_error";
    case Errc::internal:
      return "internal";
  }
  return "internal";
}

std::string_view to_string(Status status) noexcept {
  switch (status) {
    case Status::pass:
      return "pass";
    case Status::fail:
      return "fail";
    case Status::warn:
      return "warn";
    case Status::skipped:
      return "skipped";
    case Status::blocked:
      return "blocked";
    case Status::error:
      return "error";
  }
  return "error";
}

std::string_view to_string(Severity severity) noexcept {
  return severity == Severity::warning ? "warning" : "error";
}

std::optional<Status> parse_status(std::string_view text) noexcept {
  for (Status s : {Status::pass, Status::fail, Status::warn, Status::skipped, Status::blocked,
                   Status::error}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::optional<Severity> parse_severity(std::string_view text) noexcept {
  if (text == "error") return Severity::error;
  if (text == "warning") return Severity::warning;
  return std::nullopt;
}

Status status_for(Errc code) noexcept {
  switch (code) {
    case Errc::not_found:
    case Errc::out_of_root:
    case Errc::not_a_file:
    case Errc::too_large:
    case Errc::malformed:
    case Errc::type_mismatch:
    case Errc::invalid_argument:
    case Errc::spec_error:
      return Status::fail;
    case Errc::permission_denied:
    case Errc::io_error:
    case Errc::unavailable:
    case Errc::interrupted:
    case Errc::plugin_error:
    case Errc::internal:
      return Status::error;
  }
  return Status::error;
}

std::string SourceMark::str() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string_view version() noexcept { return STAGECHECK_VERSION_STRING; }

// Out-of-line virtual destructors anchor the vtables in the library.
Reader::~Reader() = default;
Store::~Store() = default;
Check::~Check() = default;
CheckContext::~CheckContext() = default;

std::optional<Error> CheckContext::probe_fault(std::string_view, std::string_view) {
  return std::nullopt;
}
const CheckResult* CheckContext::result_of(std::string_view) const { return nullptr; }
const History* CheckContext::history() const { return nullptr; }
std::string CheckContext::history_key() const { return {}; }
Reporter::~Reporter() = default;

}  // namespace stagecheck
