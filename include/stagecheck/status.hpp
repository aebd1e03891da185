#pragma once
/// \file
/// Check statuses and severities, and how an error category maps to a status.

#include <optional>
#include <string_view>

#include "stagecheck/error.hpp"
#include "stagecheck/export.hpp"

namespace stagecheck {

/// The verdict of one check.
enum class Status {
  pass,     ///< Positive evidence that the check holds.
  fail,     ///< The check does not hold (including missing, malformed or out-of-range data).
  warn,     ///< A warning-severity check that did not hold.
  skipped,  ///< Not evaluated on purpose (skip_if, or a skipped dependency); carries the reason.
  blocked,  ///< Not evaluated because a stage it depends on failed or could not be evaluated.
  error,    ///< Could not be evaluated (permission denied, store unreachable, interrupted, ...).
};

/// How much a failure matters: an error-severity failure fails the run, a warning warns.
enum class Severity { error, warning };

/// Stable lower-case names ("pass", "fail", ...; "error", "warning").
STAGECHECK_API std::string_view to_string(Status status) noexcept;
STAGECHECK_API std::string_view to_string(Severity severity) noexcept;
STAGECHECK_API std::optional<Status> parse_status(std::string_view text) noexcept;
STAGECHECK_API std::optional<Severity> parse_severity(std::string_view text) noexcept;

/// The status a check takes when evaluation stopped with this error: missing, malformed,
/// oversized, out-of-root, wrongly typed data is `fail`; permission, I/O, unreachable,
/// interrupted and internal errors are `error` ("could not be evaluated").
STAGECHECK_API Status status_for(Errc code) noexcept;

}  // namespace stagecheck
