#pragma once
// Test helper: a loopback HTTP/1.1 proxy between a store and its server (s3rver) that injects
// faults into chosen requests: an HTTP error status (503 storms, 429, 500, 400, 403), a
// connection reset, a stall (no byte until the proxy stops), a truncated body (the full
// Content-Length announced, half the body sent, then close), and added latency.

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace stagecheck::testing {

class FaultProxy {
 public:
  enum class Fault { none, status, reset, stall, truncate };

  explicit FaultProxy(int upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket failed");
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("bind/listen failed");
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~FaultProxy() {
    stop_.store(true);
    acceptor_.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mutex_);
      workers.swap(workers_);
    }
    for (std::thread& t : workers) t.join();
    ::close(listen_fd_);
  }
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  /// The next `count` requests (every one if `count` < 0) get `fault`; `status` is the HTTP
  /// status for Fault::status.
  void inject(Fault fault, int count, int status = 503) {
    std::lock_guard lock(mutex_);
    fault_ = fault;
    remaining_ = count;
    status_ = status;
  }
  /// Injected statuses carry "Retry-After: <seconds>" (none if negative).
  void set_retry_after(int seconds) { retry_after_.store(seconds); }
  /// Delay before each request is answered.
  void set_latency(std::chrono::milliseconds latency) { latency_ms_.store(latency.count()); }
  /// Requests received so far (each attempt of a retried request counts).
  int requests() const { return requests_.load(); }
  /// Requests that got a fault.
  int faulted() const { return faulted_.load(); }
  /// TCP connections accepted from clients (fewer than requests when connections are reused).
  int connections() const { return connections_.load(); }
  /// The most requests that were being answered at the same time.
  int max_in_flight() const { return max_in_flight_.load(); }

 private:
  void accept_loop() {
    while (!stop_.load()) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      ++connections_;
      std::lock_guard lock(mutex_);
      workers_.emplace_back([this, client] { serve(client); });
    }
  }

  /// Waits for `fd` to be readable, checking stop_; false on stop or timeout.
  bool wait_readable(int fd, int timeout_ms = 30000) {
    for (int waited = 0; waited < timeout_ms && !stop_.load(); waited += 50) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }

  /// Reads one HTTP message head (through the blank line) into `head`, leaving any extra bytes
  /// in `extra`. False on EOF, error or stop.
  bool read_head(int fd, std::string& buffer, std::string& head) {
    for (;;) {
      const std::size_t end = buffer.find("\r\n\r\n");
      if (end != std::string::npos) {
        head = buffer.substr(0, end + 4);
        buffer.erase(0, end + 4);
        return true;
      }
      if (!wait_readable(fd)) return false;
      char chunk[65536];
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
  }

  bool read_exactly(int fd, std::string& buffer, std::size_t size) {
    while (buffer.size() < size) {
      if (!wait_readable(fd)) return false;
      char chunk[65536];
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    return true;
  }

  static std::optional<std::size_t> content_length(const std::string& head) {
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::size_t at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return std::nullopt;
    return static_cast<std::size_t>(std::stoull(head.substr(at + 17)));
  }

  static bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Sends `request` to the upstream on a fresh connection; the response head and body.
  bool forward(const std::string& request, bool head_only, std::string& head, std::string& body) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(upstream_port_));
    bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
              send_all(fd, request);
    std::string buffer;
    ok = ok && read_head(fd, buffer, head);
    if (ok && !head_only) {
      if (std::optional<std::size_t> length = content_length(head)) {
        ok = read_exactly(fd, buffer, *length);
        body = buffer.substr(0, *length);
      } else {
        // No Content-Length: read to the end of a chunked body (or of the connection).
        while (buffer.find("\r\n0\r\n\r\n") == std::string::npos && wait_readable(fd, 5000)) {
          char chunk[65536];
          const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
          if (n <= 0) break;
          buffer.append(chunk, static_cast<std::size_t>(n));
        }
        body = buffer;
      }
    }
    if (fd >= 0) ::close(fd);
    return ok;
  }

  void serve(int client) {
    std::string buffer;
    while (!stop_.load()) {
      std::string head;
      if (!read_head(client, buffer, head)) break;
      const std::size_t length = content_length(head).value_or(0);
      if (!read_exactly(client, buffer, length)) break;
      const std::string request = head + buffer.substr(0, length);
      buffer.erase(0, length);
      const bool is_head = head.rfind("HEAD ", 0) == 0;
      ++requests_;
      struct InFlight {
        FaultProxy& p;
        explicit InFlight(FaultProxy& proxy) : p(proxy) {
          const int now = ++p.in_flight_;
          int seen = p.max_in_flight_.load();
          while (now > seen && !p.max_in_flight_.compare_exchange_weak(seen, now)) {
          }
        }
        ~InFlight() { --p.in_flight_; }
      } in_flight(*this);
      Fault fault = Fault::none;
      int status = 503;
      {
        std::lock_guard lock(mutex_);
        if (remaining_ != 0) {
          fault = fault_;
          status = status_;
          if (remaining_ > 0) --remaining_;
        }
      }
      if (fault != Fault::none) ++faulted_;
      if (const long latency = latency_ms_.load(); latency > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(latency));
      }
      if (fault == Fault::status) {
        const std::string xml =
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>Injected" +
            std::to_string(status) + "</Code><Message>injected by the test proxy</Message></Error>";
        const int retry_after = retry_after_.load();
        const std::string response =
            "HTTP/1.1 " + std::to_string(status) +
            " Injected\r\nContent-Type: application/xml\r\n" +
            (retry_after >= 0 ? "Retry-After: " + std::to_string(retry_after) + "\r\n"
                              : std::string()) +
            "Content-Length: " + std::to_string(xml.size()) + "\r\n\r\n" + (is_head ? "" : xml);
        if (!send_all(client, response)) break;
        continue;
      }
      if (fault == Fault::reset) {
        linger hard{1, 0};  // close() sends RST
        ::setsockopt(client, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        break;
      }
      if (fault == Fault::stall) {
        while (!stop_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        break;
      }
      std::string response_head, body;
      if (!forward(request, is_head, response_head, body)) break;
      if (fault == Fault::truncate) {
        send_all(client, response_head);
        send_all(client, std::string_view(body).substr(0, body.size() / 2));
        break;
      }
      if (!send_all(client, response_head) || !send_all(client, body)) break;
    }
    ::close(client);
  }

  int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
  Fault fault_ = Fault::none;
  int remaining_ = 0;
  int status_ = 503;
  std::atomic<long> latency_ms_{0};
  std::atomic<int> retry_after_{-1};
  std::atomic<int> requests_{0};
  std::atomic<int> faulted_{0};
  std::atomic<int> connections_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
};

}  // namespace stagecheck::testing
