#pragma once
/// \file
/// The `sql` plugin's database layer: one read-only session on SQLite (embedded) or PostgreSQL
/// (libpq), queries with bound parameters, results as JSON values, and errors as values whose
/// Errc decides the check's status (a query error fails; an unreachable server is `error`).
/// Private to the plugin.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <stagecheck/result.hpp>

namespace stagecheck::sql {

using Json = nlohmann::json;

/// Which engine a target names.
enum class Backend { sqlite, postgresql };

/// Everything needed to open a session, validated when the spec is loaded. Holds secrets:
/// never print it; use `display` in messages.
struct ConnectOptions {
  Backend backend = Backend::sqlite;
  /// PostgreSQL: the libpq URI as written (may carry a password). SQLite: unused.
  std::string uri;
  /// SQLite: the absolute database path.
  std::string sqlite_path;
  /// How the target is shown in messages and reports: a URL with any password replaced by ***.
  std::string display;
  /// PostgreSQL: a password given outside the URI (wins over the URI's); empty: none.
  std::string password;
  int connect_timeout_s = 10;
  int statement_timeout_ms = 30000;
  /// BEGIN ... READ ONLY / SQLITE_OPEN_READONLY + PRAGMA query_only. Either way every session
  /// ends in ROLLBACK.
  bool read_only = true;
  /// Largest total size of the values of one result (bytes of their text); more fails.
  std::uint64_t max_result_bytes = 64ull << 20;
};

/// One query's result: column names and rows (values in column order).
struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<Json>> rows;
  bool truncated = false;  ///< More rows existed than the row cap allowed to fetch.
};

/// One open session inside one transaction (a consistent snapshot for all of a check's
/// queries), rolled back and closed on destruction. Used by one thread.
class Session {
 public:
  virtual ~Session() = default;
  /// Runs one statement with `params` bound to `$1..$n` (SQLite also takes `?n` and `?`).
  /// Fetches at most `row_cap` rows (`truncated` tells if there were more). Errors:
  /// Errc::malformed for a query the database rejected (syntax, missing table or column,
  /// invalid input, an attempted write) — a failure; Errc::unavailable (connection lost,
  /// timeout, lock), Errc::permission_denied, Errc::interrupted — could not be evaluated.
  virtual Result<QueryResult> query(const std::string& sql, const std::vector<Json>& params,
                                    std::size_t row_cap) = 0;
};

/// Opens a session. `cancelled` is polled while waiting (may be empty). Errors: an unreachable
/// server, a refused login, a timeout: Errc::unavailable or Errc::permission_denied; an absent
/// SQLite file: Errc::not_found; a file that is not a database: Errc::malformed.
Result<std::unique_ptr<Session>> open_session(const ConnectOptions& options,
                                              std::function<bool()> cancelled);

/// Parses a `postgresql://` URI with libpq (no connection). On success fills `display` (the
/// URI with its password replaced) and says whether it names a password, host, database and
/// user. Errors never repeat the URI.
struct PgUriInfo {
  std::string display;
  bool has_password = false;
  bool has_host = false;
  bool has_dbname = false;
  bool has_user = false;
};
Result<PgUriInfo> parse_pg_uri(const std::string& uri);

/// The URI with the password (userinfo and `password=` query parameter) replaced by ***, for
/// URIs libpq could not even parse.
std::string redact_uri(std::string_view uri);

/// The password a URI carries in its userinfo or `password=` parameter (percent-decoded), or "".
std::string uri_password(std::string_view uri);

}  // namespace stagecheck::sql
