// `sql`: checks on what a pipeline left in a database, SQLite (embedded) or PostgreSQL (libpq),
// chosen by the URL. Four check types:
//
//   sql_query            one parameterised query; conditions on its rows, its row count or its
//                        first value (the condition language over {rows, row_count, value, ...})
//   sql_rows_present     expected rows (by key) are present, optionally with non-NULL columns
//   sql_orphans          no child row whose foreign key has no parent row
//   sql_append_only_log  a log's sequence has no gaps or duplicates, its times never go back,
//                        and every action has its log entries
//
// Fail closed: a query the database rejects fails naming the query and the database's message;
// zero rows, NULL, NaN and wrong types where values are expected fail; an unreachable server, a
// refused login or a timeout is `error` (could not be evaluated), never a pass. Every session is
// one read-only transaction (PostgreSQL: BEGIN ... READ ONLY with default_transaction_read_only;
// SQLite: SQLITE_OPEN_READONLY and PRAGMA query_only), rolled back at the end. Values from
// variables are bound parameters; identifiers from the spec are validated and quoted; passwords
// never appear in messages or reports.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <stagecheck/condition_set.hpp>
#include <stagecheck/local_store.hpp>
#include <stagecheck/plugin.hpp>

#include "db.hpp"

namespace {

using namespace stagecheck;
using stagecheck::sql::Backend;
using stagecheck::sql::ConnectOptions;
using stagecheck::sql::QueryResult;
using stagecheck::sql::Session;
using Json = nlohmann::json;

// ---- limits and defaults --------------------------------------------------------------------

constexpr std::int64_t kDefaultConnectTimeout = 10;
constexpr std::int64_t kMaxConnectTimeout = 600;
constexpr std::int64_t kDefaultStatementTimeoutMs = 30000;
constexpr std::int64_t kMaxStatementTimeoutMs = 3600000;
constexpr std::int64_t kDefaultRowCap = 1000;
constexpr std::int64_t kMaxRowCap = 100000;
constexpr std::int64_t kDefaultSample = 10;
constexpr std::int64_t kMaxSample = 1000;
constexpr std::size_t kMaxExpectedRows = 10000;
constexpr std::size_t kMaxParams = 100;
/// Rows copied into `observed` for a sql_query (the condition document has them all).
constexpr std::size_t kObservedRows = 20;
/// Items named in a one-line message (observed/details keep up to `sample`).
constexpr std::size_t kShownInMessage = 10;
/// Query text in messages is cut here (details carry the whole text).
constexpr std::size_t kQueryLabelChars = 160;
constexpr std::uint64_t kMaxPasswordFileBytes = 64 * 1024;

// ---- small helpers --------------------------------------------------------------------------

std::string dump(const Json& v) { return v.dump(-1, ' ', false, Json::error_handler_t::replace); }

/// A copy fit for a report: NaN and infinities (which JSON cannot hold) become strings.
Json reportable(const Json& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return v;
  }
  if (v.is_array() || v.is_object()) {
    Json out = v;
    for (auto& e : out) e = reportable(e);
    return out;
  }
  return v;
}

/// The query as messages show it: whitespace collapsed, cut.
std::string query_label(std::string_view sql) {
  std::string out;
  bool space = false;
  for (char c : sql) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  if (out.size() > kQueryLabelChars) {
    std::size_t n = kQueryLabelChars;
    while (n > 0 && (static_cast<unsigned char>(out[n]) & 0xC0u) == 0x80u) --n;
    out = out.substr(0, n) + "...";
  }
  return out;
}

std::optional<std::int64_t> as_int(const Json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_unsigned() && v.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v.get<std::uint64_t>());
  }
  return std::nullopt;
}

/// An identifier from the spec: `name` or `schema.name`, each part [A-Za-z_][A-Za-z0-9_]*, at
/// most 63 bytes (PostgreSQL's limit). Nothing else can reach SQL text.
bool valid_identifier(std::string_view s) {
  if (s.empty() || s.size() > 127) return false;
  int parts = 0;
  std::size_t start = 0;
  for (;;) {
    std::size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (part.empty() || part.size() > 63) return false;
    auto head = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
    if (!head(part.front())) return false;
    for (char c : part) {
      if (!head(c) && !(c >= '0' && c <= '9')) return false;
    }
    if (++parts > 2) return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

/// The identifier quoted part by part ("schema"."table"): reserved words work, and the name is
/// matched exactly as written (PostgreSQL folds unquoted names to lower case; write them so).
std::string quote(std::string_view id) {
  std::string out = "\"";
  for (char c : id) {
    if (c == '.') {
      out += "\".\"";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i != 0) out += sep;
    out += parts[i];
  }
  return out;
}

// ---- bound parameters -----------------------------------------------------------------------

/// One value bound to a query: a literal from the spec, or a variable read at run time.
struct BoundValue {
  Json literal;     ///< When `var` is empty.
  std::string var;  ///< A spec variable's name.
};

/// `$name` / `${name}` (a variable), or nullopt. `$$text` is the literal `$text`.
std::optional<std::string> var_name(const std::string& s) {
  std::string name;
  if (s.size() > 3 && s.rfind("${", 0) == 0 && s.back() == '}') {
    name = s.substr(2, s.size() - 3);
  } else if (s.size() > 1 && s.front() == '$' && s[1] != '$' && s[1] != '{') {
    name = s.substr(1);
  } else {
    return std::nullopt;
  }
  return name;
}

bool valid_var_name(std::string_view s) {
  if (s.empty()) return false;
  auto head = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!head(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return head(c) || (c >= '0' && c <= '9'); });
}

/// Parses one value of `params` or of an expected row; `where` names it for errors.
Result<BoundValue> parse_value(const CheckConfig& config, std::string_view param, const Json& v,
                               const std::string& where) {
  BoundValue b;
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (auto name = var_name(s)) {
      if (!valid_var_name(*name)) {
        return config.error(param, fmt::format("{}: '{}' is not a variable name", where, s));
      }
      b.var = *name;
      return b;
    }
    b.literal = s.rfind("$$", 0) == 0 ? Json(s.substr(1)) : v;
    return b;
  }
  if (v.is_number_float() && !std::isfinite(v.get<double>())) {
    return config.error(param, fmt::format("{}: NaN and infinity cannot be bound", where));
  }
  if (v.is_object() || v.is_array()) {
    return config.error(param, fmt::format("{}: expected a string, number, boolean, null or "
                                           "$variable, found {}",
                                           where, v.type_name()));
  }
  b.literal = v;
  return b;
}

Result<std::vector<BoundValue>> parse_values(const CheckConfig& config, std::string_view param,
                                             const Json& list) {
  std::vector<BoundValue> out;
  if (list.is_null()) return out;
  if (!list.is_array()) {
    return config.error(param, fmt::format("expected a list of values bound to $1..$n, found {}",
                                           list.type_name()));
  }
  if (list.size() > kMaxParams) {
    return config.error(param, fmt::format("at most {} values", kMaxParams));
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto b = parse_value(config, param, list[i], fmt::format("[{}]", i));
    if (!b) return std::move(b).error();
    out.push_back(std::move(*b));
  }
  return out;
}

/// The optional `where` filter and the `params` bound in it, shared by the checks that take
/// both: a non-empty condition without NUL, and params only when there is a `where`.
Result<void> parse_where(const CheckConfig& config, std::string& where,
                         std::vector<BoundValue>& params) {
  if (config.has("where")) {
    where = config.get_string("where");
    if (query_label(where).empty()) return config.error("where", "empty condition");
    if (where.find('\0') != std::string::npos) {
      return config.error("where", "the condition holds a NUL character");
    }
  }
  auto values = parse_values(config, "params", config.get_json("params"));
  if (!values) return std::move(values).error();
  params = std::move(*values);
  if (!params.empty() && where.empty()) {
    return config.error("params", "params are bound in `where`, which is not given");
  }
  return {};
}

/// The value to bind: a literal, or the variable's value now. A variable that is undeclared,
/// unset or a list cannot be bound: the check could not be evaluated.
Result<Json> resolve_value(const BoundValue& b, CheckContext& ctx, const std::string& where) {
  if (b.var.empty()) return b.literal;
  const Json* v = ctx.var(b.var);
  if (v == nullptr) {
    return make_error(Errc::invalid_argument,
                      fmt::format("{}: variable '{}' is not declared in the spec", where, b.var));
  }
  if (v->is_null()) {
    return make_error(
        Errc::invalid_argument,
        fmt::format("{}: variable '{}' has no value (give --var {}=...)", where, b.var, b.var));
  }
  if (v->is_array() || v->is_object()) {
    return make_error(Errc::invalid_argument,
                      fmt::format("{}: variable '{}' holds {}, which cannot be bound as one value",
                                  where, b.var, v->type_name()));
  }
  return *v;
}

Result<std::vector<Json>> resolve_values(const std::vector<BoundValue>& values, CheckContext& ctx,
                                         std::string_view param) {
  std::vector<Json> out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto v = resolve_value(values[i], ctx, fmt::format("{}[{}]", param, i));
    if (!v) return std::move(v).error();
    out.push_back(std::move(*v));
  }
  return out;
}

/// What a bound value looks like in a report: the variable's name, never a secret's value.
Json describe_values(const std::vector<BoundValue>& values) {
  Json out = Json::array();
  for (const auto& b : values) out.push_back(b.var.empty() ? b.literal : Json("$" + b.var));
  return out;
}

// ---- the connection target ------------------------------------------------------------------

/// How a check reaches its database, validated at load. Holds secrets; never printed.
struct Target {
  ConnectOptions options;            ///< Complete except the SQLite path from a variable and a
                                     ///< password from the environment or a file.
  std::string sqlite_var;            ///< `sqlite_file`: the local_path variable's name.
  std::string password_env;          ///< `password_env`: an environment variable's name.
  std::string password_file;         ///< `password_file`: the local_path variable's name.
  std::vector<std::string> secrets;  ///< Strings never to show (passwords, the raw URI).
};

std::vector<ParamSpec> connection_params() {
  return {
      {"url",
       ParamType::string,
       false,
       nullptr,
       "The database: sqlite:///absolute/path.db, or postgresql://user[:password]@host[:port]/"
       "dbname[?options] (libpq URI; host, database and user must be given). Usually $db_url; "
       "declare that variable `secret: true` if the URL holds a password.",
       {}},
      {"sqlite_file",
       ParamType::local_path,
       false,
       nullptr,
       "Instead of url: a $variable of type local_path naming the SQLite database file.",
       {}},
      {"password",
       ParamType::string,
       false,
       nullptr,
       "PostgreSQL password when the URL holds none, usually a `secret: true` $variable.",
       {}},
      {"password_env",
       ParamType::string,
       false,
       nullptr,
       "PostgreSQL: the name of an environment variable holding the password; read only when "
       "an embedding job allows the process environment (otherwise `error`).",
       {}},
      {"password_file",
       ParamType::local_path,
       false,
       nullptr,
       "PostgreSQL: a $variable of type local_path naming a file holding the password (one "
       "line).",
       {}},
      {"connect_timeout",
       ParamType::integer,
       false,
       kDefaultConnectTimeout,
       "Seconds to wait for the connection (1-600); then `error`.",
       {}},
      {"statement_timeout_ms",
       ParamType::integer,
       false,
       kDefaultStatementTimeoutMs,
       "Milliseconds one statement may run (1-3600000); then `error`.",
       {}},
      {"read_only",
       ParamType::boolean,
       false,
       true,
       "Run in a read-only transaction (default). false allows statements that write (e.g. "
       "temporary tables); the transaction is rolled back either way.",
       {}},
  };
}

Result<Target> parse_target(const CheckConfig& config) {
  Target t;
  ConnectOptions& o = t.options;
  const bool has_url = config.has("url");
  const bool has_file = config.has("sqlite_file");
  if (has_url == has_file) {
    return config.error(has_url ? "sqlite_file" : "url",
                        "give exactly one of url (sqlite:///path or postgresql://...) and "
                        "sqlite_file ($variable of type local_path)");
  }
  if (has_file) {
    o.backend = Backend::sqlite;
    t.sqlite_var = config.get_string("sqlite_file");
    o.display = fmt::format("sqlite file ${}", t.sqlite_var);
  } else {
    const std::string url = config.get_string("url");
    if (url.rfind("sqlite:", 0) == 0) {
      o.backend = Backend::sqlite;
      std::string rest = url.substr(7);
      if (rest.rfind("//", 0) == 0) rest = rest.substr(2);
      if (rest.empty() || rest.front() != '/') {
        return config.error("url",
                            fmt::format("'{}': a relative SQLite path is ambiguous (relative to "
                                        "what?); write sqlite:///absolute/path.db or give "
                                        "sqlite_file: $variable (type local_path)",
                                        url));
      }
      if (rest.find_first_of("?#") != std::string::npos) {
        return config.error("url", fmt::format("'{}': SQLite URLs take no options", url));
      }
      if (rest.find('\0') != std::string::npos) return config.error("url", "NUL in path");
      o.sqlite_path = rest;
      o.display = url;
    } else if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
      o.backend = Backend::postgresql;
      auto info = sql::parse_pg_uri(url);
      if (!info) {
        return config.error("url", fmt::format("'{}': not a valid PostgreSQL URI: {}",
                                               sql::redact_uri(url), info.error().message));
      }
      std::vector<std::string> missing;
      if (!info->has_host) missing.push_back("host");
      if (!info->has_dbname) missing.push_back("database");
      if (!info->has_user) missing.push_back("user");
      if (!missing.empty()) {
        return config.error(
            "url", fmt::format("'{}': name the {} explicitly (libpq's defaults come from the "
                               "environment, which must not decide what is validated)",
                               info->display, join(missing, ", ")));
      }
      o.uri = url;
      o.display = info->display;
      // The raw URI is a secret when it differs from its redacted form (it holds a password).
      if (info->display != url) t.secrets.push_back(url);
      if (info->has_password) {
        std::string pw = sql::uri_password(url);
        if (!pw.empty()) t.secrets.push_back(pw);
      }
      std::vector<std::string> given;
      if (info->has_password) given.push_back("a password in url");
      for (const char* p : {"password", "password_env", "password_file"}) {
        if (config.has(p)) given.push_back(p);
      }
      if (given.size() > 1) {
        return config.error(config.has("password_file")  ? "password_file"
                            : config.has("password_env") ? "password_env"
                                                         : "password",
                            fmt::format("give the password once, found {}", join(given, " and ")));
      }
      if (config.has("password")) {
        o.password = config.get_string("password");
        if (o.password.empty()) return config.error("password", "empty password");
        t.secrets.push_back(o.password);
      }
      if (config.has("password_env")) {
        t.password_env = config.get_string("password_env");
        if (!valid_var_name(t.password_env)) {
          return config.error(
              "password_env",
              fmt::format("'{}' is not an environment variable name", t.password_env));
        }
      }
      if (config.has("password_file")) t.password_file = config.get_string("password_file");
    } else {
      return config.error(
          "url", fmt::format("'{}': expected sqlite:///absolute/path.db or postgresql://...",
                             sql::redact_uri(url)));
    }
  }
  if (o.backend == Backend::sqlite) {
    for (const char* p : {"password", "password_env", "password_file"}) {
      if (config.has(p)) return config.error(p, "SQLite databases take no password");
    }
  }
  std::int64_t ct = config.get_int("connect_timeout");
  if (ct < 1 || ct > kMaxConnectTimeout) {
    return config.error("connect_timeout",
                        fmt::format("expected 1 to {} seconds, found {}", kMaxConnectTimeout, ct));
  }
  std::int64_t st = config.get_int("statement_timeout_ms");
  if (st < 1 || st > kMaxStatementTimeoutMs) {
    return config.error("statement_timeout_ms",
                        fmt::format("expected 1 to {} ms, found {}", kMaxStatementTimeoutMs, st));
  }
  o.connect_timeout_s = static_cast<int>(ct);
  o.statement_timeout_ms = static_cast<int>(st);
  o.read_only = config.get_bool("read_only");
  return t;
}

Result<std::int64_t> get_bounded(const CheckConfig& config, std::string_view param,
                                 std::int64_t min, std::int64_t max) {
  std::int64_t v = config.get_int(param);
  if (v < min || v > max) {
    return config.error(param, fmt::format("expected {} to {}, found {}", min, max, v));
  }
  return v;
}

Result<std::string> get_identifier(const CheckConfig& config, std::string_view param) {
  std::string v = config.get_string(param);
  if (!valid_identifier(v)) {
    return config.error(param, fmt::format("'{}' is not a table or column name (letters, digits, "
                                           "_; optionally schema.name)",
                                           v));
  }
  return v;
}

Result<std::vector<std::string>> get_identifiers(const CheckConfig& config, std::string_view param,
                                                 bool required = true) {
  std::vector<std::string> v = config.get_string_list(param);
  if (v.empty() && required) return config.error(param, "name at least one column");
  for (const auto& s : v) {
    if (!valid_identifier(s) || s.find('.') != std::string::npos) {
      return config.error(param, fmt::format("'{}' is not a column name (letters, digits, _)", s));
    }
  }
  return v;
}

// ---- the check base -------------------------------------------------------------------------

/// Collects the evidence of one run; scrubs secrets from everything it returns.
class SqlCheck : public Check {
 public:
  explicit SqlCheck(Target target) : target_(std::move(target)) {}

  CheckOutcome run(CheckContext& ctx) const final {
    std::vector<std::string> secrets = target_.secrets;
    CheckOutcome out;
    try {
      if (auto fault = ctx.probe_fault("sql", display())) {
        out = CheckOutcome::error(fmt::format("{}: {}", display(), fault->message));
      } else {
        out = run_inner(ctx, secrets);
      }
    } catch (const std::exception& e) {
      out = CheckOutcome::error(fmt::format("{}: unexpected error: {}", display(), e.what()));
    }
    scrub(out, secrets);
    return out;
  }

 protected:
  /// Evaluates with an open session.
  virtual CheckOutcome evaluate(Session& session, CheckContext& ctx) const = 0;

  const std::string& display() const { return target_.options.display; }

  /// The outcome for a failed query: names the database, what the query was for and its text.
  CheckOutcome query_failed(const Error& e, const std::string& purpose,
                            const std::string& sql) const {
    CheckOutcome out = CheckOutcome::from(e);
    out.message =
        fmt::format("{}: {} query '{}' {}: {}", display(), purpose, query_label(sql),
                    out.status == Status::fail ? "failed" : "could not be evaluated", e.message);
    out.observed = {{"database", display()}, {"error", e.message}};
    out.details = {{"query", sql}, {"error_code", std::string(to_string(e.code))}};
    return out;
  }

  CheckOutcome var_problem(const Error& e) const {
    CheckOutcome out = CheckOutcome::error(fmt::format("{}: {}", display(), e.message));
    out.observed = {{"database", display()}};
    return out;
  }

 private:
  CheckOutcome run_inner(CheckContext& ctx, std::vector<std::string>& secrets) const {
    ConnectOptions o = target_.options;
    o.max_result_bytes = ctx.limits().max_bytes;
    if (!target_.sqlite_var.empty()) {
      const Json* v = ctx.var(target_.sqlite_var);
      if (v == nullptr || !v->is_string() || v->get_ref<const std::string&>().empty()) {
        return CheckOutcome::error(
            fmt::format("sqlite_file: variable '{}' is not set (give --var {}=PATH)",
                        target_.sqlite_var, target_.sqlite_var));
      }
      o.sqlite_path = v->get<std::string>();
      o.display = fmt::format("sqlite://{}", o.sqlite_path);
    }
    if (!target_.password_env.empty()) {
      if (!ctx.process_env_allowed()) {
        return CheckOutcome::error(fmt::format(
            "{}: password_env: reading the process environment is only allowed when embedded "
            "(an embedding job sets RunOptions::allow_process_env); use password: $var (secret) "
            "or password_file",
            o.display));
      }
      const char* pw = std::getenv(target_.password_env.c_str());
      if (pw == nullptr || *pw == '\0') {
        return CheckOutcome::error(
            fmt::format("{}: password_env: environment variable {} is not "
                        "set",
                        o.display, target_.password_env));
      }
      o.password = pw;
      secrets.push_back(o.password);
    }
    if (!target_.password_file.empty()) {
      const Json* v = ctx.var(target_.password_file);
      if (v == nullptr || !v->is_string()) {
        return CheckOutcome::error(fmt::format("{}: password_file: variable '{}' is not set",
                                               o.display, target_.password_file));
      }
      auto data = read_local_file(v->get<std::string>(), kMaxPasswordFileBytes);
      if (!data) {
        CheckOutcome out = CheckOutcome::error(
            fmt::format("{}: password_file: {}", o.display, data.error().message));
        return out;
      }
      std::string pw = std::move(*data);
      while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
      if (pw.empty() || pw.find('\n') != std::string::npos) {
        return CheckOutcome::error(
            fmt::format("{}: password_file '{}': expected one non-empty line", o.display,
                        v->get<std::string>()));
      }
      o.password = std::move(pw);
      secrets.push_back(o.password);
    }
    auto session = sql::open_session(o, [&ctx] { return ctx.cancelled(); });
    if (!session) {
      const Error& e = session.error();
      CheckOutcome out = CheckOutcome::from(e);
      out.message = fmt::format("{}: {}{}", o.display, e.message,
                                out.status == Status::error ? " (could not be evaluated)" : "");
      out.observed = {{"database", o.display}, {"error", e.message}};
      if (o.backend == Backend::sqlite) out.artifacts.push_back(o.sqlite_path);
      return out;
    }
    CheckOutcome out = evaluate_with(**session, ctx, o.display);
    if (o.backend == Backend::sqlite) out.artifacts.push_back(o.sqlite_path);
    return out;
  }

  CheckOutcome evaluate_with(Session& s, CheckContext& ctx, const std::string& shown) const {
    CheckOutcome out = evaluate(s, ctx);
    // Checks name the target as written ("sqlite file $db"); show the resolved one instead.
    if (shown != display()) {
      auto replace_all = [&](std::string& text) {
        for (std::size_t at = text.find(display()); at != std::string::npos;
             at = text.find(display(), at + shown.size())) {
          text.replace(at, display().size(), shown);
        }
      };
      replace_all(out.message);
      if (out.observed.is_object() && out.observed.contains("database")) {
        out.observed["database"] = shown;
      }
    }
    return out;
  }

  static void scrub_text(std::string& text, const std::vector<std::string>& secrets) {
    for (const auto& s : secrets) {
      // One-character secrets would garble every message; libpq never echoes a password
      // except inside the whole URI, which is scrubbed as a whole.
      if (s.size() < 3) continue;
      for (std::size_t at = text.find(s); at != std::string::npos; at = text.find(s, at + 3)) {
        text.replace(at, s.size(), "***");
      }
    }
  }

  static void scrub_json(Json& v, const std::vector<std::string>& secrets) {
    if (v.is_string()) {
      std::string s = v.get<std::string>();
      scrub_text(s, secrets);
      v = s;
    } else if (v.is_array() || v.is_object()) {
      for (auto& e : v) scrub_json(e, secrets);
    }
  }

  static void scrub(CheckOutcome& out, const std::vector<std::string>& secrets) {
    // Longest first, so the whole URI is replaced before the password inside it.
    std::vector<std::string> sorted = secrets;
    std::sort(sorted.begin(), sorted.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    scrub_text(out.message, sorted);
    scrub_json(out.observed, sorted);
    scrub_json(out.expected, sorted);
    scrub_json(out.details, sorted);
  }

  Target target_;
};

/// Runs a query expected to give exactly one row of integers (COUNT/SUM). Fills `values`;
/// returns an outcome when it failed.
std::optional<CheckOutcome> one_row_of_ints(Session& s, const std::string& sql,
                                            const std::vector<Json>& params,
                                            std::vector<std::int64_t>& values,
                                            const std::function<CheckOutcome(const Error&)>& fail) {
  auto r = s.query(sql, params, 2);
  if (!r) return fail(r.error());
  if (r->rows.size() != 1) {
    return fail(
        make_error(Errc::malformed, fmt::format("expected one row, found {}", r->rows.size())));
  }
  values.clear();
  for (std::size_t i = 0; i < r->rows[0].size(); ++i) {
    auto v = as_int(r->rows[0][i]);
    if (!v) {
      return fail(make_error(Errc::type_mismatch,
                             fmt::format("column {} ('{}'): expected an integer, found {}", i + 1,
                                         r->columns[i], dump(reportable(r->rows[0][i])))));
    }
    values.push_back(*v);
  }
  return std::nullopt;
}

// ---- sql_query ------------------------------------------------------------------------------

class QueryCheck final : public SqlCheck {
 public:
  struct Settings {
    std::string query;
    std::vector<BoundValue> params;
    std::vector<Condition> conditions;
    bool conditions_use_value = false;  // some condition reads the scalar `value`
    std::optional<std::int64_t> min_rows;
    std::optional<std::int64_t> max_rows;
    std::size_t row_cap = kDefaultRowCap;
  };
  QueryCheck(Target t, Settings s) : SqlCheck(std::move(t)), s_(std::move(s)) {}

 protected:
  CheckOutcome evaluate(Session& session, CheckContext& ctx) const override {
    auto values = resolve_values(s_.params, ctx, "params");
    if (!values) return var_problem(values.error());
    auto r = session.query(s_.query, *values, s_.row_cap);
    if (!r) return query_failed(r.error(), "the", s_.query);
    const std::string where = fmt::format("{}: query '{}'", display(), query_label(s_.query));
    Json observed = {{"database", display()},
                     {"query", query_label(s_.query)},
                     {"params", describe_values(s_.params)},
                     {"columns", r->columns},
                     {"row_count", r->rows.size()}};
    if (r->truncated) {
      CheckOutcome out = CheckOutcome::fail(fmt::format(
          "{} returned more than {} rows (row_cap): aggregate in SQL (count(*), LIMIT) or raise "
          "row_cap; conditions over a cut result would not be evidence",
          where, s_.row_cap));
      observed["row_count"] = fmt::format("more than {}", s_.row_cap);
      out.observed = std::move(observed);
      return out;
    }
    for (std::size_t i = 0; i < r->columns.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (r->columns[i] == r->columns[j]) {
          CheckOutcome out = CheckOutcome::fail(fmt::format(
              "{} returns two columns named '{}' (columns {} and {}); give them distinct names "
              "with AS",
              where, r->columns[i], j + 1, i + 1));
          out.observed = std::move(observed);
          return out;
        }
      }
    }
    Json doc = {{"columns", r->columns}, {"row_count", r->rows.size()}};
    Json rows = Json::array();
    for (const auto& row : r->rows) {
      Json obj = Json::object();
      for (std::size_t c = 0; c < row.size(); ++c) obj[r->columns[c]] = row[c];
      rows.push_back(std::move(obj));
    }
    if (!r->rows.empty() && !r->columns.empty()) doc["value"] = r->rows[0][0];
    doc["rows"] = rows;
    Json shown = Json::array();
    for (std::size_t i = 0; i < rows.size() && i < kObservedRows; ++i) {
      shown.push_back(reportable(rows[i]));
    }
    observed["rows"] = std::move(shown);
    if (doc.contains("value")) {
      observed["value"] = reportable(doc["value"]);
      observed["value_column"] = r->columns[0];
    }

    std::vector<std::string> problems;
    Json expected = Json::object();
    const auto n = static_cast<std::int64_t>(r->rows.size());
    if (s_.min_rows) {
      expected["min_rows"] = *s_.min_rows;
      if (n < *s_.min_rows) {
        problems.push_back(fmt::format("returned {} row{}, expected at least {}", n,
                                       n == 1 ? "" : "s", *s_.min_rows));
      }
    }
    if (s_.max_rows) {
      expected["max_rows"] = *s_.max_rows;
      if (n > *s_.max_rows) {
        problems.push_back(fmt::format("returned {} row{}, expected at most {}", n,
                                       n == 1 ? "" : "s", *s_.max_rows));
      }
    }
    CheckOutcome cond;
    cond.status = Status::pass;
    if (!s_.conditions.empty()) {
      cond = evaluate_conditions(s_.conditions, doc, ctx.eval_env(), where);
      Json texts = Json::array();
      for (const auto& c : s_.conditions) texts.push_back(c.text());
      expected["conditions"] = std::move(texts);
      observed["conditions"] = reportable(cond.observed);
    }
    CheckOutcome out;
    out.observed = std::move(observed);
    out.expected = std::move(expected);
    out.details = reportable(cond.details);
    if (!out.details.is_object()) out.details = Json::object();
    out.details["query"] = s_.query;
    if (!problems.empty()) {
      out.status = Status::fail;
      out.message = fmt::format("{} {}", where, join(problems, "; "));
      if (cond.status == Status::fail) {
        // The condition message starts with `where` too.
        out.message += "; " + cond.message.substr(std::min(cond.message.size(), where.size() + 2));
      }
      return out;
    }
    if (!s_.conditions.empty()) {
      out.status = cond.status;
      out.message = cond.message;
      if (out.status != Status::pass && doc.contains("value") && s_.conditions_use_value) {
        out.message += fmt::format(" (value is column '{}' of row 1)", r->columns[0]);
      }
      return out;
    }
    out.status = Status::pass;
    out.message = fmt::format("{} returned {} row{} ({})", where, n, n == 1 ? "" : "s",
                              s_.min_rows && s_.max_rows
                                  ? fmt::format("expected {} to {}", *s_.min_rows, *s_.max_rows)
                              : s_.min_rows ? fmt::format("expected at least {}", *s_.min_rows)
                                            : fmt::format("expected at most {}", *s_.max_rows));
    return out;
  }

 private:
  Settings s_;
};

CheckInfo query_info() {
  CheckInfo i;
  i.type = "sql_query";
  i.category = "database";
  i.summary = "A parameterised SQL query's rows, row count or first value meet conditions.";
  i.description =
      "Runs one statement (SQLite or PostgreSQL, chosen by `url`) in a read-only transaction, "
      "with `params` bound to $1..$n (values from variables are bound, never pasted into the "
      "SQL), and evaluates `conditions` (the condition language) over the document {columns: "
      "[names], row_count: N, rows: [{column: value, ...}], value: <first column of the first "
      "row, absent when there are no rows>}, plus `min_rows`/`max_rows`. Give at least one of "
      "them. Types: integers, floats, booleans, NULL (null), text; PostgreSQL numeric as an "
      "integer when integral, else the nearest double; json/jsonb as JSON; timestamps, dates, "
      "intervals, arrays and other types as PostgreSQL prints them (timestamps in UTC, ISO); "
      "SQLite BLOBs as \\x-hex. A query the database rejects fails naming the query and the "
      "database's message; zero rows where `value` is used, NULL, NaN and wrong types fail; more "
      "rows than `row_cap` fail. An unreachable server, a refused login or a timeout is `error` "
      "(could not be evaluated).";
  i.params = connection_params();
  i.params.insert(
      i.params.end(),
      {{"query",
        ParamType::string,
        true,
        nullptr,
        "One SQL statement; $1..$n are the values of `params`.",
        {}},
       {"params",
        ParamType::any,
        false,
        nullptr,
        "Values for $1..$n: literals, or $variable (read at run time and bound; $$x is the "
        "literal $x).",
        {}},
       {"conditions",
        ParamType::condition_list,
        false,
        nullptr,
        "Conditions on {columns, row_count, rows, value}.",
        {}},
       {"min_rows", ParamType::integer, false, nullptr, "At least this many rows.", {}},
       {"max_rows", ParamType::integer, false, nullptr, "At most this many rows.", {}},
       {"row_cap",
        ParamType::integer,
        false,
        kDefaultRowCap,
        "Rows fetched at most (1-100000); a larger result fails (it is cancelled, not read).",
        {}}});
  i.example =
      "# vars: {db_url: {type: string, secret: true}, mission_id: {type: string}}\n"
      "- id: events_persisted\n"
      "  type: sql_query\n"
      "  url: $db_url\n"
      "  query: >\n"
      "    SELECT count(*) AS events, count(*) FILTER (WHERE kind LIKE 'agentic.action_%') AS "
      "actions\n"
      "    FROM events WHERE mission_id = $1\n"
      "  params: [$mission_id]\n"
      "  conditions:\n"
      "    - rows[0].events > 0\n"
      "    - rows[0].actions >= 1";
  return i;
}

Result<std::unique_ptr<Check>> make_query(const CheckConfig& config) {
  auto target = parse_target(config);
  if (!target) return std::move(target).error();
  QueryCheck::Settings s;
  s.query = config.get_string("query");
  if (query_label(s.query).empty()) return config.error("query", "the query is empty");
  if (s.query.find('\0') != std::string::npos) {
    // libpq takes C strings: the text after a NUL would silently be dropped.
    return config.error("query", "the query holds a NUL character");
  }
  auto params = parse_values(config, "params", config.get_json("params"));
  if (!params) return std::move(params).error();
  s.params = std::move(*params);
  s.conditions = config.get_conditions("conditions");
  // The "(value is column ... of row 1)" hint only helps a condition that reads `value`.
  static const std::regex kValue(R"((^|[^A-Za-z0-9_.$@"'])value\b)");
  for (const auto& c : s.conditions) s.conditions_use_value |= std::regex_search(c.text(), kValue);
  if (config.has("min_rows")) {
    s.min_rows = config.get_int("min_rows");
    if (*s.min_rows < 0) return config.error("min_rows", "expected a count >= 0");
  }
  if (config.has("max_rows")) {
    s.max_rows = config.get_int("max_rows");
    if (*s.max_rows < 0) return config.error("max_rows", "expected a count >= 0");
  }
  if (s.min_rows && s.max_rows && *s.min_rows > *s.max_rows) {
    return config.error("max_rows",
                        fmt::format("max_rows {} is below min_rows {}", *s.max_rows, *s.min_rows));
  }
  if (s.conditions.empty() && !s.min_rows && !s.max_rows) {
    return config.error("conditions",
                        "give conditions, min_rows or max_rows: a query alone proves nothing");
  }
  auto cap = get_bounded(config, "row_cap", 1, kMaxRowCap);
  if (!cap) return std::move(cap).error();
  s.row_cap = static_cast<std::size_t>(*cap);
  if (s.max_rows && static_cast<std::size_t>(*s.max_rows) >= s.row_cap) {
    s.row_cap = static_cast<std::size_t>(*s.max_rows) + 1;
    if (s.row_cap > static_cast<std::size_t>(kMaxRowCap)) {
      return config.error("max_rows", fmt::format("at most {}", kMaxRowCap - 1));
    }
  }
  return std::unique_ptr<Check>(std::make_unique<QueryCheck>(std::move(*target), std::move(s)));
}

// ---- sql_rows_present -----------------------------------------------------------------------

class RowsPresentCheck final : public SqlCheck {
 public:
  struct Settings {
    std::string table;
    std::vector<std::string> keys;
    std::vector<std::vector<BoundValue>> rows;
    std::vector<std::string> not_null;
  };
  RowsPresentCheck(Target t, Settings s) : SqlCheck(std::move(t)), s_(std::move(s)) {}

 protected:
  CheckOutcome evaluate(Session& session, CheckContext& ctx) const override {
    std::vector<std::string> select = {"COUNT(*)"};
    for (const auto& c : s_.not_null) select.push_back(fmt::format("COUNT({})", quote(c)));
    std::vector<std::string> match;
    for (std::size_t k = 0; k < s_.keys.size(); ++k) {
      match.push_back(fmt::format("{} = ${}", quote(s_.keys[k]), k + 1));
    }
    const std::string sql = fmt::format("SELECT {} FROM {} WHERE {}", join(select, ", "),
                                        quote(s_.table), join(match, " AND "));
    Json missing = Json::array(), with_nulls = Json::array(), present = Json::array();
    std::vector<std::string> missing_text, null_text;
    for (std::size_t i = 0; i < s_.rows.size(); ++i) {
      if (ctx.cancelled()) {
        return CheckOutcome::make(Status::error, fmt::format("{}: interrupted", display()));
      }
      std::vector<Json> key;
      for (std::size_t k = 0; k < s_.rows[i].size(); ++k) {
        auto v = resolve_value(s_.rows[i][k], ctx, fmt::format("rows[{}][{}]", i, k));
        if (!v) return var_problem(v.error());
        if (v->is_null()) {
          return var_problem(make_error(Errc::invalid_argument,
                                        fmt::format("rows[{}]: a NULL key never matches", i)));
        }
        key.push_back(std::move(*v));
      }
      std::vector<std::int64_t> counts;
      if (auto bad = one_row_of_ints(session, sql, key, counts, [&](const Error& e) {
            return query_failed(e, "the presence", sql);
          })) {
        return *bad;
      }
      Json shown = key.size() == 1 ? key[0] : Json(key);
      if (counts[0] == 0) {
        missing.push_back(shown);
        missing_text.push_back(dump(shown));
        continue;
      }
      present.push_back({{"key", shown}, {"matches", counts[0]}});
      std::vector<std::string> nulls;
      for (std::size_t c = 0; c < s_.not_null.size(); ++c) {
        if (counts[c + 1] < counts[0]) nulls.push_back(s_.not_null[c]);
      }
      if (!nulls.empty()) {
        with_nulls.push_back({{"key", shown}, {"null_columns", nulls}});
        null_text.push_back(fmt::format("{} ({} NULL)", dump(shown), join(nulls, ", ")));
      }
    }
    const std::string what =
        fmt::format("{}: table {} (key {})", display(), s_.table, join(s_.keys, ", "));
    CheckOutcome out;
    out.observed = {{"database", display()},
                    {"table", s_.table},
                    {"expected_rows", s_.rows.size()},
                    {"present", present.size()},
                    {"missing", missing}};
    if (!s_.not_null.empty()) out.observed["null_values"] = with_nulls;
    out.expected = {{"rows", s_.rows.size()}, {"key_columns", s_.keys}};
    if (!s_.not_null.empty()) out.expected["not_null"] = s_.not_null;
    out.details = {{"query", sql}};
    auto cut = [](std::vector<std::string> items) {
      std::string extra = items.size() > kShownInMessage
                              ? fmt::format(" and {} more", items.size() - kShownInMessage)
                              : "";
      if (items.size() > kShownInMessage) items.resize(kShownInMessage);
      return join(items, ", ") + extra;
    };
    std::vector<std::string> problems;
    if (!missing_text.empty()) {
      problems.push_back(fmt::format("{} of {} expected row{} missing: {}", missing_text.size(),
                                     s_.rows.size(), s_.rows.size() == 1 ? "" : "s",
                                     cut(missing_text)));
    }
    if (!null_text.empty()) {
      problems.push_back(fmt::format("{} row{} with NULL where a value is required: {}",
                                     null_text.size(), null_text.size() == 1 ? "" : "s",
                                     cut(null_text)));
    }
    if (!problems.empty()) {
      out.status = Status::fail;
      out.message = fmt::format("{}: {}", what, join(problems, "; "));
      return out;
    }
    out.status = Status::pass;
    out.message = fmt::format(
        "{}: all {} expected row{} present{}", what, s_.rows.size(), s_.rows.size() == 1 ? "" : "s",
        s_.not_null.empty() ? "" : fmt::format(", with values in {}", join(s_.not_null, ", ")));
    return out;
  }

 private:
  Settings s_;
};

CheckInfo rows_present_info() {
  CheckInfo i;
  i.type = "sql_rows_present";
  i.category = "database";
  i.summary = "Expected rows (by key) are present in a table, optionally with non-NULL columns.";
  i.description =
      "For each expected key tuple in `rows`, counts the rows of `table` whose `key_columns` "
      "equal it (values bound as parameters) and fails naming every missing tuple; with "
      "`not_null`, also every present row with NULL in one of those columns. A NULL key is "
      "refused (NULL matches nothing). Up to 10000 expected rows, one query each, in one "
      "read-only transaction.";
  i.params = connection_params();
  i.params.insert(
      i.params.end(),
      {{"table", ParamType::string, true, nullptr, "The table or view (name or schema.name).", {}},
       {"key_columns",
        ParamType::string_list,
        true,
        nullptr,
        "The columns that identify a row.",
        {}},
       {"rows",
        ParamType::any,
        true,
        nullptr,
        "Expected keys: a list of tuples ([a, b]) or, for one key column, of values; each value "
        "a literal or $variable; or a whole string_list $variable.",
        {}},
       {"not_null",
        ParamType::string_list,
        false,
        nullptr,
        "Columns that must hold a value in every expected row.",
        {}}});
  i.example =
      "# vars: {db_url: {type: string, secret: true}, photo_id: {type: string}}\n"
      "- id: new_insight\n"
      "  type: sql_rows_present\n"
      "  url: $db_url\n"
      "  table: photo_insights\n"
      "  key_columns: [photo_id]\n"
      "  rows: [$photo_id]\n"
      "  not_null: [embedding, cluster_id]";
  return i;
}

Result<std::unique_ptr<Check>> make_rows_present(const CheckConfig& config) {
  auto target = parse_target(config);
  if (!target) return std::move(target).error();
  RowsPresentCheck::Settings s;
  auto table = get_identifier(config, "table");
  if (!table) return std::move(table).error();
  s.table = std::move(*table);
  auto keys = get_identifiers(config, "key_columns");
  if (!keys) return std::move(keys).error();
  s.keys = std::move(*keys);
  auto nn = get_identifiers(config, "not_null", false);
  if (!nn) return std::move(nn).error();
  s.not_null = std::move(*nn);
  const Json& rows = config.get_json("rows");
  if (!rows.is_array() || rows.empty()) {
    return config.error("rows", "expected a non-empty list of expected keys");
  }
  if (rows.size() > kMaxExpectedRows) {
    return config.error("rows", fmt::format("at most {} expected rows", kMaxExpectedRows));
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Json& r = rows[i];
    std::vector<BoundValue> tuple;
    if (r.is_array()) {
      if (r.size() != s.keys.size()) {
        return config.error("rows", fmt::format("[{}]: {} value(s) for {} key column(s)", i,
                                                r.size(), s.keys.size()));
      }
      for (std::size_t k = 0; k < r.size(); ++k) {
        auto b = parse_value(config, "rows", r[k], fmt::format("[{}][{}]", i, k));
        if (!b) return std::move(b).error();
        tuple.push_back(std::move(*b));
      }
    } else {
      if (s.keys.size() != 1) {
        return config.error("rows", fmt::format("[{}]: expected a list of {} values (one per key "
                                                "column)",
                                                i, s.keys.size()));
      }
      auto b = parse_value(config, "rows", r, fmt::format("[{}]", i));
      if (!b) return std::move(b).error();
      tuple.push_back(std::move(*b));
    }
    for (std::size_t k = 0; k < tuple.size(); ++k) {
      if (tuple[k].var.empty() && tuple[k].literal.is_null()) {
        return config.error("rows", fmt::format("[{}]: a NULL key never matches", i));
      }
    }
    s.rows.push_back(std::move(tuple));
  }
  return std::unique_ptr<Check>(
      std::make_unique<RowsPresentCheck>(std::move(*target), std::move(s)));
}

// ---- sql_orphans ----------------------------------------------------------------------------

class OrphansCheck final : public SqlCheck {
 public:
  struct Settings {
    std::string child, parent;
    std::vector<std::string> fk, pk, child_key;
    std::string where;
    std::vector<BoundValue> params;
    std::int64_t sample = kDefaultSample;
    std::int64_t min_child_rows = 1;
    bool null_is_orphan = false;
  };
  OrphansCheck(Target t, Settings s) : SqlCheck(std::move(t)), s_(std::move(s)) {}

 protected:
  CheckOutcome evaluate(Session& session, CheckContext& ctx) const override {
    auto values = resolve_values(s_.params, ctx, "params");
    if (!values) return var_problem(values.error());
    std::vector<std::string> any_null, join_on;
    for (std::size_t i = 0; i < s_.fk.size(); ++i) {
      any_null.push_back(fmt::format("c.{} IS NULL", quote(s_.fk[i])));
      join_on.push_back(fmt::format("p.{} = c.{}", quote(s_.pk[i]), quote(s_.fk[i])));
    }
    const std::string has_null = "(" + join(any_null, " OR ") + ")";
    const std::string no_parent = fmt::format("NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
                                              quote(s_.parent), join(join_on, " AND "));
    const std::string orphan = s_.null_is_orphan
                                   ? fmt::format("({} OR {})", has_null, no_parent)
                                   : fmt::format("(NOT {} AND {})", has_null, no_parent);
    const std::string where = s_.where.empty() ? "" : fmt::format(" WHERE ({})", s_.where);
    const std::string count_sql = fmt::format(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0) FROM {} c{}",
        has_null, orphan, quote(s_.child), where);
    std::vector<std::int64_t> counts;
    if (auto bad = one_row_of_ints(session, count_sql, *values, counts, [&](const Error& e) {
          return query_failed(e, "the orphan count", count_sql);
        })) {
      return *bad;
    }
    const std::int64_t checked = counts[0], null_fk = counts[1], orphans = counts[2];
    const std::string what = fmt::format("{}: {}({}) -> {}({})", display(), s_.child,
                                         join(s_.fk, ", "), s_.parent, join(s_.pk, ", "));
    CheckOutcome out;
    out.observed = {{"database", display()},
                    {"child_rows", checked},
                    {"null_foreign_keys", null_fk},
                    {"orphans", orphans}};
    out.expected = {{"orphans", 0}, {"min_child_rows", s_.min_child_rows}};
    out.details = {{"count_query", count_sql}, {"params", describe_values(s_.params)}};
    std::vector<std::string> problems;
    if (orphans > 0) {
      std::vector<std::string> cols;
      for (const auto& k : s_.child_key) cols.push_back("c." + quote(k));
      for (const auto& k : s_.fk) cols.push_back("c." + quote(k));
      std::vector<std::string> order;
      for (const auto& k : s_.fk) order.push_back("c." + quote(k));
      for (const auto& k : s_.child_key) order.push_back("c." + quote(k));
      const std::string sample_sql = fmt::format(
          "SELECT {} FROM {} c WHERE {}{} ORDER BY {} LIMIT {}", join(cols, ", "), quote(s_.child),
          orphan, s_.where.empty() ? "" : fmt::format(" AND ({})", s_.where), join(order, ", "),
          s_.sample);
      Json sample = Json::array();
      std::vector<std::string> shown;
      if (s_.sample > 0) {
        auto r = session.query(sample_sql, *values, static_cast<std::size_t>(s_.sample));
        if (!r) return query_failed(r.error(), "the orphan sample", sample_sql);
        for (const auto& row : r->rows) {
          Json obj = Json::object();
          for (std::size_t c = 0; c < row.size(); ++c) obj[r->columns[c]] = reportable(row[c]);
          shown.push_back(dump(obj));
          sample.push_back(std::move(obj));
        }
      }
      out.observed["sample"] = std::move(sample);
      out.details["sample_query"] = sample_sql;
      if (shown.size() > kShownInMessage) shown.resize(kShownInMessage);
      problems.push_back(fmt::format("{} of {} child row{} {} no parent{}{}", orphans, checked,
                                     checked == 1 ? "" : "s", orphans == 1 ? "has" : "have",
                                     s_.null_is_orphan ? " (NULL keys count as orphans)" : "",
                                     shown.empty() ? "" : ": " + join(shown, ", ")));
    }
    if (checked < s_.min_child_rows) {
      problems.push_back(
          fmt::format("{} child row{} checked, expected at least {} (set "
                      "min_child_rows: 0 if none is fine)",
                      checked, checked == 1 ? "" : "s", s_.min_child_rows));
    }
    if (!problems.empty()) {
      out.status = Status::fail;
      out.message = fmt::format("{}: {}", what, join(problems, "; "));
      return out;
    }
    out.status = Status::pass;
    out.message =
        fmt::format("{}: no orphans among {} child row{}{}", what, checked, checked == 1 ? "" : "s",
                    null_fk > 0 ? fmt::format(" ({} with a NULL key, not counted)", null_fk) : "");
    return out;
  }

 private:
  Settings s_;
};

CheckInfo orphans_info() {
  CheckInfo i;
  i.type = "sql_orphans";
  i.category = "database";
  i.summary = "No child row whose foreign key has no parent row.";
  i.description =
      "Counts the rows of `child_table` (aliased c; optionally filtered by `where`, SQL with "
      "$1..$n from `params`) whose `child_columns` match no row of `parent_table` on "
      "`parent_columns` (NOT EXISTS), fails if there is any, and lists the first `sample` of "
      "them (with `child_key` columns to name the rows). A row with a NULL foreign key "
      "references nothing and is not an orphan unless `null_is_orphan: true`. Fewer than "
      "`min_child_rows` checked rows (default 1) fail too: no rows is no evidence.";
  i.params = connection_params();
  i.params.insert(
      i.params.end(),
      {{"child_table", ParamType::string, true, nullptr, "The referencing table.", {}},
       {"child_columns", ParamType::string_list, true, nullptr, "Its foreign key column(s).", {}},
       {"parent_table", ParamType::string, true, nullptr, "The referenced table.", {}},
       {"parent_columns",
        ParamType::string_list,
        true,
        nullptr,
        "The referenced column(s), in the same order.",
        {}},
       {"child_key",
        ParamType::string_list,
        false,
        nullptr,
        "Columns shown to identify an orphan row (e.g. its primary key).",
        {}},
       {"where",
        ParamType::string,
        false,
        nullptr,
        "SQL condition on the child rows (alias c), with $1..$n from `params`.",
        {}},
       {"params", ParamType::any, false, nullptr, "Values for `where`: literals or $variable.", {}},
       {"sample", ParamType::integer, false, kDefaultSample, "Orphans listed (0-1000).", {}},
       {"min_child_rows",
        ParamType::integer,
        false,
        1,
        "Fewer child rows checked fail (0 accepts an empty table).",
        {}},
       {"null_is_orphan",
        ParamType::boolean,
        false,
        false,
        "Count rows with a NULL foreign key as orphans.",
        {}}});
  i.example =
      "- id: no_orphaned_events\n"
      "  type: sql_orphans\n"
      "  url: $db_url\n"
      "  child_table: events\n"
      "  child_columns: [action_id]\n"
      "  parent_table: actions\n"
      "  parent_columns: [id]\n"
      "  child_key: [id]\n"
      "  where: c.mission_id = $1\n"
      "  params: [$mission_id]";
  return i;
}

Result<std::unique_ptr<Check>> make_orphans(const CheckConfig& config) {
  auto target = parse_target(config);
  if (!target) return std::move(target).error();
  OrphansCheck::Settings s;
  auto child = get_identifier(config, "child_table");
  if (!child) return std::move(child).error();
  auto parent = get_identifier(config, "parent_table");
  if (!parent) return std::move(parent).error();
  auto fk = get_identifiers(config, "child_columns");
  if (!fk) return std::move(fk).error();
  auto pk = get_identifiers(config, "parent_columns");
  if (!pk) return std::move(pk).error();
  auto ck = get_identifiers(config, "child_key", false);
  if (!ck) return std::move(ck).error();
  if (fk->size() != pk->size()) {
    return config.error("parent_columns", fmt::format("{} parent column(s) for {} child column(s)",
                                                      pk->size(), fk->size()));
  }
  s.child = std::move(*child);
  s.parent = std::move(*parent);
  s.fk = std::move(*fk);
  s.pk = std::move(*pk);
  s.child_key = std::move(*ck);
  if (auto filter = parse_where(config, s.where, s.params); !filter) {
    return std::move(filter).error();
  }
  auto sample = get_bounded(config, "sample", 0, kMaxSample);
  if (!sample) return std::move(sample).error();
  s.sample = *sample;
  auto min_rows = get_bounded(config, "min_child_rows", 0, INT64_MAX);
  if (!min_rows) return std::move(min_rows).error();
  s.min_child_rows = *min_rows;
  s.null_is_orphan = config.get_bool("null_is_orphan");
  return std::unique_ptr<Check>(std::make_unique<OrphansCheck>(std::move(*target), std::move(s)));
}

// ---- sql_append_only_log --------------------------------------------------------------------

class AppendOnlyLogCheck final : public SqlCheck {
 public:
  struct Actions {
    std::string table;
    std::vector<std::string> key, log_key;
    std::string where;
    std::vector<BoundValue> params;
    std::string kind_column;
    std::vector<std::string> required_kinds;
    std::int64_t min_actions = 1;
  };
  struct Settings {
    std::string table, seq, time, hash, prev_hash;
    std::string where;
    std::vector<BoundValue> params;
    std::optional<std::int64_t> first;
    std::int64_t min_entries = 1;
    std::int64_t sample = kDefaultSample;
    std::optional<Actions> actions;
  };
  AppendOnlyLogCheck(Target t, Settings s) : SqlCheck(std::move(t)), s_(std::move(s)) {}

 protected:
  CheckOutcome evaluate(Session& session, CheckContext& ctx) const override {
    auto values = resolve_values(s_.params, ctx, "params");
    if (!values) return var_problem(values.error());
    const std::string seq = "l." + quote(s_.seq);
    const std::string where = s_.where.empty() ? "" : fmt::format(" WHERE ({})", s_.where);
    const std::string and_where = s_.where.empty() ? "" : fmt::format(" AND ({})", s_.where);
    const std::string table = quote(s_.table) + " l";
    const std::string what = fmt::format("{}: log {} (sequence {})", display(), s_.table, s_.seq);
    std::vector<std::string> problems;
    Json observed = {{"database", display()}, {"table", s_.table}};
    Json details = {{"queries", Json::array()}};

    // 1. Counts, bounds and NULLs. MIN/MAX come back typed, so a non-integer sequence shows.
    const std::string summary_sql = fmt::format(
        "SELECT COUNT(*), COUNT({0}), COUNT(DISTINCT {0}), MIN({0}), MAX({0}){1} FROM {2}{3}", seq,
        s_.time.empty() ? "" : fmt::format(", COUNT(l.{})", quote(s_.time)), table, where);
    details["queries"].push_back(summary_sql);
    auto sum = session.query(summary_sql, *values, 2);
    if (!sum) return query_failed(sum.error(), "the log summary", summary_sql);
    if (sum->rows.size() != 1) {
      return query_failed(make_error(Errc::malformed, "expected one row"), "the log summary",
                          summary_sql);
    }
    const auto& row = sum->rows[0];
    auto entries = as_int(row[0]), non_null = as_int(row[1]), distinct = as_int(row[2]);
    if (!entries || !non_null || !distinct) {
      return query_failed(make_error(Errc::type_mismatch, "COUNT did not return integers"),
                          "the log summary", summary_sql);
    }
    observed["entries"] = *entries;
    if (*entries < s_.min_entries) {
      problems.push_back(fmt::format("{} entr{}, expected at least {}", *entries,
                                     *entries == 1 ? "y" : "ies", s_.min_entries));
    }
    if (*non_null < *entries) {
      problems.push_back(fmt::format("{} entr{} with a NULL {}", *entries - *non_null,
                                     *entries - *non_null == 1 ? "y" : "ies", s_.seq));
    }
    std::optional<std::int64_t> min, max;
    if (*non_null > 0) {
      min = as_int(row[3]);
      max = as_int(row[4]);
      if (!min || !max) {
        problems.push_back(fmt::format("{} is not an integer sequence (min {}, max {})", s_.seq,
                                       dump(reportable(row[3])), dump(reportable(row[4]))));
      }
    }
    if (min && max) {
      const std::int64_t duplicates = *non_null - *distinct;
      const std::int64_t gaps = (*max - *min + 1) - *distinct;
      observed["sequence"] = {{"min", *min},
                              {"max", *max},
                              {"distinct", *distinct},
                              {"duplicates", duplicates},
                              {"missing", gaps}};
      if (s_.first && *min != *s_.first) {
        problems.push_back(fmt::format("the sequence starts at {}, expected {}", *min, *s_.first));
      }
      if (duplicates > 0 || gaps > 0) {
        const std::string anomalies_sql = fmt::format(
            "SELECT prev_seq, seq FROM (SELECT {0} AS seq, LAG({0}) OVER (ORDER BY {0}) AS "
            "prev_seq FROM {1} WHERE {0} IS NOT NULL{2}) x WHERE seq <> prev_seq + 1 ORDER BY seq "
            "LIMIT {3}",
            seq, table, and_where, std::max<std::int64_t>(s_.sample, 1));
        details["queries"].push_back(anomalies_sql);
        auto an = session.query(anomalies_sql, *values, static_cast<std::size_t>(kMaxSample));
        if (!an) return query_failed(an.error(), "the sequence gap", anomalies_sql);
        Json list = Json::array();
        std::vector<std::string> shown;
        for (const auto& r : an->rows) {
          auto prev = as_int(r[0]), cur = as_int(r[1]);
          if (!prev || !cur) continue;
          if (*cur == *prev) {
            list.push_back({{"duplicate", *cur}});
            shown.push_back(fmt::format("{} twice", *cur));
          } else if (*cur == *prev + 2) {
            list.push_back({{"missing_from", *prev + 1}, {"missing_to", *prev + 1}});
            shown.push_back(fmt::format("{} missing", *prev + 1));
          } else {
            list.push_back({{"missing_from", *prev + 1}, {"missing_to", *cur - 1}});
            shown.push_back(fmt::format("{}..{} missing", *prev + 1, *cur - 1));
          }
        }
        observed["anomalies"] = std::move(list);
        if (shown.size() > kShownInMessage) shown.resize(kShownInMessage);
        std::vector<std::string> parts;
        if (gaps > 0) parts.push_back(fmt::format("{} missing", gaps));
        if (duplicates > 0) parts.push_back(fmt::format("{} duplicated", duplicates));
        problems.push_back(fmt::format("the sequence {}..{} has {}: {}", *min, *max,
                                       join(parts, " and "), join(shown, ", ")));
      }
    }

    // 2. Times never go back in sequence order.
    if (!s_.time.empty()) {
      auto timed = as_int(row[5]);
      if (timed && *timed < *entries) {
        problems.push_back(fmt::format("{} entr{} with a NULL {}", *entries - *timed,
                                       *entries - *timed == 1 ? "y" : "ies", s_.time));
      }
      const std::string t = "l." + quote(s_.time);
      const std::string back_sql = fmt::format(
          "SELECT seq, t, prev_t FROM (SELECT {0} AS seq, {1} AS t, LAG({1}) OVER (ORDER BY {0}, "
          "{1}) AS prev_t FROM {2}{3}) x WHERE t < prev_t ORDER BY seq LIMIT {4}",
          seq, t, table, where, kMaxSample);
      details["queries"].push_back(back_sql);
      auto back = session.query(back_sql, *values, static_cast<std::size_t>(kMaxSample));
      if (!back) return query_failed(back.error(), "the time order", back_sql);
      observed["time_goes_back"] = back->rows.size();
      if (!back->rows.empty()) {
        Json list = Json::array();
        std::vector<std::string> shown;
        for (const auto& r : back->rows) {
          if (static_cast<std::int64_t>(list.size()) < std::max<std::int64_t>(s_.sample, 1)) {
            list.push_back({{s_.seq, reportable(r[0])},
                            {s_.time, reportable(r[1])},
                            {"previous", reportable(r[2])}});
          }
          if (shown.size() < kShownInMessage) {
            shown.push_back(fmt::format("{} {} at {} after {}", s_.seq, dump(reportable(r[0])),
                                        dump(reportable(r[1])), dump(reportable(r[2]))));
          }
        }
        observed["time_order_violations"] = std::move(list);
        problems.push_back(fmt::format(
            "{} goes back {}{} time{}: {}", s_.time,
            back->rows.size() >= static_cast<std::size_t>(kMaxSample) ? "at least " : "",
            back->rows.size(), back->rows.size() == 1 ? "" : "s", join(shown, "; ")));
      }
    }

    // 3. Every entry after the first names its predecessor's hash.
    if (!s_.hash.empty()) {
      const std::string h = "l." + quote(s_.hash), ph = "l." + quote(s_.prev_hash);
      const std::string chain_sql = fmt::format(
          "SELECT seq, prev_hash, expected FROM (SELECT {0} AS seq, {2} AS prev_hash, LAG({1}) "
          "OVER (ORDER BY {0}, {1}) AS expected, ROW_NUMBER() OVER (ORDER BY {0}, {1}) AS n FROM "
          "{3}{4}) x WHERE n > 1 AND (prev_hash IS NULL OR expected IS NULL OR prev_hash <> "
          "expected) ORDER BY seq LIMIT {5}",
          seq, h, ph, table, where, kMaxSample);
      details["queries"].push_back(chain_sql);
      auto chain = session.query(chain_sql, *values, static_cast<std::size_t>(kMaxSample));
      if (!chain) return query_failed(chain.error(), "the hash chain", chain_sql);
      observed["chain_breaks"] = chain->rows.size();
      if (!chain->rows.empty()) {
        Json list = Json::array();
        std::vector<std::string> shown;
        for (const auto& r : chain->rows) {
          if (static_cast<std::int64_t>(list.size()) < std::max<std::int64_t>(s_.sample, 1)) {
            list.push_back({{s_.seq, reportable(r[0])},
                            {s_.prev_hash, reportable(r[1])},
                            {"previous_" + s_.hash, reportable(r[2])}});
          }
          if (shown.size() < kShownInMessage) {
            shown.push_back(fmt::format("{} {} has {} {}, the previous entry's {} is {}", s_.seq,
                                        dump(reportable(r[0])), s_.prev_hash,
                                        dump(reportable(r[1])), s_.hash, dump(reportable(r[2]))));
          }
        }
        observed["chain_violations"] = std::move(list);
        problems.push_back(fmt::format(
            "the hash chain breaks {}{} time{}: {}",
            chain->rows.size() >= static_cast<std::size_t>(kMaxSample) ? "at least " : "",
            chain->rows.size(), chain->rows.size() == 1 ? "" : "s", join(shown, "; ")));
      }
    }

    // 4. Every action has its log entries.
    if (s_.actions) {
      const Actions& a = *s_.actions;
      auto avalues = resolve_values(a.params, ctx, "actions.params");
      if (!avalues) return var_problem(avalues.error());
      std::vector<std::string> on;
      for (std::size_t i = 0; i < a.key.size(); ++i) {
        on.push_back(fmt::format("l.{} = a.{}", quote(a.log_key[i]), quote(a.key[i])));
      }
      const std::string atable = quote(a.table) + " a";
      const std::string awhere = a.where.empty() ? "" : fmt::format(" AND ({})", a.where);
      const std::string count_sql = fmt::format("SELECT COUNT(*) FROM {}{}", atable,
                                                a.where.empty() ? "" : " WHERE (" + a.where + ")");
      details["queries"].push_back(count_sql);
      std::vector<std::int64_t> n;
      if (auto bad = one_row_of_ints(session, count_sql, *avalues, n, [&](const Error& e) {
            return query_failed(e, "the action count", count_sql);
          })) {
        return *bad;
      }
      Json aobs = {{"table", a.table}, {"actions", n[0]}, {"without_entries", Json::object()}};
      if (n[0] < a.min_actions) {
        problems.push_back(fmt::format("{} action{} in {}, expected at least {}", n[0],
                                       n[0] == 1 ? "" : "s", a.table, a.min_actions));
      }
      std::vector<std::string> kinds = a.required_kinds;
      if (kinds.empty()) kinds.push_back("");
      std::vector<std::string> keycols;
      for (const auto& k : a.key) keycols.push_back("a." + quote(k));
      for (const std::string& kind : kinds) {
        std::vector<Json> params = *avalues;
        std::string kind_match;
        if (!kind.empty()) {
          params.push_back(kind);
          kind_match = fmt::format(" AND l.{} = ${}", quote(a.kind_column), params.size());
        }
        const std::string missing_sql = fmt::format(
            "SELECT {0} FROM {1} WHERE NOT EXISTS (SELECT 1 FROM {2} WHERE {3}{4}){5} ORDER BY {0} "
            "LIMIT {6}",
            join(keycols, ", "), atable, table, join(on, " AND "), kind_match, awhere, kMaxSample);
        details["queries"].push_back(missing_sql);
        auto miss = session.query(missing_sql, params, static_cast<std::size_t>(kMaxSample));
        if (!miss) return query_failed(miss.error(), "the action log", missing_sql);
        if (miss->rows.empty()) continue;
        Json list = Json::array();
        std::vector<std::string> shown;
        for (const auto& r : miss->rows) {
          Json key = r.size() == 1 ? reportable(r[0]) : reportable(Json(r));
          if (static_cast<std::int64_t>(list.size()) < std::max<std::int64_t>(s_.sample, 1)) {
            list.push_back(key);
          }
          if (shown.size() < kShownInMessage) shown.push_back(dump(key));
        }
        aobs["without_entries"][kind.empty() ? "any" : kind] = std::move(list);
        std::string count = fmt::format(
            "{}{}", miss->rows.size() >= static_cast<std::size_t>(kMaxSample) ? "at least " : "",
            miss->rows.size());
        problems.push_back(fmt::format(
            "{} action{} in {} without {} log entry: {}", count, miss->rows.size() == 1 ? "" : "s",
            a.table,
            kind.empty() ? std::string("any") : fmt::format("a {} = \"{}\"", a.kind_column, kind),
            join(shown, ", ")));
      }
      observed["actions"] = std::move(aobs);
    }

    CheckOutcome out;
    out.observed = std::move(observed);
    out.expected = {{"min_entries", s_.min_entries}, {"gaps", 0}, {"duplicates", 0}};
    if (s_.first) out.expected["first_sequence"] = *s_.first;
    if (!s_.time.empty()) out.expected["time_order"] = "non-decreasing by " + s_.seq;
    if (!s_.hash.empty()) {
      out.expected["hash_chain"] =
          fmt::format("{} = the previous entry's {}", s_.prev_hash, s_.hash);
    }
    if (s_.actions && !s_.actions->required_kinds.empty()) {
      out.expected["required_kinds"] = s_.actions->required_kinds;
    }
    details["params"] = describe_values(s_.params);
    out.details = std::move(details);
    if (!problems.empty()) {
      out.status = Status::fail;
      out.message = fmt::format("{}: {}", what, join(problems, "; "));
      return out;
    }
    out.status = Status::pass;
    std::string text = fmt::format("{} entries", *entries);
    if (min && max) text += fmt::format(", sequence {}..{} without gaps or duplicates", *min, *max);
    if (!s_.time.empty()) text += fmt::format(", {} never goes back", s_.time);
    if (!s_.hash.empty())
      text += fmt::format(", every {} links to the previous {}", s_.prev_hash, s_.hash);
    if (s_.actions) {
      text += fmt::format(", every action in {} has its log entries", s_.actions->table);
    }
    out.message = fmt::format("{}: {}", what, text);
    return out;
  }

 private:
  Settings s_;
};

CheckInfo append_only_log_info() {
  CheckInfo i;
  i.type = "sql_append_only_log";
  i.category = "database";
  i.summary =
      "An append-only log: its sequence has no gaps or duplicates, times never go back, and "
      "every action has its log entries.";
  i.description =
      "On `table` (aliased l; optionally filtered by `where` with $1..$n from `params`): at "
      "least `min_entries` entries; no NULL in `sequence_column`, which must be an integer; no "
      "duplicate and no missing value between its minimum and maximum (listing the first "
      "`sample` gaps and duplicates, found with LAG() OVER (ORDER BY sequence)); with "
      "`first_sequence`, the minimum must equal it. With `time_column`: no NULL, and the time "
      "never decreases in sequence order (text times compare as text: use one ISO format). With "
      "`hash_column` and `prev_hash_column`: every entry after the first holds the previous "
      "entry's hash (a hash chain; the hashes themselves are not recomputed). With "
      "`actions` ({table, key, log_key, where, params, kind_column, required_kinds, "
      "min_actions}): every row of the actions table (aliased a) has a log entry whose `log_key` "
      "equals its `key`, one of each `required_kinds` value in `kind_column` when given; actions "
      "without entries are named. Fewer than `min_actions` actions (default 1) fail.";
  i.params = connection_params();
  i.params.insert(
      i.params.end(),
      {{"table", ParamType::string, true, nullptr, "The log table.", {}},
       {"sequence_column", ParamType::string, true, nullptr, "Its integer sequence column.", {}},
       {"time_column",
        ParamType::string,
        false,
        nullptr,
        "A time column that must never go back in sequence order.",
        {}},
       {"where",
        ParamType::string,
        false,
        nullptr,
        "SQL condition selecting the entries (alias l), with $1..$n from `params`.",
        {}},
       {"params", ParamType::any, false, nullptr, "Values for `where`: literals or $variable.", {}},
       {"hash_column",
        ParamType::string,
        false,
        nullptr,
        "With prev_hash_column: each entry's hash (a hash chain).",
        {}},
       {"prev_hash_column",
        ParamType::string,
        false,
        nullptr,
        "Each entry after the first must hold the previous entry's hash_column here.",
        {}},
       {"first_sequence",
        ParamType::integer,
        false,
        nullptr,
        "The sequence must start here (e.g. 1).",
        {}},
       {"min_entries", ParamType::integer, false, 1, "At least this many entries.", {}},
       {"sample",
        ParamType::integer,
        false,
        kDefaultSample,
        "Offending items listed (0-1000).",
        {}},
       {"actions",
        ParamType::object,
        false,
        nullptr,
        "{table, key, log_key, where, params, kind_column, required_kinds, min_actions}: every "
        "action needs its log entries.",
        {}}});
  i.example =
      "- id: audit_log\n"
      "  type: sql_append_only_log\n"
      "  url: $db_url\n"
      "  table: immutable_log\n"
      "  sequence_column: seq\n"
      "  time_column: created_at\n"
      "  first_sequence: 1\n"
      "  actions:\n"
      "    table: actions\n"
      "    key: [id]\n"
      "    log_key: [action_id]\n"
      "    kind_column: event\n"
      "    required_kinds: [action_started, action_finished]\n"
      "    where: a.mission_id = $1\n"
      "    params: [$mission_id]";
  return i;
}

/// A column list written as a string or a list of strings (inside `actions`).
Result<std::vector<std::string>> columns_of(const CheckConfig& config, const Json& v,
                                            const std::string& where) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array() && !v.empty()) {
    for (const auto& e : v) {
      if (!e.is_string()) {
        return config.error("actions", fmt::format("{}: expected column names", where));
      }
      out.push_back(e.get<std::string>());
    }
  } else {
    return config.error("actions",
                        fmt::format("{}: expected a column name or a non-empty list", where));
  }
  for (const auto& c : out) {
    if (!valid_identifier(c) || c.find('.') != std::string::npos) {
      return config.error("actions", fmt::format("{}: '{}' is not a column name", where, c));
    }
  }
  return out;
}

Result<std::unique_ptr<Check>> make_append_only_log(const CheckConfig& config) {
  auto target = parse_target(config);
  if (!target) return std::move(target).error();
  AppendOnlyLogCheck::Settings s;
  auto table = get_identifier(config, "table");
  if (!table) return std::move(table).error();
  s.table = std::move(*table);
  auto seq = get_identifier(config, "sequence_column");
  if (!seq) return std::move(seq).error();
  if (seq->find('.') != std::string::npos) {
    return config.error("sequence_column", "a column name, without a table");
  }
  s.seq = std::move(*seq);
  if (config.has("time_column")) {
    auto t = get_identifier(config, "time_column");
    if (!t) return std::move(t).error();
    if (t->find('.') != std::string::npos) {
      return config.error("time_column", "a column name, without a table");
    }
    s.time = std::move(*t);
  }
  if (auto filter = parse_where(config, s.where, s.params); !filter) {
    return std::move(filter).error();
  }
  if (config.has("hash_column") != config.has("prev_hash_column")) {
    return config.error(config.has("hash_column") ? "prev_hash_column" : "hash_column",
                        "give hash_column and prev_hash_column together");
  }
  if (config.has("hash_column")) {
    for (const char* p : {"hash_column", "prev_hash_column"}) {
      auto c = get_identifier(config, p);
      if (!c) return std::move(c).error();
      if (c->find('.') != std::string::npos) {
        return config.error(p, "a column name, without a table");
      }
      (std::string_view(p) == "hash_column" ? s.hash : s.prev_hash) = std::move(*c);
    }
  }
  if (config.has("first_sequence")) s.first = config.get_int("first_sequence");
  auto min_entries = get_bounded(config, "min_entries", 0, INT64_MAX);
  if (!min_entries) return std::move(min_entries).error();
  s.min_entries = *min_entries;
  auto sample = get_bounded(config, "sample", 0, kMaxSample);
  if (!sample) return std::move(sample).error();
  s.sample = *sample;
  if (config.has("actions")) {
    const Json& a = config.get_json("actions");
    AppendOnlyLogCheck::Actions act;
    for (const auto& [k, v] : a.items()) {
      static const std::vector<std::string> kKeys = {"table",          "key",        "log_key",
                                                     "where",          "params",     "kind_column",
                                                     "required_kinds", "min_actions"};
      if (std::find(kKeys.begin(), kKeys.end(), k) == kKeys.end()) {
        return config.error("actions",
                            fmt::format("unknown key '{}' (expected {})", k, join(kKeys, ", ")));
      }
    }
    if (!a.contains("table") || !a["table"].is_string() ||
        !valid_identifier(a["table"].get<std::string>())) {
      return config.error("actions", "table: expected a table name");
    }
    act.table = a["table"].get<std::string>();
    if (!a.contains("key")) return config.error("actions", "key: missing");
    auto key = columns_of(config, a["key"], "key");
    if (!key) return std::move(key).error();
    act.key = std::move(*key);
    if (!a.contains("log_key")) return config.error("actions", "log_key: missing");
    auto log_key = columns_of(config, a["log_key"], "log_key");
    if (!log_key) return std::move(log_key).error();
    act.log_key = std::move(*log_key);
    if (act.key.size() != act.log_key.size()) {
      return config.error("actions", fmt::format("log_key has {} column(s), key {}",
                                                 act.log_key.size(), act.key.size()));
    }
    if (a.contains("where")) {
      if (!a["where"].is_string() || query_label(a["where"].get<std::string>()).empty()) {
        return config.error("actions", "where: expected an SQL condition");
      }
      act.where = a["where"].get<std::string>();
      if (act.where.find('\0') != std::string::npos) {
        return config.error("actions", "where: the condition holds a NUL character");
      }
    }
    auto ap = parse_values(config, "actions", a.contains("params") ? a["params"] : Json(nullptr));
    if (!ap) return std::move(ap).error();
    act.params = std::move(*ap);
    if (!act.params.empty() && act.where.empty()) {
      return config.error("actions", "params are bound in `where`, which is not given");
    }
    if (a.contains("kind_column")) {
      auto kc = columns_of(config, a["kind_column"], "kind_column");
      if (!kc) return std::move(kc).error();
      if (kc->size() != 1) return config.error("actions", "kind_column: one column");
      act.kind_column = kc->front();
    }
    if (a.contains("required_kinds")) {
      const Json& rk = a["required_kinds"];
      if (!rk.is_array() || rk.empty()) {
        return config.error("actions", "required_kinds: expected a non-empty list of strings");
      }
      for (const auto& k : rk) {
        if (!k.is_string() || k.get<std::string>().empty()) {
          return config.error("actions", "required_kinds: expected non-empty strings");
        }
        act.required_kinds.push_back(k.get<std::string>());
      }
      if (act.kind_column.empty()) {
        return config.error("actions", "required_kinds needs kind_column");
      }
    } else if (!act.kind_column.empty()) {
      return config.error("actions", "kind_column needs required_kinds");
    }
    if (a.contains("min_actions")) {
      auto m = as_int(a["min_actions"]);
      if (!m || *m < 0) return config.error("actions", "min_actions: expected an integer >= 0");
      act.min_actions = *m;
    }
    s.actions = std::move(act);
  }
  return std::unique_ptr<Check>(
      std::make_unique<AppendOnlyLogCheck>(std::move(*target), std::move(s)));
}

void register_checks(PluginRegistrar& registrar) {
  registrar.add(query_info(), make_query);
  registrar.add(rows_present_info(), make_rows_present);
  registrar.add(orphans_info(), make_orphans);
  registrar.add(append_only_log_info(), make_append_only_log);
}

}  // namespace

STAGECHECK_PLUGIN("sql", "1.0.0", register_checks)
