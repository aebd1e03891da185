#pragma once
// Internal: the run history over SQL. One SqlHistory holds the queries and the schema, and
// talks to SQLite or PostgreSQL through a small SqlConnection (statements with $1..$N
// parameters, rows of text). Not installed.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "stagecheck/history.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck::detail {

/// A statement parameter: NULL, text, an integer or a real.
using SqlParam = std::variant<std::nullptr_t, std::string, std::int64_t, double>;
/// A row: each column as text, or nullopt for NULL.
using SqlRow = std::vector<std::optional<std::string>>;

struct SqlRows {
  std::vector<SqlRow> rows;
  std::size_t changes = 0;  ///< Rows inserted, updated or deleted by the statement.
};

/// One database connection. Not thread-safe: SqlHistory serialises every call.
class SqlConnection {
 public:
  virtual ~SqlConnection() = default;
  /// Runs one statement; parameters are written $1, $2, ... in `sql`.
  virtual Result<SqlRows> run(std::string_view sql, const std::vector<SqlParam>& params = {}) = 0;
  /// Reconnects if the connection was lost (PostgreSQL); called before every operation.
  virtual Result<void> ensure_connected() { return {}; }
  /// The statement that starts a write transaction ("BEGIN IMMEDIATE" on SQLite).
  virtual std::string_view begin_write() const = 0;
  /// A statement run first in the schema transaction to serialise concurrent creators; empty
  /// when the transaction itself does (SQLite's BEGIN IMMEDIATE).
  virtual std::string_view schema_lock() const = 0;
  /// A query with one parameter (a table name) returning one row with a count > 0 if it exists.
  virtual std::string_view table_exists() const = 0;
  /// Run after the schema is created (e.g. SQLite's PRAGMA user_version).
  virtual Result<void> after_create(int /*version*/) { return {}; }
  /// The schema version kept outside the tables (SQLite's user_version), 0 if none.
  virtual Result<int> outer_version() { return 0; }
  /// Strips secrets (a password) from a message before it leaves the history.
  virtual std::string scrub(std::string message) const { return message; }
};

/// The History over a SqlConnection.
class SqlHistory final : public History {
 public:
  static constexpr int kSchemaVersion = 1;

  /// Checks (and, if missing, creates) the schema; refuses a newer one.
  static Result<std::unique_ptr<History>> open(std::unique_ptr<SqlConnection> conn,
                                               std::string description);

  std::string describe() const override { return description_; }
  Result<void> record(const Report& report) override;
  Result<std::vector<HistoryRun>> list(const HistoryQuery& query) const override;
  Result<nlohmann::json> report(std::string_view run_id) const override;
  Result<std::vector<PastObservation>> observations(std::string_view key, std::string_view check_id,
                                                    std::size_t limit) const override;
  Result<std::size_t> prune(const Retention& retention) override;

 private:
  SqlHistory(std::unique_ptr<SqlConnection> conn, std::string description)
      : conn_(std::move(conn)), description_(std::move(description)) {}
  Result<void> init_schema();
  Result<int> stored_version();
  Result<std::string> resolve(std::string_view prefix) const;
  Error fail(const Error& e, std::string_view what) const;

  mutable std::mutex mu_;
  std::unique_ptr<SqlConnection> conn_;
  std::string description_;
};

/// SQLite at `path` (created if missing and `create`).
Result<std::unique_ptr<History>> open_sqlite_history(const std::string& path, bool create);
/// PostgreSQL at a libpq URI.
Result<std::unique_ptr<History>> open_postgres_history(const std::string& url);

/// Milliseconds since the epoch of an RFC 3339 UTC time ("2026-01-02T03:04:05.678Z"), or
/// nullopt if it is not one.
std::optional<std::int64_t> rfc3339_to_unix_ms(std::string_view text);

}  // namespace stagecheck::detail
