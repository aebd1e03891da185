#pragma once
// Internal: the built-in `drift` check (src/drift_check.cpp).

#include "stagecheck/registry.hpp"

namespace stagecheck {

/// The check type a `drift` check's `type:` names. The spec loader and the runner treat it
/// specially: it measures another check's result, so it runs after every other check.
inline constexpr const char* kDriftCheckType = "drift";

/// Registers the `drift` check type (called by register_builtin_checks).
Result<void> register_drift_check(Registry& registry);

}  // namespace stagecheck
