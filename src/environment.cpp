#include "stagecheck/environment.hpp"

#include <cstdlib>

namespace stagecheck {

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    // getenv only: nothing in stagecheck calls setenv.
    if (const char* value = std::getenv(name.c_str())) return std::string(value);
    return std::nullopt;
  };
}

}  // namespace stagecheck
