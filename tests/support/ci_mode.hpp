#pragma once
/// \file
/// Whether this is CI (CI=true or CI=1): there, a test server or tool that cannot start is a
/// test failure, never a skip. Every harness asks this one function.

#include <cstdlib>
#include <string_view>

namespace stagecheck::testing {

inline bool ci_requires_servers() {
  const char* ci = std::getenv("CI");
  if (ci == nullptr) return false;
  const std::string_view v(ci);
  return v == "true" || v == "1";
}

}  // namespace stagecheck::testing
