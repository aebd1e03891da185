#pragma once
/// \file
/// History: where finished runs are remembered (`--history URL`), for `stagecheck history`
/// and for the `drift` check, which compares a value with the same spec's earlier runs.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/export.hpp"
#include "stagecheck/report.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/status.hpp"

namespace stagecheck {

/// One recorded run, as `history list` shows it.
struct HistoryRun {
  std::string run_id;
  std::string spec_name;
  std::string spec_source;
  std::string spec_hash;
  std::string key;      ///< history_key(spec_name, vars): "the same spec and vars".
  nlohmann::json vars;  ///< The redacted vars, as in the report.
  std::string root;
  std::string started_at;  ///< RFC 3339 UTC.
  double duration_ms = 0.0;
  std::string verdict;  ///< "pass", "fail" or "no_verdict".
  int exit_code = 3;
  Summary summary;
};

/// One earlier observation of a check, for `drift`.
struct PastObservation {
  std::string run_id;
  std::string started_at;
  Status status = Status::error;
  nlohmann::json observed;  ///< The check's `observed`, as recorded.
};

/// Which runs to list (newest first).
struct HistoryQuery {
  std::string spec_name;           ///< Empty: every spec.
  std::optional<std::string> key;  ///< Only runs with this history_key.
  std::size_t limit = 20;          ///< 0: no limit.
};

/// What to keep; runs beyond either bound are deleted. Zero means no bound.
struct Retention {
  std::size_t keep_last = 0;        ///< Newest runs kept per spec name.
  std::chrono::seconds max_age{0};  ///< Runs older than this are deleted.
};

/// A run history (SQLite file, or PostgreSQL). Every method is thread-safe, and every write is
/// one transaction: a crash mid-write leaves the history as it was before it.
class STAGECHECK_API History {
 public:
  virtual ~History();
  /// The location, without any password (for messages).
  virtual std::string describe() const = 0;
  /// Records a finished run: its summary, every check's status, observed value and timing, and
  /// the whole JSON report. A run id already recorded is an error.
  virtual Result<void> record(const Report& report) = 0;
  /// Recorded runs, newest first.
  virtual Result<std::vector<HistoryRun>> list(const HistoryQuery& query) const = 0;
  /// The JSON report of one run, by id or by a prefix that names exactly one run (else
  /// Errc::not_found, or Errc::invalid_argument when the prefix names several).
  virtual Result<nlohmann::json> report(std::string_view run_id) const = 0;
  /// The last `limit` recorded observations of check `check_id` in runs with history_key
  /// `key`, newest first. The current run is not among them (it is recorded after it ends).
  /// `limit` 0: every one. Observed NaN and infinities come back as the strings "NaN",
  /// "Infinity" and "-Infinity", as in the JSON report.
  virtual Result<std::vector<PastObservation>> observations(std::string_view key,
                                                            std::string_view check_id,
                                                            std::size_t limit) const = 0;
  /// Deletes what `retention` does not keep; returns the number of runs deleted.
  virtual Result<std::size_t> prune(const Retention& retention) = 0;
};

/// How to open a history.
struct HistoryOpenOptions {
  /// Create a missing SQLite file (and the tables, on either backend). Off for readers such as
  /// `stagecheck history`, so that a mistyped path is an error, not a new empty history.
  bool create = true;
};

/// Opens (creating if needed) a history: `sqlite:///abs/path.db`, `sqlite:rel/path.db` or a
/// plain path for SQLite; `postgresql://...` or `postgres://...` (a libpq URI) for PostgreSQL.
/// SQLite runs in WAL mode with a busy timeout, so concurrent processes may record into one
/// file. A history written by a newer stagecheck (a newer schema) is refused. Errors never
/// carry a PostgreSQL password.
STAGECHECK_API Result<std::unique_ptr<History>> open_history(const std::string& url);
STAGECHECK_API Result<std::unique_ptr<History>> open_history(const std::string& url,
                                                             const HistoryOpenOptions& options);

/// "The same spec and vars": the spec's name and the canonical JSON of its redacted vars.
STAGECHECK_API std::string history_key(std::string_view spec_name, const nlohmann::json& vars);

}  // namespace stagecheck
