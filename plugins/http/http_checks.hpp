#pragma once
/// \file
/// The http plugin's two check types.

#include <memory>

#include "http_common.hpp"
#include "stagecheck/check.hpp"
#include "stagecheck/check_info.hpp"

namespace stagecheck::http {

/// `http_request`: one request judged on status, headers and JSON body conditions.
CheckInfo http_request_info();
Result<std::unique_ptr<Check>> make_http_request(const CheckConfig& config);

/// `http_load`: N requests at concurrency C (or for a duration) judged on k6-style thresholds.
CheckInfo http_load_info();
Result<std::unique_ptr<Check>> make_http_load(const CheckConfig& config);

}  // namespace stagecheck::http
