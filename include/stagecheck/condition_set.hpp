#pragma once
/// \file
/// Evaluating a list of conditions into one CheckOutcome (used by `json`, `marker` and plugins).

#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/check_outcome.hpp"
#include "stagecheck/condition.hpp"
#include "stagecheck/export.hpp"

namespace stagecheck {

/// Evaluates every condition (never stopping at the first failure) against `doc`, the document
/// read from `artifact_path`. Passes only if all are satisfied; fails if any is violated,
/// missing, mistyped, non-finite or empty; is `error` if one could not be evaluated and none
/// failed. `observed` maps each condition to what it found; `details.conditions` lists each
/// condition's kind, message, observed and expected values.
STAGECHECK_API CheckOutcome evaluate_conditions(const std::vector<Condition>& conditions,
                                                const nlohmann::json& doc, const EvalEnv& env,
                                                std::string_view artifact_path);

}  // namespace stagecheck
