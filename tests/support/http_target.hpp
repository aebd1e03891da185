#pragma once
// Real HTTP targets on loopback for tests and examples:
//  * HttpTarget: a small HTTP/1.1 server of our own (plain sockets, one thread per
//    connection, keep-alive) whose routes answer with any status, headers, body and delay,
//    and which records what it received;
//  * NginxTarget: nginx started as a child process on a free port, serving files from a
//    temporary folder (`nginx -c CONF -p PREFIX -g 'daemon off;'`).
// Both stop and clean up in their destructors. Header-only; POSIX.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace stagecheck::testing {

/// A free TCP port on 127.0.0.1 at the time of the call (nothing listens on it afterwards, so
/// it also serves as an "unreachable" target: connecting is refused).
inline int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

/// True if something accepts TCP connections on 127.0.0.1:port.
inline bool loopback_port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

/// What a route answers.
struct HttpReply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< Content-Length is added.
  int delay_ms = 0;  ///< Wait this long before answering (a deliberately slow endpoint).
};

/// One request as the target received it. Header names are lower case.
struct HttpSeen {
  std::string method;
  std::string path;  ///< With the query string.
  std::map<std::string, std::string> headers;
  std::string body;
};

/// A small HTTP/1.1 server on 127.0.0.1 (port chosen by the kernel). Routes match the path
/// without its query string; an unknown path answers 404 with a JSON body. Thread-safe.
class HttpTarget {
 public:
  using Handler = std::function<HttpReply(const HttpSeen&)>;

  HttpTarget() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) throw std::runtime_error("HttpTarget: socket failed");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 512) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("HttpTarget: bind/listen failed");
    }
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~HttpTarget() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    ::close(listen_fd_);
    std::vector<std::thread> conns;
    {
      std::lock_guard<std::mutex> lock(mu_);
      conns.swap(connections_);
    }
    for (auto& t : conns) t.join();
  }
  HttpTarget(const HttpTarget&) = delete;
  HttpTarget& operator=(const HttpTarget&) = delete;

  /// Answers `path` with `handler(request)`.
  void route(const std::string& path, Handler handler) {
    std::lock_guard<std::mutex> lock(mu_);
    routes_[path] = std::move(handler);
  }
  /// Answers `path` with a fixed reply.
  void route(const std::string& path, HttpReply reply) {
    route(path, [reply](const HttpSeen&) { return reply; });
  }
  /// Answers `path` with a JSON body and status.
  void json(const std::string& path, std::string body, int status = 200, int delay_ms = 0) {
    route(path,
          HttpReply{status, std::move(body), {{"Content-Type", "application/json"}}, delay_ms});
  }

  int port() const { return port_; }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  /// Every request received so far.
  std::vector<HttpSeen> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  /// How many requests reached `path` (query string ignored).
  std::size_t count(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<std::size_t>(std::count_if(seen_.begin(), seen_.end(), [&](const auto& s) {
      return s.path.substr(0, s.path.find('?')) == path;
    }));
  }
  /// Connections accepted so far (to show connection reuse).
  std::size_t connections() const { return accepted_.load(); }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ++accepted_;
      std::lock_guard<std::mutex> lock(mu_);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  }

  /// Waits for readable data; false when stopping or on a closed connection.
  bool read_more(int fd, std::string& buf) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, 20);
      if (r < 0) return false;
      if (r == 0) continue;
      char tmp[16384];
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(n));
      return true;
    }
    return false;
  }

  static bool send_all(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  static const char* reason(int status) {
    switch (status) {
      case 200:
        return "OK";
      case 201:
        return "Created";
      case 204:
        return "No Content";
      case 301:
        return "Moved Permanently";
      case 302:
        return "Found";
      case 400:
        return "Bad Request";
      case 401:
        return "Unauthorized";
      case 404:
        return "Not Found";
      case 500:
        return "Internal Server Error";
      case 503:
        return "Service Unavailable";
      default:
        return "Status";
    }
  }

  void serve(int fd) {
    std::string buf;
    while (!stop_) {
      std::size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (buf.size() > (1u << 20) || !read_more(fd, buf)) {
          ::close(fd);
          return;
        }
      }
      HttpSeen req;
      std::string head = buf.substr(0, end);
      buf.erase(0, end + 4);
      std::size_t line_end = head.find("\r\n");
      std::string line = head.substr(0, line_end);
      std::size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
      if (sp1 == std::string::npos || sp2 == sp1) break;
      req.method = line.substr(0, sp1);
      req.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
      std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        std::size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string h = head.substr(pos, e - pos);
        std::size_t colon = h.find(':');
        if (colon != std::string::npos) {
          std::string name = h.substr(0, colon);
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          std::string value = h.substr(colon + 1);
          value.erase(0, value.find_first_not_of(" \t"));
          req.headers[name] = value;
        }
        pos = e + 2;
      }
      std::size_t length = 0;
      if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
        length = std::stoul(it->second);
      }
      while (buf.size() < length) {
        if (!read_more(fd, buf)) {
          ::close(fd);
          return;
        }
      }
      req.body = buf.substr(0, length);
      buf.erase(0, length);

      Handler handler;
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen_.push_back(req);
        auto it = routes_.find(req.path.substr(0, req.path.find('?')));
        if (it != routes_.end()) handler = it->second;
      }
      HttpReply reply = handler ? handler(req) : HttpReply{404, R"({"error":"not found"})", {}, 0};
      for (int waited = 0; waited < reply.delay_ms && !stop_; waited += 5) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      std::string out =
          "HTTP/1.1 " + std::to_string(reply.status) + " " + reason(reply.status) + "\r\n";
      for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
      out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n\r\n";
      if (req.method != "HEAD") out += reply.body;
      bool close_after = false;
      if (auto it = req.headers.find("connection"); it != req.headers.end()) {
        close_after = it->second == "close";
      }
      if (!send_all(fd, out) || close_after) break;
    }
    ::close(fd);
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> accepted_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::map<std::string, Handler> routes_;
  std::vector<HttpSeen> seen_;
  std::vector<std::thread> connections_;
};

/// The nginx binary, or "" if none is installed. STAGECHECK_NGINX overrides the search (a
/// path that does not exist simulates a machine without nginx).
inline std::string nginx_binary() {
  if (const char* env = std::getenv("STAGECHECK_NGINX"); env != nullptr && *env != '\0') {
    return ::access(env, X_OK) == 0 ? std::string(env) : std::string();
  }
  for (const char* p : {"/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx",
                        "/usr/local/nginx/sbin/nginx"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

/// Files nginx serves: path relative to its root -> content.
using NginxFiles = std::map<std::string, std::string>;

/// nginx on 127.0.0.1 serving `files` (relative path -> content) from a temporary folder,
/// with `default_type application/json`, keep-alive, and no access log. `extra` is spliced
/// into the server block (e.g. more locations). Started in the constructor; ok() says whether
/// it is up (error() says why not); stopped (SIGQUIT, then SIGKILL) in the destructor.
class NginxTarget {
 public:
  explicit NginxTarget(const NginxFiles& files, std::string extra = "", int workers = 1) {
    namespace fs = std::filesystem;
    binary_ = nginx_binary();
    if (binary_.empty()) {
      error_ = "nginx is not installed";
      return;
    }
    std::string tmpl = (fs::temp_directory_path() / "stagecheck-nginx-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    prefix_ = tmpl;
    for (const auto& [rel, body] : files) {
      fs::path p = prefix_ / "html" / rel;
      fs::create_directories(p.parent_path());
      std::ofstream(p, std::ios::binary) << body;
    }
    fs::create_directories(prefix_ / "html");
    fs::create_directories(prefix_ / "tmp");
    // As root, nginx's workers would switch to `nobody`, who cannot read a 0700 mkdtemp folder.
    for (int attempt = 0; attempt < 5 && !ok(); ++attempt) {
      port_ = free_loopback_port();
      write_conf(extra, workers);
      start();
    }
  }
  ~NginxTarget() {
    if (pid_ > 0) {
      ::kill(pid_, SIGQUIT);
      for (int i = 0; i < 200 && !reap(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    std::error_code ec;
    if (!prefix_.empty()) std::filesystem::remove_all(prefix_, ec);
  }
  NginxTarget(const NginxTarget&) = delete;
  NginxTarget& operator=(const NginxTarget&) = delete;

  bool ok() const { return up_; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  const std::filesystem::path& prefix() const { return prefix_; }

 private:
  void write_conf(const std::string& extra, int workers) {
    std::string p = prefix_.string();
    std::ofstream conf(prefix_ / "nginx.conf", std::ios::trunc);
    if (::geteuid() == 0) conf << "user root;\n";
    conf << "worker_processes " << workers << ";\n"
         << "pid " << p << "/nginx.pid;\n"
         << "error_log " << p << "/error.log warn;\n"
         << "events { worker_connections 4096; }\n"
         << "http {\n"
         << "  access_log off;\n"
         << "  default_type application/json;\n"
         << "  keepalive_requests 1000000;\n"
         << "  client_body_temp_path " << p << "/tmp/body;\n"
         << "  proxy_temp_path " << p << "/tmp/proxy;\n"
         << "  fastcgi_temp_path " << p << "/tmp/fastcgi;\n"
         << "  uwsgi_temp_path " << p << "/tmp/uwsgi;\n"
         << "  scgi_temp_path " << p << "/tmp/scgi;\n"
         << "  server {\n"
         << "    listen 127.0.0.1:" << port_ << ";\n"
         << "    root " << p << "/html;\n"
         << "    location / { }\n"
         << extra << "\n"
         << "  }\n"
         << "}\n";
  }

  bool reap() {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return true;
    }
    return false;
  }

  void start() {
    std::string conf = (prefix_ / "nginx.conf").string();
    std::string p = prefix_.string();
    std::string err = (prefix_ / "error.log").string();
    pid_ = ::fork();
    if (pid_ < 0) {
      error_ = "fork failed";
      return;
    }
    if (pid_ == 0) {
      ::execl(binary_.c_str(), binary_.c_str(), "-e", err.c_str(), "-c", conf.c_str(), "-p",
              p.c_str(), "-g", "daemon off;", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      if (reap()) {
        std::ifstream in(err);
        error_ = "nginx exited at start-up: " +
                 std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        return;
      }
      if (loopback_port_open(port_)) {
        up_ = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    error_ = "nginx did not listen on port " + std::to_string(port_) + " within 5 s";
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string binary_;
  std::filesystem::path prefix_;
  std::string error_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool up_ = false;
};

}  // namespace stagecheck::testing
