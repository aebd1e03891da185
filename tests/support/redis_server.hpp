#pragma once
/// \file
/// RedisServer: a real `redis-server` on a free loopback port for tests and examples, started
/// in a private temporary folder (no persistence) and stopped when the object dies; plus a tiny
/// RESP client (RedisServer::command) to seed data, so users of this header need no hiredis.
///
///     auto server = stagecheck::testing::RedisServer::start({.password = "s3cret"});
///     if (!server.ok()) { /* skip (or fail under CI=true) with server.error() */ }
///     server->command({"XADD", "events", "*", "k", "v"});
///     std::string url = server->url();  // redis://:s3cret@127.0.0.1:PORT/0
///
/// Header-only, POSIX, no dependency beyond the C++ standard library. Not thread-safe: use one
/// RedisServer (and its command()) from one thread at a time.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ci_mode.hpp"

extern char** environ;

namespace stagecheck::testing {

/// One RESP reply, as RedisServer::command returns it.
struct RedisReply {
  enum class Type { status, error, integer, bulk, nil, array };
  Type type = Type::nil;
  std::string str;  ///< status, error and bulk text
  long long integer = 0;
  std::vector<RedisReply> elements;  ///< array elements

  bool is_error() const { return type == Type::error; }
  /// A compact rendering for assertion messages.
  std::string to_string() const {
    switch (type) {
      case Type::status:
        return "+" + str;
      case Type::error:
        return "-" + str;
      case Type::integer:
        return std::to_string(integer);
      case Type::bulk:
        return "\"" + str + "\"";
      case Type::nil:
        return "(nil)";
      case Type::array: {
        std::string out = "[";
        for (std::size_t i = 0; i < elements.size(); ++i) {
          out += (i ? ", " : "") + elements[i].to_string();
        }
        return out + "]";
      }
    }
    return "?";
  }
};

/// The result of RedisServer::start: the server, or why it could not be started.
template <class T>
class StartResult {
 public:
  StartResult(std::unique_ptr<T> v) : value_(std::move(v)) {}   // NOLINT
  StartResult(std::string error) : error_(std::move(error)) {}  // NOLINT
  bool ok() const { return value_ != nullptr; }
  T* operator->() const { return value_.get(); }
  T& operator*() const { return *value_; }
  const std::string& error() const { return error_; }
  std::unique_ptr<T> release() { return std::move(value_); }

 private:
  std::unique_ptr<T> value_;
  std::string error_;
};

/// How RedisServer::start starts the server.
struct RedisServerOptions {
  std::string password;                 ///< --requirepass (empty: no password).
  bool unix_socket = false;             ///< Also listen on DIR/redis.sock (unix_socket_path()).
  std::string executable;               ///< Default: $REDIS_SERVER, else redis-server on PATH.
  std::vector<std::string> extra_args;  ///< Appended verbatim, e.g. {"--maxmemory", "64mb"}.
  std::chrono::milliseconds ready_timeout{5000};
};

/// A running redis-server child process.
class RedisServer {
 public:
  using Options = RedisServerOptions;

  /// The redis-server executable that start() would use, or "" if none is found.
  static std::string find_executable(const std::string& preferred = "") {
    if (!preferred.empty()) return is_executable(preferred) ? preferred : std::string();
    if (const char* env = std::getenv("REDIS_SERVER"); env != nullptr && *env != '\0') {
      return is_executable(env) ? std::string(env) : std::string();
    }
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      if (dir.empty()) continue;
      std::string candidate = dir + "/redis-server";
      if (is_executable(candidate)) return candidate;
    }
    return "";
  }

  /// True when the environment says services are mandatory (CI=true): a test that cannot
  /// start redis-server must then fail instead of skipping.
  static bool required_by_ci() { return ::stagecheck::testing::ci_requires_servers(); }

  /// Starts a server on a free 127.0.0.1 port and waits until it answers PING. Retries on a
  /// port race (another process took the port between probing and binding).
  static StartResult<RedisServer> start(Options options = {}) {
    std::string exe = find_executable(options.executable);
    if (exe.empty()) {
      return std::string(
          "redis-server not found (install it with scripts/install-deps.sh --test, or set "
          "REDIS_SERVER)");
    }
    std::string last_error;
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto server = std::unique_ptr<RedisServer>(new RedisServer());
      auto err = server->launch(exe, options);
      if (!err) return StartResult<RedisServer>(std::move(server));
      last_error = *err;
    }
    return last_error;
  }

  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  /// The loopback port the server listens on.
  int port() const { return port_; }
  /// The password (empty if none).
  const std::string& password() const { return password_; }
  /// The unix socket path (empty unless Options::unix_socket).
  const std::string& unix_socket_path() const { return socket_path_; }
  /// The server's private folder (its log is `redis.log` there).
  const std::filesystem::path& dir() const { return dir_; }
  /// redis://[:PASSWORD@]127.0.0.1:PORT/DB
  std::string url(int db = 0) const {
    return "redis://" + (password_.empty() ? std::string() : ":" + password_ + "@") +
           "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }
  /// The server's log so far (for failure messages).
  std::string log() const {
    std::ifstream in(dir_ / "redis.log");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  /// Sends one command on a fresh connection (authenticating first if the server has a
  /// password) and returns the reply. A connection or protocol problem is returned as an
  /// error reply starting with "harness:". `db` selects a database first.
  RedisReply command(const std::vector<std::string>& args, int db = 0) const {
    Connection conn;
    if (auto err = conn.open(port_)) return harness_error(*err);
    if (!password_.empty()) {
      RedisReply auth = conn.call({"AUTH", password_});
      if (auth.is_error()) return auth;
    }
    if (db != 0) {
      RedisReply sel = conn.call({"SELECT", std::to_string(db)});
      if (sel.is_error()) return sel;
    }
    return conn.call(args);
  }

  /// Stops the server (SIGTERM, then SIGKILL after 3 s) and removes its folder. Idempotent.
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
      int status = 0;
      while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      pid_ = -1;
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  /// A free loopback TCP port (bound to port 0, read back, released). Another process may
  /// take it before it is used; start() retries for that reason.
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
  }

 private:
  /// A blocking client connection with a 5 s send/receive timeout.
  class Connection {
   public:
    ~Connection() {
      if (fd_ >= 0) ::close(fd_);
    }
    std::optional<std::string> open(int port) {
      fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd_ < 0) return std::string("socket: ") + std::strerror(errno);
      timeval tv{5, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<std::uint16_t>(port));
      if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        return std::string("connect 127.0.0.1:") + std::to_string(port) + ": " +
               std::strerror(errno);
      }
      return std::nullopt;
    }
    RedisReply call(const std::vector<std::string>& args) {
      std::string req = "*" + std::to_string(args.size()) + "\r\n";
      for (const auto& a : args) req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
      std::size_t sent = 0;
      while (sent < req.size()) {
        ssize_t n = ::send(fd_, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return harness_error(std::string("send: ") + std::strerror(errno));
        sent += static_cast<std::size_t>(n);
      }
      RedisReply reply;
      if (auto err = read_reply(reply, 0)) return harness_error(*err);
      return reply;
    }

   private:
    std::optional<std::string> fill() {
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0) return std::string("connection closed by the server");
      if (n < 0) return std::string("recv: ") + std::strerror(errno);
      buf_.append(chunk, static_cast<std::size_t>(n));
      return std::nullopt;
    }
    std::optional<std::string> line(std::string& out) {
      std::size_t at;
      while ((at = buf_.find("\r\n", pos_)) == std::string::npos) {
        if (auto err = fill()) return err;
      }
      out = buf_.substr(pos_, at - pos_);
      pos_ = at + 2;
      return std::nullopt;
    }
    std::optional<std::string> read_reply(RedisReply& r, int depth) {
      if (depth > 32) return std::string("reply nested too deep");
      std::string l;
      if (auto err = line(l)) return err;
      if (l.empty()) return std::string("empty reply line");
      const char kind = l[0];
      const std::string rest = l.substr(1);
      switch (kind) {
        case '+':
          r.type = RedisReply::Type::status;
          r.str = rest;
          return std::nullopt;
        case '-':
          r.type = RedisReply::Type::error;
          r.str = rest;
          return std::nullopt;
        case ':':
          r.type = RedisReply::Type::integer;
          r.integer = std::stoll(rest);
          return std::nullopt;
        case '$': {
          long long n = std::stoll(rest);
          if (n < 0) {
            r.type = RedisReply::Type::nil;
            return std::nullopt;
          }
          while (buf_.size() - pos_ < static_cast<std::size_t>(n) + 2) {
            if (auto err = fill()) return err;
          }
          r.type = RedisReply::Type::bulk;
          r.str = buf_.substr(pos_, static_cast<std::size_t>(n));
          pos_ += static_cast<std::size_t>(n) + 2;
          return std::nullopt;
        }
        case '*': {
          long long n = std::stoll(rest);
          if (n < 0) {
            r.type = RedisReply::Type::nil;
            return std::nullopt;
          }
          r.type = RedisReply::Type::array;
          r.elements.resize(static_cast<std::size_t>(n));
          for (auto& e : r.elements) {
            if (auto err = read_reply(e, depth + 1)) return err;
          }
          return std::nullopt;
        }
        default:
          return std::string("unexpected reply line: ") + l;
      }
    }

    int fd_ = -1;
    std::string buf_;
    std::size_t pos_ = 0;
  };

  RedisServer() = default;

  static RedisReply harness_error(std::string message) {
    RedisReply r;
    r.type = RedisReply::Type::error;
    r.str = "harness: " + std::move(message);
    return r;
  }

  static bool is_executable(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
  }

  /// Starts the process; returns why it did not come up (the caller retries).
  std::optional<std::string> launch(const std::string& exe, const Options& options) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "stagecheck-redis-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return std::string("mkdtemp: ") + std::strerror(errno);
    dir_ = tmpl;
    port_ = free_port();
    if (port_ <= 0) return std::string("no free loopback port");
    password_ = options.password;
    std::vector<std::string> args = {exe,      "--port",       std::to_string(port_),
                                     "--bind", "127.0.0.1",    "--save",
                                     "",       "--appendonly", "no",
                                     "--dir",  dir_.string(),  "--daemonize",
                                     "no",     "--logfile",    (dir_ / "redis.log").string()};
    if (!options.password.empty()) {
      args.push_back("--requirepass");
      args.push_back(options.password);
    }
    if (options.unix_socket) {
      socket_path_ = (dir_ / "redis.sock").string();
      args.insert(args.end(), {"--unixsocket", socket_path_, "--unixsocketperm", "700"});
    }
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());

    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, (dir_ / "stdout").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return "posix_spawn " + exe + ": " + std::strerror(rc);
    pid_ = pid;

    auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "redis-server exited during start-up: " + log() + read_file(dir_ / "stdout");
      }
      RedisReply pong = command({"PING"});
      if (pong.type == RedisReply::Type::status && pong.str == "PONG" &&
          (!options.unix_socket || std::filesystem::exists(socket_path_))) {
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::string why = "redis-server did not answer PING on port " + std::to_string(port_) +
                      " within " + std::to_string(options.ready_timeout.count()) + " ms: " + log();
    stop();
    return why;
  }

  static std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  pid_t pid_ = -1;
  int port_ = -1;
  std::string password_;
  std::string socket_path_;
  std::filesystem::path dir_;
};

}  // namespace stagecheck::testing
