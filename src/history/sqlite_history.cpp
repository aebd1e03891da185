// The run history in a SQLite file: WAL mode, a busy timeout and BEGIN IMMEDIATE, so that
// several stagecheck processes can record into one file at once.

#include <sqlite3.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <variant>

#include <fmt/format.h>

#include "history/sql_history.hpp"
#include "text_util.hpp"

namespace stagecheck::detail {

namespace {

// How long a writer waits for another's transaction before giving up.
constexpr int kBusyTimeoutMs = 60'000;

// $N -> ?N (SQLite's numbered parameters).
std::string to_sqlite(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] == '$' && i + 1 < sql.size() &&
        std::isdigit(static_cast<unsigned char>(sql[i + 1])) != 0) {
      out += '?';
    } else {
      out += sql[i];
    }
  }
  return out;
}

class SqliteConnection final : public SqlConnection {
 public:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  ~SqliteConnection() override { sqlite3_close_v2(db_); }
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  Result<SqlRows> run(std::string_view sql, const std::vector<SqlParam>& params) override {
    const std::string text = to_sqlite(sql);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, text.c_str(), static_cast<int>(text.size()), &stmt, nullptr) !=
        SQLITE_OK) {
      return error();
    }
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(stmt, sqlite3_finalize);
    for (std::size_t i = 0; i < params.size(); ++i) {
      const int index = static_cast<int>(i) + 1;
      int rc = SQLITE_OK;
      if (const auto* s = std::get_if<std::string>(&params[i])) {
        rc = sqlite3_bind_text64(stmt, index, s->data(), s->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      } else if (const auto* n = std::get_if<std::int64_t>(&params[i])) {
        rc = sqlite3_bind_int64(stmt, index, *n);
      } else if (const auto* d = std::get_if<double>(&params[i])) {
        rc = sqlite3_bind_double(stmt, index, *d);
      } else {
        rc = sqlite3_bind_null(stmt, index);
      }
      if (rc != SQLITE_OK) return error();
    }
    SqlRows out;
    for (;;) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return error();
      const int columns = sqlite3_column_count(stmt);
      SqlRow row(static_cast<std::size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        if (sqlite3_column_type(stmt, c) == SQLITE_NULL) continue;
        const auto* bytes = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
        row[static_cast<std::size_t>(c)] =
            std::string(bytes, static_cast<std::size_t>(sqlite3_column_bytes(stmt, c)));
      }
      out.rows.push_back(std::move(row));
    }
    out.changes = static_cast<std::size_t>(sqlite3_changes(db_));
    return out;
  }

  std::string_view begin_write() const override { return "BEGIN IMMEDIATE"; }
  std::string_view schema_lock() const override { return ""; }
  std::string_view table_exists() const override {
    return "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1";
  }
  Result<void> after_create(int version) override {
    auto ok = run(fmt::format("PRAGMA user_version = {}", version), {});
    if (!ok) return std::move(ok).error();
    return {};
  }
  Result<int> outer_version() override {
    auto rows = run("PRAGMA user_version", {});
    if (!rows) return std::move(rows).error();
    if (rows->rows.empty() || !rows->rows.front().at(0)) return 0;
    return std::atoi(rows->rows.front().at(0)->c_str());
  }

 private:
  Error error() const {
    const int code = sqlite3_extended_errcode(db_);
    const int primary = code & 0xff;
    Errc errc = Errc::io_error;
    if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) errc = Errc::malformed;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) errc = Errc::unavailable;
    if (primary == SQLITE_PERM || primary == SQLITE_READONLY || primary == SQLITE_AUTH) {
      errc = Errc::permission_denied;
    }
    if (primary == SQLITE_CONSTRAINT) errc = Errc::invalid_argument;
    return make_error(errc, sqlite3_errmsg(db_));
  }

  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<History>> open_sqlite_history(const std::string& path, bool create) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path full = fs::absolute(path, ec);
  if (ec) full = path;
  const std::string where = full.lexically_normal().string();
  const std::string shown = printable(where);
  if (!create && ::access(where.c_str(), F_OK) != 0) {
    return make_error(Errc::not_found, fmt::format("no history at {} (no such file)", shown));
  }
  if (fs::is_directory(where, ec)) {
    return make_error(Errc::not_a_file,
                      fmt::format("history {}: is a folder, expected a SQLite file", shown));
  }
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
                    SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc = sqlite3_open_v2(where.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return make_error((rc & 0xff) == SQLITE_CANTOPEN ? Errc::not_found : Errc::io_error,
                      fmt::format("history {}: cannot open: {}", shown, why));
  }
  auto conn = std::make_unique<SqliteConnection>(db);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  sqlite3_extended_result_codes(db, 1);
  // WAL: readers never block the writer, and a crash mid-write leaves the last commit.
  for (const char* pragma :
       {"PRAGMA foreign_keys = ON", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"}) {
    if (auto ok = conn->run(pragma, {}); !ok) {
      return make_error(
          ok.error().code,
          fmt::format("history {}: {}", shown,
                      ok.error().code == Errc::malformed
                          ? "not a SQLite database, or a damaged one (" + ok.error().message + ")"
                          : ok.error().message));
    }
  }
  return SqlHistory::open(std::move(conn), where);
}

}  // namespace stagecheck::detail
