#pragma once
/// \file
/// EnvLookup: where a store takes the settings its options leave unset (endpoints, credentials).

#include <functional>
#include <optional>
#include <string>

#include "stagecheck/export.hpp"

namespace stagecheck {

/// Looks up an environment variable; nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// The process environment through getenv (what the driver passes; a library caller chooses).
STAGECHECK_API EnvLookup process_environment();

}  // namespace stagecheck
