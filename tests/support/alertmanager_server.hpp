#pragma once
/// \file
/// Test harness: a real Alertmanager (Debian's prometheus-alertmanager) on a free loopback port
/// with its own temporary storage, clustering off, and a route to a receiver that notifies
/// nobody.
///
///     AlertmanagerServer am;
///     if (!am.start()) GTEST_SKIP() << am.problem();   // or FAIL when CI=true
///     ... am.url() ..., am.alerts("spec=\"x\"") ...
///
/// Stopped (SIGTERM, then SIGKILL after 10 s) and its folder removed when the object dies.
/// Header-only, POSIX.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "prometheus_server.hpp"

namespace stagecheck::testing {

/// The Alertmanager binary: $STAGECHECK_ALERTMANAGER, else prometheus-alertmanager (Debian's
/// name) or alertmanager on PATH; empty if none.
inline std::string find_alertmanager() {
  if (const char* p = std::getenv("STAGECHECK_ALERTMANAGER"); p != nullptr && *p != '\0') {
    return ::access(p, X_OK) == 0 ? p : "";
  }
  const char* path = std::getenv("PATH");
  const std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (const char* name : {"prometheus-alertmanager", "alertmanager"}) {
    std::size_t start = 0;
    while (start <= dirs.size()) {
      std::size_t end = dirs.find(':', start);
      if (end == std::string::npos) end = dirs.size();
      const std::string candidate = dirs.substr(start, end - start) + "/" + name;
      if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
      start = end + 1;
    }
  }
  return {};
}

/// A real Alertmanager on 127.0.0.1.
class AlertmanagerServer {
 public:
  AlertmanagerServer() = default;
  ~AlertmanagerServer() { stop(); }
  AlertmanagerServer(const AlertmanagerServer&) = delete;
  AlertmanagerServer& operator=(const AlertmanagerServer&) = delete;

  /// Starts it and waits (<= 20 s) until /-/ready answers 200. False with problem() set when
  /// the binary is missing or it did not come up.
  bool start() {
    const std::string binary = find_alertmanager();
    if (binary.empty()) {
      problem_ =
          "prometheus-alertmanager not found ($STAGECHECK_ALERTMANAGER, or on PATH; "
          "scripts/install-deps.sh --test installs it)";
      return false;
    }
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "stagecheck-alertmanager-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      problem_ = "mkdtemp failed";
      return false;
    }
    dir_ = tmpl;
    {
      std::ofstream cfg(dir_ / "alertmanager.yml");
      cfg << "route:\n  receiver: blackhole\n  group_by: [alertname, spec, scene]\n"
             "  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n"
             "receivers:\n  - name: blackhole\n";
    }
    port_ = free_port();
    const std::string config = "--config.file=" + (dir_ / "alertmanager.yml").string();
    const std::string storage = "--storage.path=" + (dir_ / "data").string();
    const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
    const std::string log = (dir_ / "alertmanager.log").string();
    pid_ = ::fork();
    if (pid_ < 0) {
      problem_ = "fork failed";
      return false;
    }
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execl(binary.c_str(), binary.c_str(), config.c_str(), storage.c_str(), listen.c_str(),
              "--cluster.listen-address=", "--log.level=warn", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (loopback_get(port_, "/-/ready", 500).first == 200) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        problem_ = "alertmanager exited at start: " + log_tail(dir_ / "alertmanager.log");
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    problem_ =
        "alertmanager did not become ready within 20 s: " + log_tail(dir_ / "alertmanager.log");
    stop();
    return false;
  }

  /// GET /api/v2/alerts (unresolved alerts: active, suppressed or unprocessed) with a label
  /// matcher filter such as `spec="x"` (URL-encoded here). {status, body}.
  std::pair<int, std::string> alerts(const std::string& filter = "") const {
    std::string target = "/api/v2/alerts";
    if (!filter.empty()) {
      target += "?filter=";
      for (unsigned char c : filter) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
          target += static_cast<char>(c);
        } else {
          static const char* kHex = "0123456789ABCDEF";
          target += '%';
          target += kHex[c >> 4];
          target += kHex[c & 15];
        }
      }
    }
    return loopback_get(port_, target, 3000);
  }

  /// SIGTERM, wait up to 10 s, then SIGKILL. Removes the folder. Idempotent.
  void stop() { stop_server(pid_, dir_); }

  int port() const { return port_; }
  /// "http://127.0.0.1:PORT".
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& problem() const { return problem_; }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string problem_;
};

}  // namespace stagecheck::testing
