#pragma once
/// \file
/// The versioned JSON report.

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "stagecheck/export.hpp"
#include "stagecheck/report.hpp"
#include "stagecheck/reporter.hpp"

namespace stagecheck {

/// The report as JSON (`report_version` 1). Field reference in the README.
STAGECHECK_API nlohmann::json report_to_json(const Report& report);

/// Writes report_to_json(report), indented, at end().
class STAGECHECK_API JsonReporter : public Reporter {
 public:
  explicit JsonReporter(std::ostream& out) : out_(out) {}
  void begin(const RunInfo&) override {}
  void on_result(const CheckResult&) override {}
  void end(const Report& report) override;

 private:
  std::ostream& out_;
};

}  // namespace stagecheck
