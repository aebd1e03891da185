#pragma once
// A real PostgreSQL server for tests: initdb into a fresh temporary folder, start on a free
// loopback port, run setup SQL with psql, stop and remove everything on destruction.
//
//     std::string why;
//     auto pg = stagecheck::testing::PostgresServer::start({}, &why);
//     if (!pg) { if (stagecheck::testing::ci_requires_services()) FAIL() << why; GTEST_SKIP() <<
//     why; } ASSERT_TRUE(pg->run_sql("CREATE TABLE t (id int)")) << pg->last_output(); std::string
//     url = pg->url();   // postgresql://postgres@127.0.0.1:PORT/postgres
//
// initdb refuses to run as root, so as root every server command runs as the `postgres` user
// (runuser), and the folder is handed to that user. initdb runs once per machine into a cached
// template (<tmp>/stagecheck-pg-template-<uid>-<n>, kept between runs); each server starts
// from a copy of it (about 0.1 s) and starts in about 0.2 s. Start one server per test binary
// or suite, lazily, only for the tests that need it (ctest runs every test in its own process).

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "ci_mode.hpp"

namespace stagecheck::testing {

/// True when the environment says services must be there (CI=true): a missing PostgreSQL is
/// then a test failure, not a skip.
inline bool ci_requires_services() { return ::stagecheck::testing::ci_requires_servers(); }

/// A free TCP port on 127.0.0.1 (free when asked; the server may still lose a race for it,
/// which start() retries).
inline int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
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

/// Where the PostgreSQL binaries are: $STAGECHECK_PG_BIN if set, else Debian's PostgreSQL 15.
inline std::string default_bin_dir() {
  const char* dir = std::getenv("STAGECHECK_PG_BIN");
  return dir != nullptr && *dir != '\0' ? dir : "/usr/lib/postgresql/15/bin";
}

/// One running PostgreSQL server, owned by this object.
class PostgresServer {
 public:
  struct Options {
    /// Folder holding initdb, pg_ctl and psql: $STAGECHECK_PG_BIN, else Debian's PostgreSQL 15.
    std::string bin_dir = default_bin_dir();
    /// pg_hba.conf lines placed before the final `trust` lines, e.g.
    /// "host all auditor 127.0.0.1/32 scram-sha-256" to make one role need a password.
    std::vector<std::string> hba_lines;
    /// Extra `-c name=value` server settings.
    std::vector<std::string> settings;
  };

  /// Starts a server, or returns nullptr with `why` set (PostgreSQL not installed, no
  /// `postgres` user while running as root, initdb or start failed: the log is in `why`).
  static std::unique_ptr<PostgresServer> start(const Options& options, std::string* why) {
    namespace fs = std::filesystem;
    auto fail = [&](std::string message) -> std::unique_ptr<PostgresServer> {
      if (why != nullptr) *why = std::move(message);
      return nullptr;
    };
    for (const char* tool : {"initdb", "pg_ctl", "psql"}) {
      if (::access((options.bin_dir + "/" + tool).c_str(), X_OK) != 0) {
        return fail("PostgreSQL is not installed (no " + options.bin_dir + "/" + tool +
                    "; run scripts/install-deps.sh --test)");
      }
    }
    std::unique_ptr<PostgresServer> s(new PostgresServer());
    s->bin_ = options.bin_dir;
    std::string tmpl = (fs::temp_directory_path() / "stagecheck-pg-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return fail("mkdtemp failed");
    s->dir_ = tmpl;
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) return fail("running as root and there is no 'postgres' user for initdb");
      if (::chown(s->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        return fail("cannot hand " + s->dir_ + " to the postgres user");
      }
      s->as_user_ = "runuser -u postgres -- ";
    }
    ::chmod(s->dir_.c_str(), 0755);
    const std::string data = s->dir_ + "/data";
    // initdb once per machine and user (a cached template), then a copy per server: copying
    // takes a tenth of initdb's time, which matters when every test runs in its own process.
    std::string tmpl_data = s->template_data(why);
    if (tmpl_data.empty()) return nullptr;
    if (!s->sh(s->as_user_ + "cp -a '" + tmpl_data + "' '" + data + "'")) {
      return fail("cannot copy the initdb template " + tmpl_data + ": " + s->output_);
    }
    {
      std::ofstream hba(data + "/pg_hba.conf", std::ios::trunc);
      for (const auto& line : options.hba_lines) hba << line << "\n";
      hba << "local all all trust\nhost all all 127.0.0.1/32 trust\n";
    }
    std::string extra;
    for (const auto& setting : options.settings) extra += " -c " + setting;
    for (int attempt = 0; attempt < 3; ++attempt) {
      s->port_ = free_loopback_port();
      if (s->port_ <= 0) return fail("no free loopback port");
      if (s->sh(s->as_user_ + "'" + s->bin_ + "/pg_ctl' -D '" + data + "' -l '" + s->dir_ +
                "/server.log' -w -t 30 -o \"-p " + std::to_string(s->port_) + " -k '" + s->dir_ +
                "' -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
                "-c synchronous_commit=off" +
                extra + "\" start")) {
        s->running_ = true;
        return s;
      }
    }
    std::ifstream log(s->dir_ + "/server.log");
    std::stringstream text;
    text << log.rdbuf();
    return fail("pg_ctl start failed: " + s->output_ + "\n" + text.str());
  }

  ~PostgresServer() {
    if (running_) {
      (void)sh(as_user_ + "'" + bin_ + "/pg_ctl' -D '" + dir_ + "/data' -m immediate -w stop");
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1"; }
  /// The server's folder (its log is server.log there).
  const std::string& dir() const { return dir_; }

  /// A libpq URI for `user` on `database` (with `password` when given).
  std::string url(const std::string& user = "postgres", const std::string& database = "postgres",
                  const std::string& password = "") const {
    return "postgresql://" + user + (password.empty() ? "" : ":" + password) +
           "@127.0.0.1:" + std::to_string(port_) + "/" + database;
  }

  /// Runs SQL (several statements allowed) as the superuser with psql, stopping at the first
  /// error. False on error; last_output() has psql's output.
  bool run_sql(const std::string& sql, const std::string& database = "postgres") {
    const std::string file = dir_ + "/setup.sql";
    {
      std::ofstream out(file, std::ios::trunc);
      out << sql;
    }
    ::chmod(file.c_str(), 0644);
    return sh("'" + bin_ + "/psql' -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " +
              std::to_string(port_) + " -U postgres -d '" + database + "' -f '" + file + "'");
  }

  /// The output of the last command (psql, pg_ctl).
  const std::string& last_output() const { return output_; }

 private:
  PostgresServer() = default;

  /// The cached initdb output (`<tmp>/stagecheck-pg-template-<uid>-<hash of bin_dir>/data`),
  /// made on first use: initdb into a fresh folder, then an atomic rename, so concurrent test
  /// processes never see half a template. "" with `why` set on failure.
  std::string template_data(std::string* why) {
    namespace fs = std::filesystem;
    const fs::path final_dir =
        fs::temp_directory_path() / ("stagecheck-pg-template-" + std::to_string(::geteuid()) + "-" +
                                     std::to_string(std::hash<std::string>{}(bin_) % 1000000007u));
    const std::string data = (final_dir / "data").string();
    if (::access((data + "/PG_VERSION").c_str(), R_OK) == 0) return data;
    std::string staging = (fs::temp_directory_path() / "stagecheck-pg-staging-XXXXXX").string();
    if (::mkdtemp(staging.data()) == nullptr) {
      if (why != nullptr) *why = "mkdtemp failed";
      return "";
    }
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr || ::chown(staging.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        if (why != nullptr) *why = "cannot hand " + staging + " to the postgres user";
        return "";
      }
    }
    ::chmod(staging.c_str(), 0755);
    if (!sh(as_user_ + "'" + bin_ + "/initdb' -D '" + staging +
            "/data' -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync")) {
      if (why != nullptr) *why = "initdb failed: " + output_;
      std::error_code ec;
      fs::remove_all(staging, ec);
      return "";
    }
    if (::rename(staging.c_str(), final_dir.c_str()) != 0) {
      // Another process made it first: use theirs.
      std::error_code ec;
      fs::remove_all(staging, ec);
    }
    if (::access((data + "/PG_VERSION").c_str(), R_OK) != 0) {
      if (why != nullptr) *why = "the initdb template " + data + " is unusable";
      return "";
    }
    return data;
  }

  /// Runs a shell command, keeping its output; true on exit status 0.
  bool sh(const std::string& command) {
    const std::string log = dir_ + "/command.log";
    int status = std::system((command + " >'" + log + "' 2>&1 </dev/null").c_str());
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    output_ = text.str();
    return status == 0;
  }

  std::string bin_;
  std::string dir_;
  std::string as_user_;
  std::string output_;
  int port_ = -1;
  bool running_ = false;
};

}  // namespace stagecheck::testing
