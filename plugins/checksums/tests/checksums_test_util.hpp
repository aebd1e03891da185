#pragma once
// Helpers shared by the checksums plugin's tests: independent digests (OpenSSL directly, not
// the core), a spec with one checksums check, and running it in-process.

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <map>
#include <string>

#include <fmt/format.h>
#include <stagecheck_test_support.hpp>

namespace checksums_test {

using namespace stagecheck;
using namespace stagecheck::testing;

inline constexpr const char* kCheckId = "integrity.files";

/// The digest of `data` as lower-case hex, computed with OpenSSL directly.
inline std::string hex_digest(const EVP_MD* md, const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, md, nullptr);
  std::string hex;
  for (unsigned i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}
inline std::string sha256_hex(const std::string& data) { return hex_digest(EVP_sha256(), data); }
inline std::string sha512_hex(const std::string& data) { return hex_digest(EVP_sha512(), data); }
inline std::string sha1_hex(const std::string& data) { return hex_digest(EVP_sha1(), data); }
inline std::string md5_hex(const std::string& data) { return hex_digest(EVP_md5(), data); }

/// A spec with one checksums check; `params` are extra lines under the check, `vars` extra
/// lines under a top-level `vars:`.
inline std::string make_spec(const std::string& manifest, const std::string& params = "",
                             const std::string& vars = "") {
  std::string text = "version: 1\nname: checksums-test\n";
  if (!vars.empty()) text += "vars:\n  " + vars + "\n";
  text += fmt::format(R"(stages:
  - id: integrity
    checks:
      - id: files
        type: checksums
        manifest: {}
)",
                      manifest);
  for (std::size_t start = 0; start < params.size();) {
    std::size_t end = params.find('\n', start);
    if (end == std::string::npos) end = params.size();
    text += "        " + params.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return text;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// Runs `spec_text` against `root` and returns the check's result (empty on a spec error).
inline CheckResult run_check(const std::string& spec_text, const fs::path& root,
                             std::map<std::string, std::string> vars = {},
                             RunOptions options = {}) {
  RunOutcome out = run_spec_text(spec_text, root, std::move(vars), options);
  EXPECT_TRUE(out.report.has_value()) << out.error;
  if (!out.report) return {};
  const CheckResult* r = find_result(*out.report, kCheckId);
  EXPECT_NE(r, nullptr);
  return r != nullptr ? *r : CheckResult{};
}

/// The spec error of `spec_text` ("" if it loads).
inline std::string spec_error(const std::string& spec_text, const fs::path& root) {
  RunOutcome out = run_spec_text(spec_text, root);
  return out.report ? std::string() : out.error;
}

}  // namespace checksums_test
