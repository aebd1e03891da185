#pragma once
/// \file
/// Check: one configured verification. Created by a factory from a CheckConfig.

#include <functional>
#include <memory>

#include "stagecheck/check_config.hpp"
#include "stagecheck/check_context.hpp"
#include "stagecheck/check_outcome.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck {

/// A configured check. run() may be called from any thread, and concurrently with other
/// checks; it must not throw (the runner turns an escaping exception into an `error` result
/// all the same) and must only pass on positive evidence.
class STAGECHECK_API Check {
 public:
  virtual ~Check();
  virtual CheckOutcome run(CheckContext& ctx) const = 0;
};

/// Turns a validated configuration into a Check, or returns a spec error (use
/// CheckConfig::error so it carries file:line:column). Does no I/O.
using CheckFactory = std::function<Result<std::unique_ptr<Check>>(const CheckConfig& config)>;

}  // namespace stagecheck
