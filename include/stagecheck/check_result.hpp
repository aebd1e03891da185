#pragma once
/// \file
/// CheckResult: one row of a report.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/status.hpp"

namespace stagecheck {

/// The result of one check in a run, as reporters see it.
struct CheckResult {
  std::string id;           ///< "<stage>.<check>", unique in the spec.
  std::string stage;        ///< Stage id.
  std::string type;         ///< Check type, e.g. "json".
  std::string description;  ///< From the spec, may be empty.
  Status status = Status::error;
  Severity severity = Severity::error;
  std::string message;
  std::vector<std::string> artifacts;  ///< Store paths read (or attempted), sorted, unique.
  nlohmann::json observed;
  nlohmann::json expected;
  nlohmann::json details;
  std::string code;  ///< Machine-readable failure reason (see CheckOutcome::code).
  double duration_ms = 0.0;
};

}  // namespace stagecheck
