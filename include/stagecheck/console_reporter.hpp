#pragma once
/// \file
/// ConsoleReporter: the human report, one line per check, evidence under each failure.

#include <ostream>

#include "stagecheck/export.hpp"
#include "stagecheck/reporter.hpp"

namespace stagecheck {

/// Options for the console report.
struct ConsoleOptions {
  bool color = false;   ///< ANSI colours (the driver enables them only on a TTY without NO_COLOR).
  bool quiet = false;   ///< Only failures, errors, warnings and the summary line.
  bool timings = true;  ///< Show each check's duration (tests turn this off for golden output).
};

/// Writes to the stream it was given, which must outlive the reporter.
class STAGECHECK_API ConsoleReporter : public Reporter {
 public:
  ConsoleReporter(std::ostream& out, ConsoleOptions options);
  void begin(const RunInfo& info) override;
  void on_result(const CheckResult& result) override;
  void end(const Report& report) override;

 private:
  std::ostream& out_;
  ConsoleOptions options_;
  std::string current_stage_;
};

/// True when colour should be used for a stream on file descriptor `fd`: it is a TTY and
/// NO_COLOR is unset or empty.
STAGECHECK_API bool want_color(int fd) noexcept;

}  // namespace stagecheck
