// The run history: open_history(), history_key() and the SQL that SQLite and PostgreSQL share.

#include "stagecheck/history.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "history/sql_history.hpp"
#include "stagecheck/json_reporter.hpp"
#include "text_util.hpp"

namespace stagecheck {

History::~History() = default;

std::string history_key(std::string_view spec_name, const nlohmann::json& vars) {
  nlohmann::json canonical = vars.is_null() ? nlohmann::json::object() : vars;
  detail::preserve_non_finite(canonical);
  // nlohmann keeps object keys sorted, so dump() is canonical.
  return fmt::format("{} {}", spec_name,
                     canonical.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Result<std::unique_ptr<History>> open_history(const std::string& url) {
  return open_history(url, HistoryOpenOptions{});
}

Result<std::unique_ptr<History>> open_history(const std::string& url,
                                              const HistoryOpenOptions& options) {
  if (url.empty()) return make_error(Errc::invalid_argument, "the history URL is empty");
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
    return detail::open_postgres_history(url);
  }
  std::string path;
  if (url.rfind("sqlite://", 0) == 0) {
    // sqlite:///abs/path: an empty authority, then the absolute path.
    path = url.substr(9);
    if (path.empty() || path.front() != '/') {
      return make_error(Errc::invalid_argument,
                        fmt::format("history URL '{}': expected sqlite:///ABSOLUTE/PATH.db or "
                                    "sqlite:RELATIVE/PATH.db",
                                    detail::printable(url)));
    }
  } else if (url.rfind("sqlite:", 0) == 0) {
    path = url.substr(7);
  } else if (url.find("://") != std::string::npos) {
    return make_error(
        Errc::invalid_argument,
        fmt::format("history URL '{}': unsupported scheme (expected sqlite:, postgresql:// or "
                    "postgres://, or a file path)",
                    detail::printable(url.substr(0, url.find("://") + 3))));
  } else {
    path = url;
  }
  if (path.empty()) {
    return make_error(Errc::invalid_argument,
                      fmt::format("history URL '{}' names no file", detail::printable(url)));
  }
  return detail::open_sqlite_history(path, options.create);
}

namespace detail {

namespace {

using nlohmann::json;

std::string dump(const json& value) {
  json copy = value;
  preserve_non_finite(copy);
  return copy.dump(-1, ' ', false, json::error_handler_t::replace);
}

double finite_or_zero(double value) { return std::isfinite(value) ? value : 0.0; }

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string text(const std::optional<std::string>& value) { return value.value_or(""); }

double number(const std::optional<std::string>& value) {
  if (!value) return 0.0;
  return std::strtod(value->c_str(), nullptr);
}

json counts_json(const Summary& s) {
  json out = json::object();
  out["total"] = s.total;
  out["pass"] = s.pass;
  out["fail"] = s.fail;
  out["warn"] = s.warn;
  out["skipped"] = s.skipped;
  out["blocked"] = s.blocked;
  out["error"] = s.error;
  return out;
}

Summary counts_from(const std::optional<std::string>& text_value) {
  Summary s;
  if (!text_value) return s;
  json j = json::parse(*text_value, nullptr, false);
  if (!j.is_object()) return s;
  auto get = [&](const char* name) -> std::size_t {
    auto it = j.find(name);
    return it != j.end() && it->is_number_unsigned() ? it->get<std::size_t>() : 0;
  };
  s.total = get("total");
  s.pass = get("pass");
  s.fail = get("fail");
  s.warn = get("warn");
  s.skipped = get("skipped");
  s.blocked = get("blocked");
  s.error = get("error");
  return s;
}

// Escapes LIKE's wildcards (with '\' as the escape character).
std::string like_prefix(std::string_view prefix) {
  std::string out;
  for (char c : prefix) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out + "%";
}

constexpr const char* kRunColumns =
    "run_id, spec_name, spec_source, spec_hash, key, vars, root, started_at, duration_ms, "
    "verdict, exit_code, counts";

// The schema (version 1). The types are PostgreSQL's; SQLite maps them to its affinities.
constexpr const char* kCreateStatements[] = {
    "CREATE TABLE stagecheck_schema (version INTEGER NOT NULL)",
    "CREATE TABLE runs ("
    " run_id TEXT PRIMARY KEY,"
    " seq BIGINT NOT NULL,"
    " spec_name TEXT NOT NULL,"
    " spec_source TEXT NOT NULL,"
    " spec_hash TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " vars TEXT NOT NULL,"
    " root TEXT NOT NULL,"
    " started_at TEXT NOT NULL,"
    " started_ms BIGINT NOT NULL,"
    " duration_ms DOUBLE PRECISION NOT NULL,"
    " verdict TEXT NOT NULL,"
    " exit_code INTEGER NOT NULL,"
    " counts TEXT NOT NULL,"
    " report TEXT NOT NULL,"
    " recorded_ms BIGINT NOT NULL)",
    "CREATE TABLE checks ("
    " run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " position INTEGER NOT NULL,"
    " check_id TEXT NOT NULL,"
    " stage TEXT NOT NULL,"
    " type TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " severity TEXT NOT NULL,"
    " observed TEXT NOT NULL,"
    " expected TEXT NOT NULL,"
    " duration_ms DOUBLE PRECISION NOT NULL,"
    " message TEXT NOT NULL,"
    " PRIMARY KEY (run_id, check_id))",
    // Every listing is newest first (started_ms DESC, seq DESC): these serve it without a sort.
    "CREATE INDEX runs_started ON runs (started_ms, seq)",
    "CREATE INDEX runs_key_started ON runs (key, started_ms, seq)",
    "CREATE INDEX runs_spec_started ON runs (spec_name, started_ms, seq)",
    "CREATE INDEX checks_run ON checks (run_id)",
    "CREATE INDEX checks_check ON checks (check_id)",
};

// Rows per multi-row INSERT into checks (11 parameters each).
constexpr std::size_t kChecksPerInsert = 64;

}  // namespace

std::optional<std::int64_t> rfc3339_to_unix_ms(std::string_view text_value) {
  // YYYY-MM-DDTHH:MM:SS[.fff...]Z
  if (text_value.size() < 20 || text_value.back() != 'Z') return std::nullopt;
  std::tm tm{};
  int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
  const std::string s(text_value);
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &mon, &day, &hour, &min, &sec,
                  &consumed) != 6 ||
      consumed != 19) {
    return std::nullopt;
  }
  std::int64_t ms = 0;
  std::size_t i = 19;
  if (s[i] == '.') {
    int digits = 0;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits) {
      if (digits < 3) ms = ms * 10 + (s[i] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 3; ++digits) ms *= 10;
  }
  if (i != s.size() - 1) return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  const std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<std::int64_t>(t) * 1000 + ms;
}

Error SqlHistory::fail(const Error& e, std::string_view what) const {
  return make_error(e.code, conn_->scrub(fmt::format("{}: {}", what, e.message)));
}

Result<std::unique_ptr<History>> SqlHistory::open(std::unique_ptr<SqlConnection> conn,
                                                  std::string description) {
  std::unique_ptr<SqlHistory> h(new SqlHistory(std::move(conn), std::move(description)));
  if (auto ok = h->init_schema(); !ok) {
    return make_error(ok.error().code, h->conn_->scrub(fmt::format(
                                           "history {}: {}", h->description_, ok.error().message)));
  }
  return std::unique_ptr<History>(std::move(h));
}

// The version in stagecheck_schema, 0 if the table is missing; an error if stagecheck's
// tables are missing but others of the same name exist.
Result<int> SqlHistory::stored_version() {
  auto outer = conn_->outer_version();
  if (!outer) return std::move(outer).error();
  if (*outer > kSchemaVersion) {
    return make_error(Errc::invalid_argument,
                      fmt::format("the history has schema version {}, newer than this "
                                  "stagecheck's ({}): upgrade stagecheck",
                                  *outer, kSchemaVersion));
  }
  auto exists = [&](const char* table) -> Result<bool> {
    auto rows = conn_->run(conn_->table_exists(), {std::string(table)});
    if (!rows) return std::move(rows).error();
    return !rows->rows.empty() && number(rows->rows.front().at(0)) > 0;
  };
  auto has_schema = exists("stagecheck_schema");
  if (!has_schema) return std::move(has_schema).error();
  if (!*has_schema) {
    for (const char* table : {"runs", "checks"}) {
      auto has = exists(table);
      if (!has) return std::move(has).error();
      if (*has) {
        return make_error(Errc::invalid_argument,
                          fmt::format("it has a table '{}' that stagecheck did not create (no "
                                      "stagecheck_schema table): use a database or schema of "
                                      "its own for the history",
                                      table));
      }
    }
    return 0;
  }
  auto rows = conn_->run("SELECT MAX(version) FROM stagecheck_schema");
  if (!rows) return std::move(rows).error();
  if (rows->rows.empty() || !rows->rows.front().at(0)) {
    return make_error(Errc::malformed, "its stagecheck_schema table is empty");
  }
  const int version = static_cast<int>(number(rows->rows.front().at(0)));
  if (version > kSchemaVersion) {
    return make_error(Errc::invalid_argument,
                      fmt::format("the history has schema version {}, newer than this "
                                  "stagecheck's ({}): upgrade stagecheck",
                                  version, kSchemaVersion));
  }
  if (version < 1) {
    return make_error(Errc::malformed,
                      fmt::format("its stagecheck_schema table holds version {}", version));
  }
  return version;
}

Result<void> SqlHistory::init_schema() {
  auto version = stored_version();
  if (!version) return std::move(version).error();
  if (*version == kSchemaVersion) return {};
  // Missing: create it in one transaction, serialised with any other process doing the same.
  if (auto ok = conn_->run(conn_->begin_write()); !ok) return std::move(ok).error();
  auto rollback = [&](Error e) -> Result<void> {
    (void)conn_->run("ROLLBACK");
    return e;
  };
  if (!conn_->schema_lock().empty()) {
    if (auto ok = conn_->run(conn_->schema_lock()); !ok) return rollback(std::move(ok).error());
  }
  version = stored_version();  // another process may have made it meanwhile
  if (!version) return rollback(std::move(version).error());
  if (*version == 0) {
    for (const char* statement : kCreateStatements) {
      if (auto ok = conn_->run(statement); !ok) return rollback(std::move(ok).error());
    }
    if (auto ok = conn_->run("INSERT INTO stagecheck_schema (version) VALUES ($1)",
                             {std::int64_t{kSchemaVersion}});
        !ok) {
      return rollback(std::move(ok).error());
    }
    if (auto ok = conn_->after_create(kSchemaVersion); !ok) return rollback(std::move(ok).error());
  }
  // (Migrations from older versions go here, in this transaction.)
  if (auto ok = conn_->run("COMMIT"); !ok) return rollback(std::move(ok).error());
  return {};
}

Result<void> SqlHistory::record(const Report& report) {
  if (report.run_id.empty()) {
    return make_error(Errc::invalid_argument, "the report has no run id");
  }
  std::lock_guard lock(mu_);
  if (auto ok = conn_->ensure_connected(); !ok) return fail(ok.error(), "cannot connect");
  const std::string what = fmt::format("cannot record run {}", report.run_id);
  if (auto ok = conn_->run(conn_->begin_write()); !ok) return fail(ok.error(), what);
  auto rollback = [&](const Error& e) -> Result<void> {
    (void)conn_->run("ROLLBACK");
    return fail(e, what);
  };
  auto existing = conn_->run("SELECT 1 FROM runs WHERE run_id = $1", {report.run_id});
  if (!existing) return rollback(existing.error());
  if (!existing->rows.empty()) {
    (void)conn_->run("ROLLBACK");
    return make_error(Errc::invalid_argument,
                      fmt::format("run {} is already in the history", report.run_id));
  }
  const json vars = report.vars.is_null() ? json::object() : report.vars;
  const std::int64_t now = now_unix_ms();
  const std::int64_t started_ms = rfc3339_to_unix_ms(report.started_at).value_or(now);
  auto inserted = conn_->run(
      "INSERT INTO runs (run_id, seq, spec_name, spec_source, spec_hash, key, vars, root, "
      "started_at, started_ms, duration_ms, verdict, exit_code, counts, report, recorded_ms) "
      "VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM runs), $2, $3, $4, $5, $6, $7, $8, $9, "
      "$10, $11, $12, $13, $14, $15)",
      {report.run_id, report.spec_name, report.spec_source, report.spec_hash,
       history_key(report.spec_name, vars), dump(vars), report.root, report.started_at, started_ms,
       finite_or_zero(report.duration_ms), std::string(report.verdict()),
       std::int64_t{static_cast<int>(report.exit_code)}, dump(counts_json(report.summary)),
       report_to_json(report).dump(-1, ' ', false, json::error_handler_t::replace), now});
  if (!inserted) return rollback(inserted.error());
  for (std::size_t first = 0; first < report.results.size(); first += kChecksPerInsert) {
    const std::size_t last = std::min(report.results.size(), first + kChecksPerInsert);
    std::string sql =
        "INSERT INTO checks (run_id, position, check_id, stage, type, status, severity, "
        "observed, expected, duration_ms, message) VALUES ";
    std::vector<SqlParam> params;
    params.reserve((last - first) * 11);
    for (std::size_t i = first; i < last; ++i) {
      const CheckResult& c = report.results[i];
      const std::size_t n = params.size();
      sql += fmt::format("{}(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                         i == first ? "" : ", ", n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 7,
                         n + 8, n + 9, n + 10, n + 11);
      params.emplace_back(report.run_id);
      params.emplace_back(static_cast<std::int64_t>(i));
      params.emplace_back(c.id);
      params.emplace_back(c.stage);
      params.emplace_back(c.type);
      params.emplace_back(std::string(to_string(c.status)));
      params.emplace_back(std::string(to_string(c.severity)));
      params.emplace_back(dump(c.observed));
      params.emplace_back(dump(c.expected));
      params.emplace_back(finite_or_zero(c.duration_ms));
      params.emplace_back(c.message);
    }
    if (auto ok = conn_->run(sql, params); !ok) return rollback(ok.error());
  }
  if (auto ok = conn_->run("COMMIT"); !ok) return rollback(ok.error());
  return {};
}

Result<std::vector<HistoryRun>> SqlHistory::list(const HistoryQuery& query) const {
  std::lock_guard lock(mu_);
  if (auto ok = conn_->ensure_connected(); !ok) return fail(ok.error(), "cannot connect");
  std::string sql = fmt::format("SELECT {} FROM runs", kRunColumns);
  std::vector<SqlParam> params;
  if (!query.spec_name.empty()) {
    params.emplace_back(query.spec_name);
    sql += fmt::format(" WHERE spec_name = ${}", params.size());
  }
  if (query.key) {
    params.emplace_back(*query.key);
    sql += fmt::format(" {} key = ${}", params.size() == 1 ? "WHERE" : "AND", params.size());
  }
  sql += " ORDER BY started_ms DESC, seq DESC";
  if (query.limit != 0) sql += fmt::format(" LIMIT {}", query.limit);
  auto rows = conn_->run(sql, params);
  if (!rows) return fail(rows.error(), "cannot list the runs");
  std::vector<HistoryRun> out;
  out.reserve(rows->rows.size());
  for (const SqlRow& row : rows->rows) {
    HistoryRun r;
    r.run_id = text(row.at(0));
    r.spec_name = text(row.at(1));
    r.spec_source = text(row.at(2));
    r.spec_hash = text(row.at(3));
    r.key = text(row.at(4));
    r.vars = json::parse(text(row.at(5)), nullptr, false);
    if (r.vars.is_discarded()) r.vars = json::object();
    r.root = text(row.at(6));
    r.started_at = text(row.at(7));
    r.duration_ms = number(row.at(8));
    r.verdict = text(row.at(9));
    r.exit_code = static_cast<int>(number(row.at(10)));
    r.summary = counts_from(row.at(11));
    out.push_back(std::move(r));
  }
  return out;
}

// The full id of the one run whose id starts with `prefix`. Called with mu_ held.
Result<std::string> SqlHistory::resolve(std::string_view prefix) const {
  if (prefix.empty()) return make_error(Errc::invalid_argument, "the run id is empty");
  auto rows = conn_->run(
      "SELECT run_id FROM runs WHERE run_id LIKE $1 ESCAPE '\\' "
      "ORDER BY run_id LIMIT 6",
      {like_prefix(prefix)});
  if (!rows) return fail(rows.error(), "cannot look up the run");
  if (rows->rows.empty()) {
    return make_error(Errc::not_found, fmt::format("no run '{}' in the history {}",
                                                   printable(prefix), description_));
  }
  if (rows->rows.size() > 1) {
    std::vector<std::string> ids;
    for (const auto& row : rows->rows) ids.push_back(text(row.at(0)));
    std::string list;
    for (std::size_t i = 0; i < ids.size() && i < 5; ++i) list += (i ? ", " : "") + ids[i];
    if (ids.size() > 5) list += ", ...";
    return make_error(
        Errc::invalid_argument,
        fmt::format("run id '{}' is ambiguous: it starts {} runs ({}); give more "
                    "of it",
                    printable(prefix), ids.size() > 5 ? "more than 5" : std::to_string(ids.size()),
                    list));
  }
  return text(rows->rows.front().at(0));
}

Result<nlohmann::json> SqlHistory::report(std::string_view run_id) const {
  std::lock_guard lock(mu_);
  if (auto ok = conn_->ensure_connected(); !ok) return fail(ok.error(), "cannot connect");
  auto id = resolve(run_id);
  if (!id) return std::move(id).error();
  auto rows = conn_->run("SELECT report FROM runs WHERE run_id = $1", {*id});
  if (!rows) return fail(rows.error(), fmt::format("cannot read run {}", *id));
  if (rows->rows.empty()) {
    return make_error(Errc::not_found, fmt::format("run {} was deleted meanwhile", *id));
  }
  json report = json::parse(text(rows->rows.front().at(0)), nullptr, false);
  if (!report.is_object()) {
    return make_error(Errc::malformed,
                      fmt::format("run {}: the stored report is not a JSON object", *id));
  }
  return report;
}

Result<std::vector<PastObservation>> SqlHistory::observations(std::string_view key,
                                                              std::string_view check_id,
                                                              std::size_t limit) const {
  std::lock_guard lock(mu_);
  if (auto ok = conn_->ensure_connected(); !ok) return fail(ok.error(), "cannot connect");
  std::string sql =
      "SELECT r.run_id, r.started_at, c.status, c.observed FROM checks c JOIN runs r ON "
      "r.run_id = c.run_id WHERE r.key = $1 AND c.check_id = $2 ORDER BY r.started_ms DESC, "
      "r.seq DESC";
  if (limit != 0) sql += fmt::format(" LIMIT {}", limit);
  auto rows = conn_->run(sql, {std::string(key), std::string(check_id)});
  if (!rows) {
    return fail(rows.error(),
                fmt::format("cannot read the observations of check '{}'", printable(check_id)));
  }
  std::vector<PastObservation> out;
  out.reserve(rows->rows.size());
  for (const SqlRow& row : rows->rows) {
    PastObservation o;
    o.run_id = text(row.at(0));
    o.started_at = text(row.at(1));
    const auto status = parse_status(text(row.at(2)));
    if (!status) {
      return make_error(Errc::malformed,
                        fmt::format("run {}, check '{}': stored status '{}' is not a status",
                                    o.run_id, printable(check_id), printable(text(row.at(2)))));
    }
    o.status = *status;
    o.observed = json::parse(text(row.at(3)), nullptr, false);
    if (o.observed.is_discarded()) {
      return make_error(Errc::malformed,
                        fmt::format("run {}, check '{}': the stored observed value is not JSON",
                                    o.run_id, printable(check_id)));
    }
    out.push_back(std::move(o));
  }
  return out;
}

Result<std::size_t> SqlHistory::prune(const Retention& retention) {
  if (retention.keep_last == 0 && retention.max_age.count() <= 0) return std::size_t{0};
  std::lock_guard lock(mu_);
  if (auto ok = conn_->ensure_connected(); !ok) return fail(ok.error(), "cannot connect");
  const char* what = "cannot prune the history";
  if (auto ok = conn_->run(conn_->begin_write()); !ok) return fail(ok.error(), what);
  auto rollback = [&](const Error& e) -> Result<std::size_t> {
    (void)conn_->run("ROLLBACK");
    return fail(e, what);
  };
  std::size_t deleted = 0;
  if (retention.keep_last != 0) {
    // Numbers are literals: SQLite compares a bound text with an expression as text.
    auto rows = conn_->run(fmt::format(
        "DELETE FROM runs WHERE run_id IN (SELECT run_id FROM (SELECT run_id, ROW_NUMBER() "
        "OVER (PARTITION BY spec_name ORDER BY started_ms DESC, seq DESC) AS rn FROM runs) "
        "ranked WHERE rn > {})",
        retention.keep_last));
    if (!rows) return rollback(rows.error());
    deleted += rows->changes;
  }
  if (retention.max_age.count() > 0) {
    const std::int64_t cutoff =
        now_unix_ms() -
        std::chrono::duration_cast<std::chrono::milliseconds>(retention.max_age).count();
    auto rows = conn_->run(fmt::format("DELETE FROM runs WHERE started_ms < {}", cutoff));
    if (!rows) return rollback(rows.error());
    deleted += rows->changes;
  }
  if (auto ok = conn_->run("COMMIT"); !ok) return rollback(ok.error());
  return deleted;
}

}  // namespace detail
}  // namespace stagecheck
