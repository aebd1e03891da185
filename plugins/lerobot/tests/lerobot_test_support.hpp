#pragma once
// Shared by the lerobot plugin's tests: writing bundles with the committed generator
// (examples/dataset/make_lerobot_bundle.mjs), which writes Parquet with the npm package
// hyparquet-writer installed at tests/npm/node_modules (npm ci --prefix tests/npm).

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <stagecheck_test_support.hpp>

namespace stagecheck::lerobot_testing {

namespace fs = std::filesystem;

inline const fs::path kSource = STAGECHECK_SOURCE_DIR;
inline const fs::path kGenerator = kSource / "examples/dataset/make_lerobot_bundle.mjs";
inline const fs::path kNodeModules = kSource / "tests/npm/node_modules";

/// Why bundles cannot be generated here ("" if they can): node missing or the module missing.
inline std::string generator_unavailable() {
  if (std::system("command -v node >/dev/null 2>&1") != 0) return "node is not on PATH";
  if (!fs::exists(kNodeModules / "hyparquet-writer/src/node.js")) {
    return "hyparquet-writer is not installed at " + kNodeModules.string() +
           " (run: npm ci --prefix tests/npm)";
  }
  if (!fs::exists(kGenerator)) return "the generator is missing: " + kGenerator.string();
  return "";
}

/// True when the environment says this is CI, where skipping is a failure.
inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

/// Skips the test without node + hyparquet-writer; fails instead when CI=true.
#define LEROBOT_REQUIRE_GENERATOR()                                                 \
  do {                                                                              \
    const std::string why = ::stagecheck::lerobot_testing::generator_unavailable(); \
    if (!why.empty()) {                                                             \
      if (::stagecheck::lerobot_testing::in_ci()) FAIL() << "CI=true but " << why;  \
      GTEST_SKIP() << why;                                                          \
    }                                                                               \
  } while (0)

/// Runs the generator into `out` with extra `options`; true on success.
inline bool generate_bundle(const fs::path& out, const std::string& options = "") {
  const std::string cmd = "node '" + kGenerator.string() + "' '" + out.string() +
                          "' --node-modules '" + kNodeModules.string() + "' " + options +
                          " >/dev/null";
  return std::system(cmd.c_str()) == 0;
}

/// Writes `body` to `p`, replacing it.
inline void overwrite(const fs::path& p, const std::string& body) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << body;
}

}  // namespace stagecheck::lerobot_testing
