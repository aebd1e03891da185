#pragma once
// Test helper: an s3rver (npm, pinned in tests/npm) on a free loopback port, started once per
// test suite and stopped (by its pid) when the object dies. Tests that need it skip with the
// reason when node or s3rver is missing, and fail instead when CI=true.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "ci_mode.hpp"

namespace stagecheck::testing {

/// A free TCP port on 127.0.0.1 (bound, read, released: good enough for tests).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// True if something accepts TCP connections on 127.0.0.1:port.
inline bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

/// True when the environment says this is CI (CI=true), where a missing tool is a failure.
inline bool in_ci() { return ::stagecheck::testing::ci_requires_servers(); }

/// An s3rver process with bucket "testbucket" (credentials S3RVER / S3RVER).
class S3rver {
 public:
  static constexpr const char* kBucket = "testbucket";
  static constexpr const char* kKey = "S3RVER";

  /// Starts one; nullptr with `why` set when it cannot.
  static std::unique_ptr<S3rver> start(std::string& why) {
    namespace fs = std::filesystem;
    const fs::path script =
        fs::path(STAGECHECK_SOURCE_DIR) / "tests/npm/node_modules/s3rver/bin/s3rver.js";
    if (!fs::exists(script)) {
      why = "s3rver is not installed (run: npm ci --prefix tests/npm)";
      return nullptr;
    }
    if (std::system("command -v node >/dev/null 2>&1") != 0) {
      why = "node is not installed";
      return nullptr;
    }
    std::string dir_template = (fs::temp_directory_path() / "stagecheck-s3rver-XXXXXX").string();
    if (::mkdtemp(dir_template.data()) == nullptr) {
      why = "mkdtemp failed";
      return nullptr;
    }
    auto server = std::unique_ptr<S3rver>(new S3rver());
    server->dir_ = dir_template;
    server->port_ = free_port();
    const std::string port = std::to_string(server->port_);
    const std::string data = (fs::path(server->dir_) / "data").string();
    const std::string log = (fs::path(server->dir_) / "s3rver.log").string();
    fs::create_directories(data);
    std::vector<std::string> args = {"node",
                                     "--openssl-legacy-provider",  // continuation tokens use DES
                                     script.string(),
                                     "-d",
                                     data,
                                     "-a",
                                     "127.0.0.1",
                                     "-p",
                                     port,
                                     "--no-vhost-buckets",
                                     "--silent",
                                     "--configure-bucket",
                                     kBucket};
    if (!server->process_.start(std::move(args), log)) {
      why = "fork failed";
      return nullptr;
    }
    const int port_number = server->port_;
    if (!server->process_.wait_until([&] { return port_open(port_number); }, "s3rver", log, why)) {
      return nullptr;
    }
    return server;
  }

  ~S3rver() {
    process_.stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  S3rver(const S3rver&) = delete;
  S3rver& operator=(const S3rver&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  S3rver() = default;
  std::string dir_;
  int port_ = -1;
  ChildProcess process_;
};

/// In SetUp(): skips (or fails under CI=true) when `server` could not be started.
#define STAGECHECK_REQUIRE_S3RVER(server, why)                                             \
  do {                                                                                     \
    if (!(server)) {                                                                       \
      if (::stagecheck::testing::in_ci()) FAIL() << "s3rver is required in CI: " << (why); \
      GTEST_SKIP() << "s3rver unavailable: " << (why);                                     \
    }                                                                                      \
  } while (false)

}  // namespace stagecheck::testing
