#pragma once
/// \file
/// CheckOutcome: what a check's run() returns.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/error.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/status.hpp"

namespace stagecheck {

/// The evidence a check produced. The runner adds id, type, severity and timing, turns a
/// `fail` of a warning-severity check into `warn`, and adds every artifact the context read.
struct CheckOutcome {
  Status status = Status::error;
  std::string message;      ///< Names the artifact, the field, expected and found.
  nlohmann::json observed;  ///< What was found (also for passing checks).
  nlohmann::json expected;  ///< What was required.
  nlohmann::json details;   ///< Anything else (an object), e.g. per-condition results.
  /// A machine-readable reason for a failure, e.g. "quality_gate_blocked" (empty: none). Markers
  /// written on failure carry it; overrides the spec's `failure_code` for this result.
  std::string code;
  std::vector<std::string> artifacts;  ///< Paths read, beyond those the context recorded.

  static CheckOutcome make(Status status, std::string message) {
    CheckOutcome o;
    o.status = status;
    o.message = std::move(message);
    return o;
  }
  static CheckOutcome pass(std::string message) { return make(Status::pass, std::move(message)); }
  static CheckOutcome fail(std::string message) { return make(Status::fail, std::move(message)); }
  static CheckOutcome error(std::string message) { return make(Status::error, std::move(message)); }
  /// The outcome for an error value: status_for(e.code), message e.message.
  static CheckOutcome from(const Error& e) { return make(status_for(e.code), e.message); }
};

}  // namespace stagecheck
