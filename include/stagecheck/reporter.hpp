#pragma once
/// \file
/// Reporter: receives a run's results; writes to streams it was given.

#include <string>

#include "stagecheck/check_result.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/report.hpp"

namespace stagecheck {

/// What is known when a run starts.
struct RunInfo {
  std::string spec_name;
  std::string spec_source;
  std::string root;
  std::size_t check_count = 0;
  std::string started_at;
  std::string run_id;
};

/// Receives results in spec order (each exactly once) between begin() and end(). Called from
/// one thread. The runner knows nothing of formats.
class STAGECHECK_API Reporter {
 public:
  virtual ~Reporter();
  virtual void begin(const RunInfo& info) = 0;
  virtual void on_result(const CheckResult& result) = 0;
  virtual void end(const Report& report) = 0;
};

}  // namespace stagecheck
