// The `sql` plugin's database layer: SQLite through the sqlite3 C API, PostgreSQL through
// libpq's asynchronous API (so a hung server, a timeout or a cancelled run never blocks the
// check beyond its deadline). See db.hpp.

#include "db.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include <fmt/format.h>

namespace stagecheck::sql {

namespace {

using Clock = std::chrono::steady_clock;

/// Extra time the client waits beyond statement_timeout before it gives up on the server.
constexpr std::chrono::milliseconds kClientGrace{5000};
/// How often waits wake up to look at the cancellation flag.
constexpr int kPollSliceMs = 100;

// ---- text helpers -----------------------------------------------------------------------------

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xE  ? 3
                    : (c >> 3) == 0x1E ? 4
                                       : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

/// A JSON string for database text: invalid UTF-8 (a SQL_ASCII database, a BLOB cast to text)
/// is replaced rather than making the report unwritable.
Json text_value(std::string_view s) {
  if (valid_utf8(s)) return Json(std::string(s));
  return Json::parse(Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace));
}

std::string hex_bytes(const unsigned char* data, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + 2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 0xF];
  }
  return out;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view s) {
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s == "Infinity") return std::numeric_limits<double>::infinity();
  if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

/// A value to bind as text (PostgreSQL infers its type from where the parameter is used).
std::optional<std::string> pg_text(const Json& v) {
  if (v.is_null()) return std::nullopt;
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());
  return v.get<std::string>();
}

// ---- PostgreSQL ---------------------------------------------------------------------------------

/// Type OIDs of the built-in types that map to JSON values other than strings.
enum PgOid : Oid {
  kBool = 16,
  kBytea = 17,
  kInt8 = 20,
  kInt2 = 21,
  kInt4 = 23,
  kOid = 26,
  kJson = 114,
  kFloat4 = 700,
  kFloat8 = 701,
  kNumeric = 1700,
  kJsonb = 3802,
};

/// Deepest nesting of a json/jsonb value turned into a JSON document.
constexpr int kMaxJsonDepth = 256;

Json pg_value(Oid type, const char* data, int length) {
  std::string_view s(data, static_cast<std::size_t>(length));
  switch (type) {
    case kBool:
      if (s == "t") return true;
      if (s == "f") return false;
      break;
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid:
      if (auto v = parse_int(s)) return *v;
      break;
    case kFloat4:
    case kFloat8:
      if (auto v = parse_double(s)) return *v;
      break;
    case kNumeric: {
      // Integral values that fit are exact integers; others the nearest double (15-17
      // significant digits). A value beyond the double range stays text.
      if (s.find_first_of(".eE") == std::string_view::npos) {
        if (auto v = parse_int(s)) return *v;
      }
      if (auto v = parse_double(s);
          v && (std::isfinite(*v) || s == "NaN" || s == "Infinity" || s == "-Infinity")) {
        return *v;
      }
      break;
    }
    case kJson:
    case kJsonb: {
      try {
        return Json::parse(s, [](int depth, Json::parse_event_t, Json&) {
          if (depth > kMaxJsonDepth) throw std::runtime_error("nested too deeply");
          return true;
        });
      } catch (const std::exception&) {
        break;  // kept as text
      }
    }
    default:
      break;
  }
  return text_value(s);
}

/// Why a PostgreSQL error happened, as an Errc: connection, resource, timeout and
/// serialisation problems could not be evaluated; privilege problems are permission denied;
/// everything else (syntax, missing relation or column, bad input, a write) is the query's fault.
Errc pg_errc(std::string_view state) {
  if (state.size() != 5) return Errc::unavailable;
  if (state == "42501") return Errc::permission_denied;
  std::string_view cls = state.substr(0, 2);
  if (cls == "28") return Errc::permission_denied;
  if (cls == "08" || cls == "57" || cls == "53" || cls == "58" || cls == "40" || cls == "55" ||
      cls == "XX") {
    return Errc::unavailable;
  }
  return Errc::malformed;
}

/// A libpq message on one line: its continuation lines ("\n\tIs the server running...")
/// joined with spaces, the trailing newline dropped.
std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n') {
      while (i + 1 < s.size() && (s[i + 1] == '\t' || s[i + 1] == ' ')) ++i;
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

class PgSession final : public Session {
 public:
  PgSession(PGconn* conn, const ConnectOptions& options, std::function<bool()> cancelled)
      : conn_(conn),
        timeout_ms_(options.statement_timeout_ms),
        max_bytes_(options.max_result_bytes),
        cancelled_(std::move(cancelled)) {}

  ~PgSession() override {
    if (conn_ == nullptr) return;
    if (!broken_) {
      // Never keep anything: whatever happened in the transaction is rolled back.
      (void)simple("ROLLBACK", Clock::now() + std::chrono::seconds(5));
    }
    PQfinish(conn_);
  }

  PgSession(const PgSession&) = delete;
  PgSession& operator=(const PgSession&) = delete;

  /// Runs setup statements (simple protocol, several allowed).
  Result<void> simple(const std::string& sql, Clock::time_point deadline) {
    if (PQsendQuery(conn_, sql.c_str()) == 0) return lost();
    std::optional<Error> first;
    for (;;) {
      auto ready = wait_ready(deadline);
      if (!ready) return std::move(ready).error();
      PGresult* res = PQgetResult(conn_);
      if (res == nullptr) break;
      ExecStatusType st = PQresultStatus(res);
      if ((st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE) && !first) first = error_of(res);
      PQclear(res);
    }
    if (first) return *first;
    return {};
  }

  Result<QueryResult> query(const std::string& sql, const std::vector<Json>& params,
                            std::size_t row_cap) override {
    if (broken_) return make_error(Errc::unavailable, "the connection was lost earlier");
    std::vector<std::string> texts(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (auto t = pg_text(params[i])) {
        if (t->find('\0') != std::string::npos) {
          return make_error(Errc::malformed,
                            fmt::format("parameter ${} holds a NUL byte, which PostgreSQL text "
                                        "cannot carry",
                                        i + 1));
        }
        texts[i] = std::move(*t);
        values[i] = texts[i].c_str();
      }
    }
    if (PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                          values.data(), nullptr, nullptr, 0) == 0) {
      return lost();
    }
    // Single-row mode: rows arrive one by one, so the row cap bounds memory; beyond it the
    // query is cancelled.
    (void)PQsetSingleRowMode(conn_);
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_) + kClientGrace;
    QueryResult out;
    std::optional<Error> failure;
    bool cancelled_for_cap = false;
    bool have_columns = false;
    std::uint64_t bytes = 0;
    std::vector<Oid> types;
    for (;;) {
      auto ready = wait_ready(deadline);
      if (!ready) return std::move(ready).error();
      PGresult* res = PQgetResult(conn_);
      if (res == nullptr) break;
      ExecStatusType st = PQresultStatus(res);
      if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) {
        if (!have_columns) {
          int n = PQnfields(res);
          for (int c = 0; c < n; ++c) {
            out.columns.push_back(text_value(PQfname(res, c)).get<std::string>());
            types.push_back(PQftype(res, c));
          }
          have_columns = true;
        }
        for (int r = 0; r < PQntuples(res) && !failure; ++r) {
          if (out.rows.size() >= row_cap) {
            if (!cancelled_for_cap) {
              out.truncated = true;
              cancelled_for_cap = true;
              send_cancel();
            }
            break;
          }
          std::vector<Json> row;
          row.reserve(types.size());
          for (int c = 0; c < static_cast<int>(types.size()); ++c) {
            if (PQgetisnull(res, r, c) != 0) {
              row.emplace_back(nullptr);
              continue;
            }
            int len = PQgetlength(res, r, c);
            bytes += static_cast<std::uint64_t>(len);
            row.push_back(pg_value(types[static_cast<std::size_t>(c)], PQgetvalue(res, r, c), len));
          }
          if (bytes > max_bytes_ && !failure) {
            failure = make_error(
                Errc::too_large,
                fmt::format("the result holds more than {} bytes of values", max_bytes_));
            if (!cancelled_for_cap) {
              cancelled_for_cap = true;
              send_cancel();
            }
          }
          out.rows.push_back(std::move(row));
        }
      } else if (st == PGRES_COMMAND_OK || st == PGRES_EMPTY_QUERY) {
        if (st == PGRES_EMPTY_QUERY && !failure) {
          failure = make_error(Errc::malformed, "the query is empty");
        }
      } else if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE ||
                 st == PGRES_NONFATAL_ERROR) {
        const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        bool our_cancel = cancelled_for_cap && state != nullptr && std::strcmp(state, "57014") == 0;
        if (!our_cancel && !failure) failure = error_of(res);
      } else if (!failure) {
        failure =
            make_error(Errc::malformed, fmt::format("the statement returned {}, not rows (COPY and "
                                                    "replication commands are not queries)",
                                                    PQresStatus(st)));
      }
      PQclear(res);
    }
    if (failure) return *failure;
    return out;
  }

 private:
  /// Waits until a result can be read without blocking, watching the deadline and the run's
  /// cancellation.
  Result<void> wait_ready(Clock::time_point deadline) {
    for (;;) {
      if (PQconsumeInput(conn_) == 0) return lost();
      if (PQisBusy(conn_) == 0) return {};
      if (cancelled_ && cancelled_()) {
        send_cancel();
        broken_ = true;
        return make_error(Errc::interrupted,
                          "the run was interrupted while waiting for the server");
      }
      auto now = Clock::now();
      if (now >= deadline) {
        send_cancel();
        broken_ = true;
        return make_error(
            Errc::unavailable,
            fmt::format("no answer from the server within {} ms (statement_timeout "
                        "{} ms plus {} ms)",
                        timeout_ms_ + kClientGrace.count(), timeout_ms_, kClientGrace.count()));
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
      pollfd pfd{PQsocket(conn_), POLLIN, 0};
      int r = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, kPollSliceMs)));
      if (r < 0 && errno != EINTR) return lost();
    }
  }

  void send_cancel() {
    if (PGcancel* c = PQgetCancel(conn_)) {
      char buf[256];
      (void)PQcancel(c, buf, sizeof buf);
      PQfreeCancel(c);
    }
  }

  Error lost() {
    broken_ = true;
    return make_error(Errc::unavailable,
                      fmt::format("the connection failed: {}", trimmed(PQerrorMessage(conn_))));
  }

  Error error_of(const PGresult* res) {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    const char* hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
    const char* position = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
    std::string code = state != nullptr ? state : "";
    std::string msg = primary != nullptr ? primary : trimmed(PQresultErrorMessage(res));
    if (position != nullptr) msg += fmt::format(" (at character {})", position);
    if (detail != nullptr) msg += fmt::format("; {}", detail);
    if (hint != nullptr) msg += fmt::format("; hint: {}", hint);
    if (code == "57014") {
      return make_error(Errc::unavailable,
                        fmt::format("the statement timed out or was cancelled (statement_timeout "
                                    "{} ms): {} [SQLSTATE {}]",
                                    timeout_ms_, msg, code));
    }
    if (code == "25006") {
      return make_error(Errc::malformed,
                        fmt::format("the query tried to write in a read-only transaction: {} "
                                    "[SQLSTATE {}]",
                                    msg, code));
    }
    if (PQstatus(conn_) == CONNECTION_BAD) {
      broken_ = true;
      return make_error(Errc::unavailable, fmt::format("the connection failed: {}", msg));
    }
    return make_error(pg_errc(code),
                      code.empty() ? msg : fmt::format("{} [SQLSTATE {}]", msg, code));
  }

  PGconn* conn_;
  int timeout_ms_;
  std::uint64_t max_bytes_;
  std::function<bool()> cancelled_;
  bool broken_ = false;
};

Result<std::unique_ptr<Session>> open_pg(const ConnectOptions& o, std::function<bool()> cancelled) {
  const std::string timeout = std::to_string(o.connect_timeout_s);
  std::vector<const char*> keys = {"dbname", "connect_timeout", "fallback_application_name",
                                   "client_encoding"};
  std::vector<const char*> values = {o.uri.c_str(), timeout.c_str(), "stagecheck", "UTF8"};
  if (!o.password.empty()) {
    keys.push_back("password");
    values.push_back(o.password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectStartParams(keys.data(), values.data(), 1);
  if (conn == nullptr)
    return make_error(Errc::unavailable, "libpq could not allocate a connection");
  auto fail = [&](Errc code, std::string message) -> Error {
    PQfinish(conn);
    return make_error(code, std::move(message));
  };
  if (PQstatus(conn) == CONNECTION_BAD) {
    return fail(Errc::unavailable,
                fmt::format("cannot connect: {}", trimmed(PQerrorMessage(conn))));
  }
  const auto deadline = Clock::now() + std::chrono::seconds(o.connect_timeout_s);
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED) {
      return fail(Errc::unavailable,
                  fmt::format("cannot connect: {}", trimmed(PQerrorMessage(conn))));
    }
    if (cancelled && cancelled()) {
      return fail(Errc::interrupted, "the run was interrupted while connecting");
    }
    auto now = Clock::now();
    if (now >= deadline) {
      return fail(Errc::unavailable,
                  fmt::format("cannot connect: no answer within connect_timeout {} s",
                              o.connect_timeout_s));
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    pollfd pfd{PQsocket(conn), static_cast<short>(st == PGRES_POLLING_READING ? POLLIN : POLLOUT),
               0};
    int r = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, kPollSliceMs)));
    if (r < 0 && errno != EINTR) {
      return fail(Errc::unavailable, fmt::format("cannot connect: poll: {}", std::strerror(errno)));
    }
    if (r > 0) st = PQconnectPoll(conn);
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    return fail(Errc::unavailable,
                fmt::format("cannot connect: {}", trimmed(PQerrorMessage(conn))));
  }
  auto session = std::make_unique<PgSession>(conn, o, std::move(cancelled));
  // Bounded, stable output; then a transaction that sees one snapshot and writes nothing.
  // (Blocking mode: sending a small query cannot stall, and results are only read once
  // PQisBusy says they are complete.)
  const std::string settings = fmt::format(
      "SET statement_timeout = {0}; SET lock_timeout = {0}; "
      "SET idle_in_transaction_session_timeout = {1}; SET TimeZone = 'UTC'; "
      "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3{2}",
      o.statement_timeout_ms, o.statement_timeout_ms + 60000,
      o.read_only ? "; SET default_transaction_read_only = on" : "");
  const std::string begin =
      fmt::format("BEGIN ISOLATION LEVEL REPEATABLE READ{}", o.read_only ? " READ ONLY" : "");
  for (const std::string& sql : {settings, begin}) {
    auto r = session->simple(
        sql, Clock::now() + std::chrono::milliseconds(o.statement_timeout_ms) + kClientGrace);
    if (!r) {
      Error e = std::move(r).error();
      return make_error(e.code == Errc::interrupted ? Errc::interrupted : Errc::unavailable,
                        fmt::format("cannot set up the session: {}", e.message));
    }
  }
  return std::unique_ptr<Session>(std::move(session));
}

// ---- SQLite -------------------------------------------------------------------------------------

Errc sqlite_errc(int rc) {
  switch (rc & 0xFF) {
    case SQLITE_INTERRUPT:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:
      return Errc::unavailable;
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_NOLFS:
      return Errc::io_error;
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Errc::permission_denied;
    default:
      return Errc::malformed;  // SQLITE_ERROR (syntax, no such table), READONLY, CORRUPT, ...
  }
}

class SqliteSession final : public Session {
 public:
  SqliteSession(sqlite3* db, const ConnectOptions& o, std::function<bool()> cancelled)
      : db_(db),
        timeout_ms_(o.statement_timeout_ms),
        max_bytes_(o.max_result_bytes),
        cancelled_(std::move(cancelled)) {
    sqlite3_progress_handler(db_, 1000, &SqliteSession::progress, this);
  }
  ~SqliteSession() override {
    if (sqlite3_get_autocommit(db_) == 0)
      (void)sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close_v2(db_);
  }
  SqliteSession(const SqliteSession&) = delete;
  SqliteSession& operator=(const SqliteSession&) = delete;

  Result<void> exec(const char* sql) {
    start_clock();
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    if (rc != SQLITE_OK) return error_of(rc, msg);
    return {};
  }

  Result<QueryResult> query(const std::string& sql, const std::vector<Json>& params,
                            std::size_t row_cap) override {
    start_clock();
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), 0, &raw, &tail);
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
    if (rc != SQLITE_OK) return error_of(rc, sqlite3_errmsg(db_));
    if (!stmt) return make_error(Errc::malformed, "the query is empty");
    if (tail != nullptr && *tail != '\0') {
      sqlite3_stmt* next = nullptr;
      int rc2 = sqlite3_prepare_v3(db_, tail, -1, 0, &next, nullptr);
      bool more = next != nullptr;
      sqlite3_finalize(next);
      if (rc2 != SQLITE_OK || more) {
        return make_error(Errc::malformed,
                          "the query holds more than one statement (write exactly one)");
      }
    }
    auto bound = bind(stmt.get(), params);
    if (!bound) return std::move(bound).error();

    QueryResult out;
    int n = sqlite3_column_count(stmt.get());
    for (int c = 0; c < n; ++c) {
      const char* name = sqlite3_column_name(stmt.get(), c);
      out.columns.push_back(text_value(name != nullptr ? name : "").get<std::string>());
    }
    std::uint64_t bytes = 0;
    for (;;) {
      rc = sqlite3_step(stmt.get());
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return error_of(rc, sqlite3_errmsg(db_));
      if (out.rows.size() >= row_cap) {
        out.truncated = true;
        break;
      }
      std::vector<Json> row;
      row.reserve(static_cast<std::size_t>(n));
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(stmt.get(), c)) {
          case SQLITE_INTEGER:
            row.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt.get(), c)));
            bytes += 8;
            break;
          case SQLITE_FLOAT:
            row.emplace_back(sqlite3_column_double(stmt.get(), c));
            bytes += 8;
            break;
          case SQLITE_TEXT: {
            const auto* t = sqlite3_column_text(stmt.get(), c);
            auto len = static_cast<std::size_t>(sqlite3_column_bytes(stmt.get(), c));
            bytes += len;
            row.push_back(text_value(std::string_view(reinterpret_cast<const char*>(t), len)));
            break;
          }
          case SQLITE_BLOB: {
            const auto* b = static_cast<const unsigned char*>(sqlite3_column_blob(stmt.get(), c));
            auto len = static_cast<std::size_t>(sqlite3_column_bytes(stmt.get(), c));
            bytes += 2 * len;
            row.emplace_back(hex_bytes(b, len));
            break;
          }
          default:
            row.emplace_back(nullptr);
        }
      }
      if (bytes > max_bytes_) {
        return make_error(Errc::too_large,
                          fmt::format("the result holds more than {} bytes of values", max_bytes_));
      }
      out.rows.push_back(std::move(row));
    }
    return out;
  }

 private:
  /// Binds params[k-1] to every occurrence of $k / ?k (and to a bare `?` in position k).
  Result<void> bind(sqlite3_stmt* stmt, const std::vector<Json>& params) {
    int count = sqlite3_bind_parameter_count(stmt);
    std::vector<bool> used(params.size(), false);
    for (int idx = 1; idx <= count; ++idx) {
      const char* name = sqlite3_bind_parameter_name(stmt, idx);
      std::size_t number = static_cast<std::size_t>(idx);
      if (name != nullptr) {
        std::string_view nm(name);
        auto digits = nm.size() > 1 ? parse_int(nm.substr(1)) : std::nullopt;
        if ((nm.front() != '$' && nm.front() != '?') || !digits || *digits < 1) {
          return make_error(Errc::malformed,
                            fmt::format("named parameter {} is not supported: write $1..$n and "
                                        "give `params`",
                                        nm));
        }
        number = static_cast<std::size_t>(*digits);
      }
      if (number > params.size()) {
        return make_error(Errc::malformed,
                          fmt::format("the query uses parameter ${} but {} value(s) are given in "
                                      "params",
                                      number, params.size()));
      }
      used[number - 1] = true;
      const Json& v = params[number - 1];
      int rc = SQLITE_OK;
      if (v.is_null()) {
        rc = sqlite3_bind_null(stmt, idx);
      } else if (v.is_boolean()) {
        rc = sqlite3_bind_int(stmt, idx, v.get<bool>() ? 1 : 0);
      } else if (v.is_number_integer()) {
        rc = sqlite3_bind_int64(stmt, idx, v.get<std::int64_t>());
      } else if (v.is_number_unsigned()) {
        auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          rc = sqlite3_bind_double(stmt, idx, static_cast<double>(u));
        } else {
          rc = sqlite3_bind_int64(stmt, idx, static_cast<sqlite3_int64>(u));
        }
      } else if (v.is_number_float()) {
        rc = sqlite3_bind_double(stmt, idx, v.get<double>());
      } else {
        const auto& s = v.get_ref<const std::string&>();
        rc = sqlite3_bind_text64(stmt, idx, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      }
      if (rc != SQLITE_OK) return error_of(rc, sqlite3_errmsg(db_));
    }
    for (std::size_t i = 0; i < used.size(); ++i) {
      if (!used[i]) {
        return make_error(
            Errc::malformed,
            fmt::format("params[{}] (${}) is given but the query does not use it", i, i + 1));
      }
    }
    return {};
  }

  Error error_of(int rc, const std::string& message) {
    if ((rc & 0xFF) == SQLITE_INTERRUPT) {
      if (interrupted_by_run_) {
        return make_error(Errc::interrupted, "the run was interrupted during the query");
      }
      return make_error(
          Errc::unavailable,
          fmt::format("the statement timed out (statement_timeout {} ms)", timeout_ms_));
    }
    if ((rc & 0xFF) == SQLITE_READONLY) {
      return make_error(
          Errc::malformed,
          fmt::format("the query tried to write to a read-only database: {}", message));
    }
    if ((rc & 0xFF) == SQLITE_BUSY) {
      return make_error(Errc::unavailable, fmt::format("the database stayed locked for {} ms: {}",
                                                       timeout_ms_, message));
    }
    return make_error(sqlite_errc(rc), fmt::format("{} [{}]", message, sqlite3_errstr(rc)));
  }

  void start_clock() {
    deadline_ = Clock::now() + std::chrono::milliseconds(timeout_ms_);
    interrupted_by_run_ = false;
  }

  static int progress(void* self) {
    auto* s = static_cast<SqliteSession*>(self);
    if (s->cancelled_ && s->cancelled_()) {
      s->interrupted_by_run_ = true;
      return 1;
    }
    return Clock::now() >= s->deadline_ ? 1 : 0;
  }

  sqlite3* db_;
  int timeout_ms_;
  std::uint64_t max_bytes_;
  std::function<bool()> cancelled_;
  Clock::time_point deadline_;
  bool interrupted_by_run_ = false;
};

Result<std::unique_ptr<Session>> open_sqlite(const ConnectOptions& o,
                                             std::function<bool()> cancelled) {
  struct stat st {};
  if (::stat(o.sqlite_path.c_str(), &st) != 0) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) {
      return make_error(Errc::not_found, "the database file does not exist");
    }
    return make_error(e == EACCES ? Errc::permission_denied : Errc::io_error,
                      fmt::format("cannot stat the database file: {}", std::strerror(e)));
  }
  if (!S_ISREG(st.st_mode)) return make_error(Errc::not_a_file, "not a regular file");
  sqlite3* db = nullptr;
  int flags = (o.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(o.sqlite_path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return make_error(sqlite_errc(rc) == Errc::malformed ? Errc::io_error : sqlite_errc(rc),
                      fmt::format("cannot open the database: {}", msg));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, o.statement_timeout_ms);
  // No ATTACH (another file), no extensions, no schema-defined functions with side effects.
  sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
  auto session = std::make_unique<SqliteSession>(db, o, std::move(cancelled));
  if (o.read_only) {
    if (auto r = session->exec("PRAGMA query_only = ON"); !r) return std::move(r).error();
  }
  if (auto r = session->exec("BEGIN"); !r) return std::move(r).error();
  // Reads the schema now, so a file that is not a database fails here, naming the file.
  if (auto r = session->exec("SELECT count(*) FROM sqlite_master"); !r) {
    Error e = std::move(r).error();
    return make_error(e.code, fmt::format("not a readable SQLite database: {}", e.message));
  }
  return std::unique_ptr<Session>(std::move(session));
}

}  // namespace

Result<std::unique_ptr<Session>> open_session(const ConnectOptions& options,
                                              std::function<bool()> cancelled) {
  if (options.backend == Backend::sqlite) return open_sqlite(options, std::move(cancelled));
  return open_pg(options, std::move(cancelled));
}

// ---- URIs ---------------------------------------------------------------------------------------

namespace {

/// [begin, end) of the userinfo's password in `uri` (npos if none).
std::pair<std::size_t, std::size_t> userinfo_password(std::string_view uri) {
  std::size_t scheme = uri.find("://");
  if (scheme == std::string_view::npos) return {std::string_view::npos, 0};
  std::size_t start = scheme + 3;
  // As libpq: the userinfo ends at the first '@' before any '/'.
  std::size_t at = start;
  while (at < uri.size() && uri[at] != '@' && uri[at] != '/') ++at;
  if (at >= uri.size() || uri[at] != '@') return {std::string_view::npos, 0};
  std::size_t colon = uri.find(':', start);
  if (colon == std::string_view::npos || colon > at) return {std::string_view::npos, 0};
  return {colon + 1, at};
}

/// [begin, end) of the value of a `password=` query parameter (npos if none).
std::pair<std::size_t, std::size_t> query_password(std::string_view uri) {
  std::size_t q = uri.find('?');
  while (q != std::string_view::npos && q < uri.size()) {
    std::size_t name = q + 1;
    if (uri.substr(name, 9) == "password=") {
      std::size_t end = uri.find('&', name);
      return {name + 9, end == std::string_view::npos ? uri.size() : end};
    }
    q = uri.find('&', name);
  }
  return {std::string_view::npos, 0};
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      unsigned v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc() && p == s.data() + i + 3) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

}  // namespace

std::string redact_uri(std::string_view uri) {
  std::string out(uri);
  auto [qb, qe] = query_password(out);
  if (qb != std::string::npos) out.replace(qb, qe - qb, "***");
  auto [ub, ue] = userinfo_password(out);
  if (ub != std::string::npos) out.replace(ub, ue - ub, "***");
  return out;
}

std::string uri_password(std::string_view uri) {
  auto [qb, qe] = query_password(uri);
  if (qb != std::string_view::npos) return percent_decode(uri.substr(qb, qe - qb));
  auto [ub, ue] = userinfo_password(uri);
  if (ub != std::string_view::npos) return percent_decode(uri.substr(ub, ue - ub));
  return {};
}

Result<PgUriInfo> parse_pg_uri(const std::string& uri) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(uri.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err != nullptr ? trimmed(err) : "libpq could not parse it";
    PQfreemem(err);
    // libpq quotes the whole URI in some messages: never repeat it (it may hold a password).
    std::size_t quoted = msg.find(uri);
    if (quoted != std::string::npos) msg.replace(quoted, uri.size(), redact_uri(uri));
    std::string pw = uri_password(uri);
    for (std::size_t at = pw.empty() ? std::string::npos : msg.find(pw); at != std::string::npos;
         at = msg.find(pw)) {
      msg.replace(at, pw.size(), "***");
    }
    return make_error(Errc::spec_error, msg);
  }
  PgUriInfo info;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    std::string_view k(o->keyword);
    if (k == "password") info.has_password = true;
    if (k == "host" || k == "hostaddr") info.has_host = true;
    if (k == "dbname") info.has_dbname = true;
    if (k == "user") info.has_user = true;
  }
  PQconninfoFree(opts);
  info.display = redact_uri(uri);
  return info;
}

}  // namespace stagecheck::sql
