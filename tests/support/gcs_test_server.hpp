#pragma once
// Test helper: our GCS JSON-API test server (tests/support/gcs_test_server.py, stdlib Python)
// on a free loopback port, started once per test suite and stopped by its pid when the object
// dies. No GCS emulator can run here; this server has exactly the surface the store uses.
// Tests that need it skip with the reason when python3 is missing, and fail under CI=true.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "s3rver.hpp"  // free_port, port_open, in_ci

namespace stagecheck::testing {

/// A GCS test server with bucket "testbucket" (and any others asked for).
class GcsTestServer {
 public:
  static constexpr const char* kBucket = "testbucket";

  /// Starts one; with `token`, requests must carry "Authorization: Bearer <token>" (401
  /// without or with another, 403 with `forbidden`). nullptr with `why` set when it cannot.
  static std::unique_ptr<GcsTestServer> start(std::string& why, const std::string& token = "",
                                              const std::string& forbidden = "") {
    namespace fs = std::filesystem;
    if (std::system("command -v python3 >/dev/null 2>&1") != 0) {
      why = "python3 is not installed";
      return nullptr;
    }
    std::string dir_template = (fs::temp_directory_path() / "stagecheck-gcs-XXXXXX").string();
    if (::mkdtemp(dir_template.data()) == nullptr) {
      why = "mkdtemp failed";
      return nullptr;
    }
    auto server = std::unique_ptr<GcsTestServer>(new GcsTestServer());
    server->dir_ = dir_template;
    const std::string port_file = (fs::path(server->dir_) / "port").string();
    const std::string log = (fs::path(server->dir_) / "server.log").string();
    std::vector<std::string> args = {
        "python3",     std::string(STAGECHECK_SOURCE_DIR) + "/tests/support/gcs_test_server.py",
        "--port-file", port_file,
        "--bucket",    kBucket};
    if (!token.empty()) {
      args.push_back("--token");
      args.push_back(token);
    }
    if (!forbidden.empty()) {
      args.push_back("--forbidden-token");
      args.push_back(forbidden);
    }
    if (!server->process_.start(std::move(args), log)) {
      why = "fork failed";
      return nullptr;
    }
    GcsTestServer& s = *server;
    auto listening = [&] {
      if (s.port_ <= 0) std::ifstream(port_file) >> s.port_;
      return s.port_ > 0 && port_open(s.port_);
    };
    if (!s.process_.wait_until(listening, "the GCS test server", log, why)) return nullptr;
    return server;
  }

  ~GcsTestServer() {
    process_.stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  GcsTestServer(const GcsTestServer&) = delete;
  GcsTestServer& operator=(const GcsTestServer&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  GcsTestServer() = default;
  std::string dir_;
  int port_ = -1;
  ChildProcess process_;
};

/// In SetUp(): skips (or fails under CI=true) when `server` could not be started.
#define STAGECHECK_REQUIRE_GCS_SERVER(server, why)              \
  do {                                                          \
    if (!(server)) {                                            \
      if (::stagecheck::testing::in_ci())                       \
        FAIL() << "the GCS test server is required in "         \
                  "CI: "                                        \
               << (why);                                        \
      GTEST_SKIP() << "GCS test server unavailable: " << (why); \
    }                                                           \
  } while (false)

}  // namespace stagecheck::testing
