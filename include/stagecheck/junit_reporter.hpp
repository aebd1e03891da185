#pragma once
/// \file
/// JUnit XML, for CI systems that render test results.

#include <ostream>
#include <string>

#include "stagecheck/export.hpp"
#include "stagecheck/report.hpp"
#include "stagecheck/reporter.hpp"

namespace stagecheck {

/// The report as JUnit XML: one <testsuite> per stage, one <testcase> per check; `fail` is a
/// <failure>, `error` an <error>, `skipped`/`blocked` are <skipped>, `warn` passes with its
/// message in <system-out>.
STAGECHECK_API std::string report_to_junit(const Report& report);

/// Writes report_to_junit(report) at end().
class STAGECHECK_API JunitReporter : public Reporter {
 public:
  explicit JunitReporter(std::ostream& out) : out_(out) {}
  void begin(const RunInfo&) override {}
  void on_result(const CheckResult&) override {}
  void end(const Report& report) override;

 private:
  std::ostream& out_;
};

}  // namespace stagecheck
