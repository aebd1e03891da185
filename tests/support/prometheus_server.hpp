#pragma once
/// \file
/// Test harness: a real Prometheus server on loopback scraping an in-process metrics target.
///
///     MetricsTarget target;                       // serves /metrics (and any other path)
///     target.set("/metrics", "# TYPE x gauge\nx 1\n");
///     PrometheusServer prom({{"app", target.address()}});
///     if (!prom.start()) GTEST_SKIP() << prom.problem();   // or FAIL when CI=true
///     prom.wait_up("app");                        // the first scrape lands ~6 s after start
///     ... prom.url() ...
///
/// Start one server per test suite (SetUpTestSuite): the first scrape is slow. Both objects
/// stop what they started when they die. Header-only, POSIX, no dependencies beyond libstdc++.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ci_mode.hpp"

namespace stagecheck::testing {

/// A TCP port on 127.0.0.1 that was free a moment ago.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

/// A listening socket on 127.0.0.1 (port 0: any free port). Owns the descriptor.
inline int listen_loopback(int& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind/listen failed");
  }
  port = ntohs(addr.sin_port);
  return fd;
}

/// A minimal HTTP/1.0 GET against 127.0.0.1:port. Returns {status, body}; status 0 when the
/// connection failed or nothing came back within `timeout_ms`.
inline std::pair<int, std::string> loopback_get(int port, const std::string& target,
                                                int timeout_ms = 2000) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {0, ""};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {0, ""};
  }
  const std::string request = "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return {0, ""};
  }
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline && response.size() < (1u << 22)) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (response.rfind("HTTP/", 0) != 0) return {0, ""};
  const std::size_t sp = response.find(' ');
  const int status = std::atoi(response.c_str() + sp + 1);
  const std::size_t body = response.find("\r\n\r\n");
  return {status, body == std::string::npos ? "" : response.substr(body + 4)};
}

/// An in-process HTTP server on 127.0.0.1 serving fixed responses per path, on its own thread.
/// Thread-safe: set() may be called while Prometheus scrapes. Paths not set answer 404.
class MetricsTarget {
 public:
  /// One canned response.
  struct Response {
    int status = 200;
    std::string content_type = "text/plain; version=0.0.4; charset=utf-8";
    std::string body;
  };

  MetricsTarget() {
    int port = 0;
    fd_ = listen_loopback(port);
    port_ = port;
    thread_ = std::thread([this] { serve(); });
  }
  ~MetricsTarget() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  MetricsTarget(const MetricsTarget&) = delete;
  MetricsTarget& operator=(const MetricsTarget&) = delete;

  int port() const { return port_; }
  /// "127.0.0.1:PORT", for a scrape config.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  /// "http://127.0.0.1:PORT" + path.
  std::string url(const std::string& path = "/metrics") const {
    return "http://" + address() + path;
  }

  /// Serves `body` at `path` with `status`.
  void set(const std::string& path, std::string body, int status = 200) {
    std::lock_guard<std::mutex> lock(mu_);
    Response& r = routes_[path];
    r.body = std::move(body);
    r.status = status;
  }
  /// The request headers (lower-cased names) of the last request to `path`.
  std::map<std::string, std::string> last_headers(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = headers_.find(path);
    return it == headers_.end() ? std::map<std::string, std::string>{} : it->second;
  }
  /// How many requests reached `path`.
  int hits(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = hits_.find(path);
    return it == hits_.end() ? 0 : it->second;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      handle(c);
      ::close(c);
    }
  }

  void handle(int c) {
    std::string request;
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536 &&
           std::chrono::steady_clock::now() < deadline && !stop_) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      request.append(buf, static_cast<std::size_t>(n));
    }
    const std::size_t sp1 = request.find(' ');
    const std::size_t sp2 = request.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos) return;
    std::string path = request.substr(sp1 + 1, sp2 - sp1 - 1);
    path = path.substr(0, path.find('?'));
    std::map<std::string, std::string> headers;
    std::size_t at = request.find("\r\n");
    while (at != std::string::npos) {
      const std::size_t end = request.find("\r\n", at + 2);
      if (end == std::string::npos || end == at + 2) break;
      const std::string line = request.substr(at + 2, end - at - 2);
      const std::size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        std::size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') ++v;
        headers[name] = line.substr(v);
      }
      at = end;
    }
    Response r;
    {
      std::lock_guard<std::mutex> lock(mu_);
      headers_[path] = std::move(headers);
      ++hits_[path];
      auto it = routes_.find(path);
      if (it == routes_.end()) {
        r.status = 404;
        r.body = "not found\n";
      } else {
        r = it->second;
      }
    }
    std::string out = "HTTP/1.1 " + std::to_string(r.status) +
                      " X\r\nContent-Type: " + r.content_type +
                      "\r\nContent-Length: " + std::to_string(r.body.size()) +
                      "\r\nConnection: close\r\n\r\n" + r.body;
    std::size_t sent = 0;
    while (sent < out.size()) {
      ssize_t n = ::send(c, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<std::size_t>(n);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<std::string, Response> routes_;
  std::map<std::string, std::map<std::string, std::string>> headers_;
  std::map<std::string, int> hits_;
};

/// A port that accepts connections (the kernel completes the handshake) but never answers:
/// requests to it time out.
class SilentPort {
 public:
  SilentPort() {
    int port = 0;
    fd_ = listen_loopback(port);
    port_ = port;
  }
  ~SilentPort() { ::close(fd_); }
  SilentPort(const SilentPort&) = delete;
  SilentPort& operator=(const SilentPort&) = delete;
  int port() const { return port_; }
  std::string url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

/// The Prometheus binary: $STAGECHECK_PROMETHEUS, else `prometheus` on PATH; empty if none.
inline std::string find_prometheus() {
  if (const char* p = std::getenv("STAGECHECK_PROMETHEUS"); p != nullptr && *p != '\0') return p;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string candidate = dirs.substr(start, end - start) + "/prometheus";
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

/// Stops a server this harness started: SIGTERM, up to 10 s, then SIGKILL; removes its folder.
/// Idempotent (`pid` becomes -1, `dir` empty).
inline void stop_server(int& pid, std::filesystem::path& dir) {
  if (pid > 0) {
    ::kill(pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid = -1;
  }
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    dir.clear();
  }
}

/// The last 2,000 bytes of a server's log file (for a start-up failure's message).
inline std::string log_tail(const std::filesystem::path& log) {
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

/// True when a missing server must fail the test instead of skipping it (CI=true).
inline bool servers_required() { return ::stagecheck::testing::ci_requires_servers(); }

/// A Prometheus server on a free loopback port with its own temporary TSDB, scraping the given
/// targets every `scrape_interval`. Stopped (SIGTERM, then SIGKILL after 10 s) and its folder
/// removed when the object dies.
class PrometheusServer {
 public:
  /// `targets`: job name -> "host:port" (metrics path /metrics).
  explicit PrometheusServer(std::vector<std::pair<std::string, std::string>> targets,
                            std::string scrape_interval = "1s")
      : targets_(std::move(targets)), interval_(std::move(scrape_interval)) {}
  ~PrometheusServer() { stop(); }
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  /// Starts the server and waits (<= 15 s) until it answers /-/ready. False with problem() set
  /// when the binary is missing or it did not come up.
  bool start() {
    const std::string binary = find_prometheus();
    if (binary.empty()) {
      problem_ = "prometheus not found on PATH (scripts/install-deps.sh --test installs it)";
      return false;
    }
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "stagecheck-prometheus-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      problem_ = "mkdtemp failed";
      return false;
    }
    dir_ = tmpl;
    {
      std::ofstream cfg(dir_ / "prometheus.yml");
      cfg << "global: {scrape_interval: " << interval_ << ", evaluation_interval: " << interval_
          << "}\nscrape_configs:\n";
      for (const auto& [job, address] : targets_) {
        cfg << "  - job_name: " << job << "\n    static_configs: [{targets: ['" << address
            << "']}]\n";
      }
    }
    port_ = free_port();
    const std::string config = "--config.file=" + (dir_ / "prometheus.yml").string();
    const std::string tsdb = "--storage.tsdb.path=" + (dir_ / "tsdb").string();
    const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
    const std::string log = (dir_ / "prometheus.log").string();
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
      ::execl(binary.c_str(), binary.c_str(), config.c_str(), tsdb.c_str(), listen.c_str(),
              "--log.level=warn", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      if (loopback_get(port_, "/-/ready", 500).first == 200) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        problem_ = "prometheus exited at start: " + log_tail(dir_ / "prometheus.log");
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    problem_ = "prometheus did not become ready within 15 s: " + log_tail(dir_ / "prometheus.log");
    stop();
    return false;
  }

  /// Waits (<= timeout) until `up{job="JOB"} == 1`, i.e. the first scrape of JOB landed.
  bool wait_up(const std::string& job, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    return wait_for("up%7Bjob%3D%22" + job + "%22%7D%3D%3D1", timeout);
  }

  /// Waits (<= timeout) until the URL-encoded instant query `encoded` returns a sample.
  bool wait_for(const std::string& encoded, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto [status, body] = loopback_get(port_, "/api/v1/query?query=" + encoded, 1000);
      if (status == 200 && body.find("\"value\"") != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    problem_ = "timed out waiting for " + encoded;
    return false;
  }

  /// SIGTERM, wait up to 10 s, then SIGKILL. Removes the folder. Idempotent.
  void stop() { stop_server(pid_, dir_); }

  int port() const { return port_; }
  /// "http://127.0.0.1:PORT".
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// Why start() or a wait failed.
  const std::string& problem() const { return problem_; }

 private:
  std::vector<std::pair<std::string, std::string>> targets_;
  std::string interval_;
  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string problem_;
};

}  // namespace stagecheck::testing
