// `prometheus`: checks on metrics, fail-closed.
//
//  * prometheus_query    — an instant PromQL query; conditions on each series (value, labels).
//  * prometheus_quantile — a percentile from a histogram (histogram_quantile over buckets).
//  * prometheus_increase — a value rises by at least N within a bounded wait.
//  * metrics_scrape      — a /metrics endpoint read directly (text format 0.0.4), no server.
//
// Positive evidence only: an empty result, NaN, ±Inf, a wrongly typed value or a refused query
// fail; an unreachable service, a timeout or a 5xx answer is `error` (could not be evaluated).

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <stagecheck/plugin.hpp>

#include "exposition.hpp"
#include "http_client.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace {

using namespace stagecheck;
using namespace stagecheck::prometheus;
using Json = nlohmann::json;

/// Series shown in observed / messages at most (the count is always given).
constexpr std::size_t kMaxShownSeries = 20;
/// Longest text quoted from a server's answer.
constexpr std::size_t kMaxQuoted = 300;
/// Largest token / password file read.
constexpr std::size_t kMaxSecretFile = 64 * 1024;

std::string clip(std::string_view s) {
  std::string out(s.substr(0, kMaxQuoted));
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (s.size() > kMaxQuoted) out += "...";
  return out;
}

std::string number_text(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", d);
}

/// A number for JSON (NaN/Inf have no JSON form: their text is kept instead).
Json number_json(double d) { return std::isfinite(d) ? Json(d) : Json(number_text(d)); }

// ---------------------------------------------------------------------------------------------
// Endpoint parameters shared by every check type.

void add_endpoint_params(std::vector<ParamSpec>& params, const std::string& url_doc) {
  params.push_back({"url", ParamType::string, true, nullptr, url_doc, {}});
  params.push_back({"username",
                    ParamType::string,
                    false,
                    nullptr,
                    "Basic auth user name (with password, password_env or password_file).",
                    {}});
  params.push_back({"password",
                    ParamType::string,
                    false,
                    nullptr,
                    "Basic auth password; write it as a `secret: true` variable ($var).",
                    {}});
  params.push_back({"password_file",
                    ParamType::local_path,
                    false,
                    nullptr,
                    "A local_path variable naming a file holding the basic auth password.",
                    {}});
  params.push_back({"password_env",
                    ParamType::string,
                    false,
                    nullptr,
                    "An environment variable holding the basic auth password (embedded runs "
                    "that allow the process environment only; otherwise `error`).",
                    {}});
  params.push_back({"bearer_token",
                    ParamType::string,
                    false,
                    nullptr,
                    "A bearer token; write it as a `secret: true` variable ($var).",
                    {}});
  params.push_back({"bearer_token_file",
                    ParamType::local_path,
                    false,
                    nullptr,
                    "A local_path variable naming a file holding a bearer token.",
                    {}});
  params.push_back({"bearer_token_env",
                    ParamType::string,
                    false,
                    nullptr,
                    "An environment variable holding a bearer token (embedded runs that allow "
                    "the process environment only; otherwise `error`).",
                    {}});
  params.push_back({"connect_timeout",
                    ParamType::number,
                    false,
                    Json(5.0),
                    "Seconds to wait for the TCP/TLS connection.",
                    {}});
  params.push_back({"request_timeout",
                    ParamType::number,
                    false,
                    Json(10.0),
                    "Seconds one HTTP request may take in total.",
                    {}});
  params.push_back({"max_bytes",
                    ParamType::integer,
                    false,
                    Json(16 * 1024 * 1024),
                    "Largest response body read; a larger one is `error`.",
                    {}});
}

/// Where a secret comes from; resolved at run time.
struct SecretSource {
  std::string literal;   ///< From the spec (usually a secret variable).
  std::string file_var;  ///< local_path variable naming a file.
  std::string env;       ///< Environment variable name.
  bool given() const { return !literal.empty() || !file_var.empty() || !env.empty(); }
};

/// A validated endpoint: URL (without credentials), limits, where credentials come from.
struct Endpoint {
  std::string url;
  RequestOptions options;
  std::string username;
  SecretSource password;
  SecretSource token;
};

Result<SecretSource> secret_source(const CheckConfig& config, const std::string& literal,
                                   const std::string& file, const std::string& env) {
  SecretSource s;
  int given = 0;
  if (config.has(literal)) {
    s.literal = config.get_string(literal);
    if (s.literal.empty()) return config.error(literal, "is empty");
    ++given;
  }
  if (config.has(file)) {
    s.file_var = config.get_string(file);
    ++given;
  }
  if (config.has(env)) {
    s.env = config.get_string(env);
    static const std::regex kEnvName("[A-Za-z_][A-Za-z0-9_]*");
    if (!std::regex_match(s.env, kEnvName)) {
      return config.error(env, fmt::format("'{}' is not an environment variable name", s.env));
    }
    ++given;
  }
  if (given > 1) {
    return config.error(literal, fmt::format("give one of {}, {} and {}", literal, file, env));
  }
  return s;
}

Result<Endpoint> endpoint(const CheckConfig& config) {
  Endpoint e;
  std::string url = config.get_string("url");
  static const std::regex kUrl(R"(https?://[^\s/?#@]+(/[^\s#]*)?)", std::regex::icase);
  const std::size_t scheme_end = url.find("://");
  const std::size_t host_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  const std::string authority = url.substr(host_start, url.find('/', host_start) - host_start);
  if (authority.find('@') != std::string::npos) {
    return config.error("url",
                        "credentials in the URL are refused (they would appear in "
                        "reports); use username/password or bearer_token");
  }
  if (url.find('$') != std::string::npos) {
    return config.error("url", fmt::format("\"{}\": only a whole-value $var is substituted; "
                                           "declare the full URL as a variable",
                                           clip(url)));
  }
  if (!std::regex_match(url, kUrl)) {
    return config.error("url", fmt::format("expected an http:// or https:// URL without spaces, "
                                           "found \"{}\"",
                                           clip(url)));
  }
  e.url = std::move(url);
  auto positive = [&](const char* name, double max) -> Result<double> {
    const double v = config.get_number(name);
    if (!(v > 0) || v > max) {
      return config.error(name, fmt::format("expected seconds > 0 and <= {}, found {}", max, v));
    }
    return v;
  };
  auto connect = positive("connect_timeout", 300);
  if (!connect) return std::move(connect).error();
  auto total = positive("request_timeout", 3600);
  if (!total) return std::move(total).error();
  e.options.connect_timeout_s = *connect;
  e.options.timeout_s = *total;
  const std::int64_t max_bytes = config.get_int("max_bytes");
  if (max_bytes < 1024 || max_bytes > (std::int64_t{1} << 32)) {
    return config.error("max_bytes",
                        fmt::format("expected 1024 to 4294967296 bytes, found {}", max_bytes));
  }
  e.options.max_bytes = static_cast<std::size_t>(max_bytes);
  if (config.has("username")) e.username = config.get_string("username");
  auto password = secret_source(config, "password", "password_file", "password_env");
  if (!password) return std::move(password).error();
  e.password = std::move(*password);
  auto token = secret_source(config, "bearer_token", "bearer_token_file", "bearer_token_env");
  if (!token) return std::move(token).error();
  e.token = std::move(*token);
  if (e.password.given() && e.username.empty()) {
    return config.error("username", "a password needs a username");
  }
  if (!e.username.empty() && !e.password.given()) {
    return config.error("username", "a username needs password, password_file or password_env");
  }
  if (!e.username.empty() && e.token.given()) {
    return config.error("bearer_token", "give basic auth or a bearer token, not both");
  }
  return e;
}

/// Reads one secret at run time. Errors never contain the secret itself.
Result<std::string> read_secret(const SecretSource& s, CheckContext& ctx, const char* what) {
  if (!s.literal.empty()) return s.literal;
  if (!s.env.empty()) {
    if (!ctx.process_env_allowed()) {
      return make_error(Errc::permission_denied,
                        fmt::format("{}: reading the environment variable {} is only allowed when "
                                    "embedded (RunOptions::allow_process_env)",
                                    what, s.env));
    }
    const char* v = std::getenv(s.env.c_str());
    if (v == nullptr || *v == '\0') {
      return make_error(Errc::unavailable,
                        fmt::format("{}: the environment variable {} is not set", what, s.env));
    }
    return std::string(v);
  }
  if (!s.file_var.empty()) {
    const Json* path = ctx.var(s.file_var);
    if (path == nullptr || !path->is_string()) {
      return make_error(Errc::unavailable,
                        fmt::format("{}: variable '{}' (the file) is not set", what, s.file_var));
    }
    const std::string file = path->get<std::string>();
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      return make_error(Errc::io_error, fmt::format("{}: cannot read {}", what, file));
    }
    std::string text(kMaxSecretFile + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxSecretFile) {
      return make_error(Errc::too_large,
                        fmt::format("{}: {} is larger than {} bytes", what, file, kMaxSecretFile));
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
      text.pop_back();
    }
    if (text.empty())
      return make_error(Errc::malformed, fmt::format("{}: {} is empty", what, file));
    return text;
  }
  return std::string();
}

Result<RequestOptions> request_options(const Endpoint& e, CheckContext& ctx) {
  RequestOptions o = e.options;
  if (!e.username.empty()) {
    auto password = read_secret(e.password, ctx, "password");
    if (!password) return std::move(password).error();
    o.credentials.username = e.username;
    o.credentials.password = std::move(*password);
  }
  auto token = read_secret(e.token, ctx, "bearer_token");
  if (!token) return std::move(token).error();
  o.credentials.bearer_token = std::move(*token);
  o.fault = [&ctx](const std::string& url) { return ctx.probe_fault("prometheus", url); };
  return o;
}

/// The status of an HTTP answer that is not 200: 401/403 and 5xx could not be evaluated,
/// anything else (a 404, a redirect) is a wrong endpoint and fails.
Error http_status_error(const std::string& url, const HttpResponse& r) {
  const std::string body = clip(r.body);
  if (r.status == 401 || r.status == 403) {
    return make_error(
        Errc::permission_denied,
        fmt::format("{}: HTTP {} (not authorised; check the credentials)", url, r.status));
  }
  if (r.status >= 500) {
    return make_error(Errc::unavailable, fmt::format("{}: HTTP {}: {}", url, r.status, body));
  }
  if (r.status >= 300 && r.status < 400) {
    return make_error(Errc::malformed,
                      fmt::format("{}: HTTP {} (a redirect; give the final URL)", url, r.status));
  }
  return make_error(Errc::malformed, fmt::format("{}: HTTP {}: {}", url, r.status, body));
}

// ---------------------------------------------------------------------------------------------
// Series and their evaluation.

/// One series of a result: what conditions see is `doc` = {name, labels, value, ...}.
struct Series {
  std::string text;  ///< name{labels} for messages
  double value = 0;
  Json doc;
};

/// How series are judged.
struct Judgement {
  std::vector<Condition> conditions;
  std::string expect = "all";  ///< all | any | none
  std::int64_t min_series = 1;
};

Result<Judgement> judgement(const CheckConfig& config, bool conditions_required) {
  Judgement j;
  j.conditions = config.get_conditions("conditions");
  if (conditions_required && j.conditions.empty()) {
    return config.error("conditions", "give at least one condition, e.g. \"value < 3\"");
  }
  j.expect = config.get_string("expect");
  if (j.expect == "none" && j.conditions.empty()) {
    return config.error("expect", "`expect: none` needs conditions (which no series may meet)");
  }
  j.min_series = config.get_int("min_series");
  if (j.min_series < 1 || j.min_series > 1000000) {
    return config.error("min_series", fmt::format("expected 1 to 1000000 (an empty result always "
                                                  "fails), found {}",
                                                  j.min_series));
  }
  return j;
}

void add_judgement_params(std::vector<ParamSpec>& params, bool conditions_required) {
  params.push_back({"conditions",
                    ParamType::condition_list,
                    conditions_required,
                    nullptr,
                    "Conditions on each series: `value` (a finite number), `labels.NAME` "
                    "(strings), `name` (the metric name, if any).",
                    {}});
  params.push_back({"expect",
                    ParamType::string,
                    false,
                    Json("all"),
                    "all: every series meets every condition; any: at least one does; none: "
                    "none does.",
                    {"all", "any", "none"}});
  params.push_back({"min_series",
                    ParamType::integer,
                    false,
                    Json(1),
                    "Fewest series the result must have (at least 1: an empty result fails).",
                    {}});
}

/// Judges `series` from `source` ("query 'q' at URL"). `no_data` explains a NaN value.
CheckOutcome judge(const Judgement& j, const std::vector<Series>& series, const std::string& source,
                   CheckContext& ctx, const std::string& no_data) {
  Json observed = Json::array();
  for (std::size_t i = 0; i < series.size() && i < kMaxShownSeries; ++i)
    observed.push_back(series[i].doc);
  Json expected = {{"expect", j.expect}, {"min_series", j.min_series}};
  Json conds = Json::array();
  for (const Condition& c : j.conditions) conds.push_back(c.text());
  expected["conditions"] = conds;
  auto finish = [&](CheckOutcome out) {
    out.observed = {{"series_count", series.size()}, {"series", observed}};
    out.expected = expected;
    return out;
  };

  if (series.empty()) {
    return finish(CheckOutcome::fail(fmt::format(
        "{}: returned no series (an empty result), expected at least {}", source, j.min_series)));
  }
  if (static_cast<std::int64_t>(series.size()) < j.min_series) {
    return finish(CheckOutcome::fail(fmt::format("{}: returned {} series, expected at least {}",
                                                 source, series.size(), j.min_series)));
  }
  std::vector<std::string> not_finite;
  for (const Series& s : series) {
    if (!std::isfinite(s.value)) not_finite.push_back(s.text + " = " + number_text(s.value));
  }
  if (!not_finite.empty()) {
    std::string why = not_finite.size() == 1 ? not_finite.front()
                                             : fmt::format("{} series, first {}", not_finite.size(),
                                                           not_finite.front());
    std::string hint = no_data.empty() ? std::string() : " (" + no_data + ")";
    return finish(CheckOutcome::fail(
        fmt::format("{}: value is not a finite number: {}{}", source, why, hint)));
  }

  const EvalEnv env = ctx.eval_env();
  std::size_t holding = 0;
  std::vector<std::string> violations;  // for all / any
  std::vector<std::string> matches;     // for none
  std::vector<std::string> problems;    // a condition that could not be judged
  bool unavailable = false;
  Json per_series = Json::array();
  for (const Series& s : series) {
    bool holds = true;
    std::string first_violation;
    for (const Condition& c : j.conditions) {
      ConditionOutcome o = c.evaluate(s.doc, env);
      if (o.satisfied()) continue;
      holds = false;
      if (o.kind == ConditionOutcome::Kind::violated) {
        if (first_violation.empty()) first_violation = fmt::format("{}: {}", c.text(), o.message);
      } else {
        if (o.kind == ConditionOutcome::Kind::unavailable) unavailable = true;
        problems.push_back(
            fmt::format("{}: {}: {} ({})", s.text, c.text(), o.message, to_string(o.kind)));
      }
    }
    if (holds) {
      ++holding;
      matches.push_back(s.text + " = " + number_text(s.value));
    } else if (!first_violation.empty()) {
      violations.push_back(
          fmt::format("{} = {}: {}", s.text, number_text(s.value), first_violation));
    }
    if (per_series.size() < kMaxShownSeries) {
      per_series.push_back({{"series", s.text}, {"holds", holds}});
    }
  }
  auto list = [](const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size() && i < 5; ++i) out += (i ? "; " : "") + items[i];
    if (items.size() > 5) out += fmt::format("; and {} more", items.size() - 5);
    return out;
  };
  CheckOutcome out;
  if (!problems.empty()) {
    out = unavailable ? CheckOutcome::error(fmt::format("{}: {}", source, list(problems)))
                      : CheckOutcome::fail(fmt::format("{}: {}", source, list(problems)));
  } else if (j.expect == "all") {
    out = holding == series.size()
              ? CheckOutcome::pass(fmt::format("{}: {} series, all meet the conditions ({})",
                                               source, series.size(), list(matches)))
              : CheckOutcome::fail(fmt::format("{}: {} of {} series do not meet the conditions: {}",
                                               source, series.size() - holding, series.size(),
                                               list(violations)));
  } else if (j.expect == "any") {
    out = holding > 0
              ? CheckOutcome::pass(fmt::format("{}: {} of {} series meet the conditions ({})",
                                               source, holding, series.size(), list(matches)))
              : CheckOutcome::fail(fmt::format("{}: none of {} series meets the conditions: {}",
                                               source, series.size(), list(violations)));
  } else {
    out = holding == 0
              ? CheckOutcome::pass(fmt::format("{}: none of {} series meets the conditions", source,
                                               series.size()))
              : CheckOutcome::fail(fmt::format("{}: {} of {} series meet conditions that none "
                                               "may meet: {}",
                                               source, holding, series.size(), list(matches)));
  }
  out.details = {{"series", per_series}};
  return finish(std::move(out));
}

// ---------------------------------------------------------------------------------------------
// The Prometheus HTTP API.

/// A sample value as the API writes it: a string holding a float ("NaN", "+Inf" allowed).
std::optional<double> api_float(const Json& v) {
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return d;
}

/// A [timestamp, "value"] pair.
Result<std::pair<double, double>> api_sample(const Json& pair, const std::string& where) {
  if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number()) {
    return make_error(Errc::malformed, fmt::format("{}: expected [timestamp, \"value\"], found {}",
                                                   where, clip(pair.dump())));
  }
  auto v = api_float(pair[1]);
  if (!v) {
    return make_error(Errc::type_mismatch, fmt::format("{}: value {} is not a number string", where,
                                                       clip(pair[1].dump())));
  }
  return std::make_pair(pair[0].get<double>(), *v);
}

Result<Series> api_series(const Json& item, const std::string& where, bool matrix) {
  if (!item.is_object() || !item.contains("metric") || !item["metric"].is_object()) {
    return make_error(Errc::malformed,
                      fmt::format("{}: expected {{\"metric\": {{...}}, ...}}", where));
  }
  Labels labels;
  std::string name;
  for (const auto& [k, v] : item["metric"].items()) {
    if (!v.is_string()) {
      return make_error(Errc::type_mismatch, fmt::format("{}: label {} is not a string", where, k));
    }
    if (k == "__name__") {
      name = v.get<std::string>();
    } else {
      labels[k] = v.get<std::string>();
    }
  }
  Series s;
  s.text = series_text(name, labels);
  s.doc = {{"name", name.empty() ? Json() : Json(name)}, {"labels", Json(labels)}};
  if (matrix) {
    const Json* values = item.contains("values") ? &item["values"] : nullptr;
    if (values == nullptr || !values->is_array() || values->empty()) {
      return make_error(
          Errc::malformed,
          fmt::format("{} ({}): expected a non-empty \"values\" array", where, s.text));
    }
    Json all = Json::array();
    for (std::size_t i = 0; i < values->size(); ++i) {
      auto sample = api_sample((*values)[i], fmt::format("{} ({}) values[{}]", where, s.text, i));
      if (!sample) return std::move(sample).error();
      s.value = sample->second;
      if (!std::isfinite(s.value)) {
        s.doc["value"] = number_json(s.value);
        return s;  // judged as not finite
      }
      all.push_back(s.value);
    }
    s.doc["values"] = all;
    s.doc["timestamp"] = values->back()[0];
  } else {
    if (!item.contains("value")) {
      return make_error(Errc::malformed, fmt::format("{} ({}): no \"value\"", where, s.text));
    }
    auto sample = api_sample(item["value"], fmt::format("{} ({})", where, s.text));
    if (!sample) return std::move(sample).error();
    s.value = sample->second;
    s.doc["timestamp"] = sample->first;
  }
  s.doc["value"] = number_json(s.value);
  return s;
}

/// A query that Prometheus refused or answered with something unusable: a failure. A service
/// that could not answer: an error (Errc::unavailable/permission_denied).
struct QueryAnswer {
  std::vector<Series> series;
  std::string result_type;
  Json warnings;
};

/// Runs an instant query. Error messages name `what` (e.g. "query 'up' at URL").
Result<QueryAnswer> instant_query(const Endpoint& e, const RequestOptions& options,
                                  const std::string& query, const std::string& eval_time,
                                  const std::string& what) {
  std::string base = e.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = base + "/api/v1/query";
  std::string form = "query=" + form_encode(query);
  if (!eval_time.empty()) form += "&time=" + form_encode(eval_time);
  auto response = http_post_form(url, form, options);
  if (!response) {
    Error err = std::move(response).error();
    err.message = fmt::format("{}: could not be evaluated: {}", what, err.message);
    return err;
  }
  const HttpResponse& r = *response;
  Json doc = Json::parse(r.body, nullptr, false);
  const bool api_error = doc.is_object() && doc.value("status", "") == "error";
  if (api_error) {
    const std::string type = doc.value("errorType", "unknown");
    const std::string message = doc.value("error", "");
    // The query was understood but Prometheus could not finish it (timeout, cancelled, the
    // server is shutting down): not evaluated. Bad PromQL and execution errors fail.
    const bool not_evaluated = type == "timeout" || type == "canceled" || type == "unavailable" ||
                               r.status == 503 || (r.status >= 500 && type == "internal");
    return make_error(not_evaluated ? Errc::unavailable : Errc::invalid_argument,
                      fmt::format("{}: Prometheus refused the query (HTTP {}, {}): {}", what,
                                  r.status, type, clip(message)));
  }
  if (r.status != 200) {
    Error err = http_status_error(url, r);
    err.message = fmt::format("{}: {}", what, err.message);
    return err;
  }
  if (doc.is_discarded() || !doc.is_object()) {
    return make_error(Errc::malformed,
                      fmt::format("{}: the answer is not a JSON object: {}", what, clip(r.body)));
  }
  if (doc.value("status", "") != "success" || !doc.contains("data") || !doc["data"].is_object()) {
    return make_error(Errc::malformed,
                      fmt::format("{}: expected {{\"status\": \"success\", \"data\": {{...}}}}, "
                                  "found {}",
                                  what, clip(r.body)));
  }
  const Json& data = doc["data"];
  QueryAnswer answer;
  answer.result_type = data.value("resultType", "");
  if (doc.contains("warnings")) answer.warnings = doc["warnings"];
  if (!data.contains("result")) {
    return make_error(Errc::malformed, fmt::format("{}: data.result is missing", what));
  }
  const Json& result = data["result"];
  if (answer.result_type == "scalar") {
    auto sample = api_sample(result, what + ": data.result");
    if (!sample) return std::move(sample).error();
    Series s;
    s.text = "scalar";
    s.value = sample->second;
    s.doc = {{"name", nullptr},
             {"labels", Json::object()},
             {"value", number_json(s.value)},
             {"timestamp", sample->first}};
    answer.series.push_back(std::move(s));
    return answer;
  }
  if (answer.result_type == "vector" || answer.result_type == "matrix") {
    if (!result.is_array()) {
      return make_error(Errc::malformed, fmt::format("{}: data.result is not an array", what));
    }
    for (std::size_t i = 0; i < result.size(); ++i) {
      auto s = api_series(result[i], fmt::format("{}: data.result[{}]", what, i),
                          answer.result_type == "matrix");
      if (!s) return std::move(s).error();
      answer.series.push_back(std::move(*s));
    }
    return answer;
  }
  return make_error(Errc::type_mismatch,
                    fmt::format("{}: result type \"{}\", expected vector, scalar or matrix", what,
                                clip(answer.result_type)));
}

std::string describe_query(const Endpoint& e, const std::string& query) {
  return fmt::format("query '{}' at {}", clip(query), e.url);
}

CheckOutcome outcome_for(const Error& e) {
  // invalid_argument (a refused query) fails, as status_for() says; unavailable etc. is error.
  return CheckOutcome::from(e);
}

/// An eval time: an RFC 3339 time or a Unix timestamp.
Result<std::string> eval_time(const CheckConfig& config) {
  if (!config.has("eval_time")) return std::string();
  std::string t = config.get_string("eval_time");
  static const std::regex kTime(
      R"(([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))|([0-9]+(\.[0-9]+)?))");
  if (!std::regex_match(t, kTime)) {
    return config.error("eval_time", fmt::format("expected an RFC 3339 time "
                                                 "(2026-11-22T13:00:00Z) or a Unix timestamp, "
                                                 "found \"{}\"",
                                                 clip(t)));
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// prometheus_query

class PrometheusQuery final : public Check {
 public:
  PrometheusQuery(Endpoint e, std::string query, std::string time, Judgement j)
      : endpoint_(std::move(e)),
        query_(std::move(query)),
        time_(std::move(time)),
        judgement_(std::move(j)) {}

  CheckOutcome run(CheckContext& ctx) const override {
    auto options = request_options(endpoint_, ctx);
    if (!options) return outcome_for(options.error());
    const std::string what = describe_query(endpoint_, query_);
    auto answer = instant_query(endpoint_, *options, query_, time_, what);
    if (!answer) return outcome_for(answer.error());
    CheckOutcome out = judge(judgement_, answer->series, what, ctx, "");
    out.details["result_type"] = answer->result_type;
    out.details["query"] = query_;
    if (!answer->warnings.is_null()) out.details["warnings"] = answer->warnings;
    return out;
  }

 private:
  Endpoint endpoint_;
  std::string query_;
  std::string time_;
  Judgement judgement_;
};

CheckInfo query_info() {
  CheckInfo i;
  i.type = "prometheus_query";
  i.category = "metrics";
  i.summary = "An instant PromQL query meets conditions on every (any, no) series.";
  i.description =
      "POSTs the query to URL/api/v1/query and judges each series of the result (a vector; a "
      "scalar is one series without labels; a matrix series is judged on its last value and "
      "carries `values`). Conditions see {name, labels, value, timestamp}. Fails on an empty "
      "result, fewer than `min_series` series, a NaN or ±Inf value, a response that is not "
      "what the API documents, and a query Prometheus refuses (bad PromQL: the error is "
      "quoted). Could not be evaluated (`error`): connection refused, timeouts, HTTP 5xx/503, "
      "401/403, a query timeout inside Prometheus.";
  add_endpoint_params(i.params,
                      "The Prometheus server, e.g. http://127.0.0.1:9090 (a path "
                      "prefix is kept); may be a whole $var.");
  i.params.push_back({"query", ParamType::string, true, nullptr, "The PromQL expression.", {}});
  add_judgement_params(i.params, false);
  i.params.push_back({"eval_time",
                      ParamType::string,
                      false,
                      nullptr,
                      "Evaluation time (RFC 3339 or Unix seconds); default: now.",
                      {}});
  i.example =
      "- id: noise_count\n"
      "  type: prometheus_query\n"
      "  url: $prometheus_url\n"
      "  query: cluster_last_noise_count\n"
      "  conditions: [\"value < 20\"]";
  return i;
}

Result<std::unique_ptr<Check>> make_query(const CheckConfig& config) {
  auto e = endpoint(config);
  if (!e) return std::move(e).error();
  std::string query = config.get_string("query");
  if (query.find_first_not_of(" \t\r\n") == std::string::npos) {
    return config.error("query", "is empty");
  }
  auto j = judgement(config, false);
  if (!j) return std::move(j).error();
  auto t = eval_time(config);
  if (!t) return std::move(t).error();
  return std::unique_ptr<Check>(std::make_unique<PrometheusQuery>(std::move(*e), std::move(query),
                                                                  std::move(*t), std::move(*j)));
}

// ---------------------------------------------------------------------------------------------
// prometheus_quantile

/// Label matchers {name: value}, validated.
Result<Labels> label_matchers(const CheckConfig& config, const char* param) {
  Labels out;
  const Json& m = config.get_json(param);
  if (m.is_null()) return out;
  if (!m.is_object()) return config.error(param, "expected a mapping of label: value");
  for (const auto& [k, v] : m.items()) {
    if (!valid_label_name(k) || k == "le" || k == "__name__") {
      return config.error(param, fmt::format("'{}' is not a usable label name", k));
    }
    if (!v.is_string()) {
      return config.error(
          param, fmt::format("label {}: expected a string value, found {}", k, v.type_name()));
    }
    out[k] = v.get<std::string>();
  }
  return out;
}

/// A PromQL string literal.
std::string promql_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

class PrometheusQuantile final : public Check {
 public:
  PrometheusQuantile(Endpoint e, std::string query, std::string time, Judgement j)
      : endpoint_(std::move(e)),
        query_(std::move(query)),
        time_(std::move(time)),
        judgement_(std::move(j)) {}

  CheckOutcome run(CheckContext& ctx) const override {
    auto options = request_options(endpoint_, ctx);
    if (!options) return outcome_for(options.error());
    const std::string what = describe_query(endpoint_, query_);
    auto answer = instant_query(endpoint_, *options, query_, time_, what);
    if (!answer) return outcome_for(answer.error());
    CheckOutcome out =
        judge(judgement_, answer->series, what, ctx,
              "no data: histogram_quantile is NaN when the histogram has no observations in the "
              "window or no le=\"+Inf\" bucket");
    if (answer->series.empty()) {
      out.message += " (no data: the histogram has no buckets matching the selector)";
    }
    out.details["query"] = query_;
    return out;
  }

 private:
  Endpoint endpoint_;
  std::string query_;
  std::string time_;
  Judgement judgement_;
};

void add_quantile_params(std::vector<ParamSpec>& params) {
  params.push_back({"metric",
                    ParamType::string,
                    true,
                    nullptr,
                    "The histogram's name, without `_bucket` (e.g. "
                    "cluster_job_duration_seconds).",
                    {}});
  params.push_back(
      {"quantile", ParamType::number, true, nullptr, "The quantile, 0 to 1 (0.95 for p95).", {}});
  params.push_back({"labels",
                    ParamType::object,
                    false,
                    nullptr,
                    "Exact label matchers {name: value} selecting the buckets.",
                    {}});
}

Result<double> quantile_param(const CheckConfig& config) {
  const double q = config.get_number("quantile");
  if (!(q >= 0 && q <= 1)) {
    return config.error("quantile", fmt::format("expected 0 to 1 (0.95 for p95), found {}", q));
  }
  return q;
}

Result<std::string> histogram_metric(const CheckConfig& config) {
  std::string m = config.get_string("metric");
  if (!valid_metric_name(m)) {
    return config.error("metric", fmt::format("'{}' is not a metric name", clip(m)));
  }
  if (m.size() > 7 && m.compare(m.size() - 7, 7, "_bucket") == 0) {
    return config.error("metric", fmt::format("give the histogram's name without _bucket ('{}')",
                                              m.substr(0, m.size() - 7)));
  }
  return m;
}

CheckInfo quantile_info() {
  CheckInfo i;
  i.type = "prometheus_quantile";
  i.category = "metrics";
  i.summary = "A percentile of a Prometheus histogram meets conditions (e.g. p95 < 3 s).";
  i.description =
      "Builds histogram_quantile(Q, sum by (le[, by...]) (rate(METRIC_bucket{labels}[window]))) "
      "(without `window`: over the raw cumulative buckets, i.e. since the process started) and "
      "judges each resulting series like prometheus_query. A NaN quantile (no observations in "
      "the window, no +Inf bucket) fails with \"no data\"; no buckets at all fails as an empty "
      "result.";
  add_endpoint_params(i.params, "The Prometheus server, e.g. http://127.0.0.1:9090.");
  add_quantile_params(i.params);
  i.params.push_back({"window",
                      ParamType::string,
                      false,
                      nullptr,
                      "A PromQL range (e.g. 5m): the quantile of observations in that window "
                      "(rate of the buckets); default: all observations so far.",
                      {}});
  i.params.push_back({"by",
                      ParamType::string_list,
                      false,
                      nullptr,
                      "Labels to keep (one quantile per combination); default: one overall.",
                      {}});
  add_judgement_params(i.params, true);
  i.params.push_back({"eval_time",
                      ParamType::string,
                      false,
                      nullptr,
                      "Evaluation time (RFC 3339 or Unix seconds); default: now.",
                      {}});
  i.example =
      "- id: job_duration_p95\n"
      "  type: prometheus_quantile\n"
      "  url: $prometheus_url\n"
      "  metric: cluster_job_duration_seconds\n"
      "  quantile: 0.95\n"
      "  window: 10m\n"
      "  conditions: [\"value < 3\"]";
  return i;
}

Result<std::unique_ptr<Check>> make_quantile(const CheckConfig& config) {
  auto e = endpoint(config);
  if (!e) return std::move(e).error();
  auto metric = histogram_metric(config);
  if (!metric) return std::move(metric).error();
  auto q = quantile_param(config);
  if (!q) return std::move(q).error();
  auto labels = label_matchers(config, "labels");
  if (!labels) return std::move(labels).error();
  std::string window;
  if (config.has("window")) {
    window = config.get_string("window");
    static const std::regex kDuration("([0-9]+(ms|s|m|h|d|w|y))+");
    if (!std::regex_match(window, kDuration) ||
        window.find_first_not_of("0msdhwy") == std::string::npos) {
      return config.error("window", fmt::format("expected a PromQL duration such as 30s, 5m or "
                                                "1h30m, found \"{}\"",
                                                clip(window)));
    }
  }
  std::string by = "le";
  for (const std::string& l : config.get_string_list("by")) {
    if (!valid_label_name(l) || l == "le") {
      return config.error("by", fmt::format("'{}' is not a usable label name", clip(l)));
    }
    by += ", " + l;
  }
  auto j = judgement(config, true);
  if (!j) return std::move(j).error();
  auto t = eval_time(config);
  if (!t) return std::move(t).error();
  std::string selector = *metric + "_bucket";
  if (!labels->empty()) {
    selector += "{";
    bool first = true;
    for (const auto& [k, v] : *labels) {
      selector += (first ? "" : ", ") + k + "=" + promql_string(v);
      first = false;
    }
    selector += "}";
  }
  const std::string inner = window.empty() ? selector : "rate(" + selector + "[" + window + "])";
  const std::string query = fmt::format("histogram_quantile({}, sum by ({}) ({}))", *q, by, inner);
  return std::unique_ptr<Check>(
      std::make_unique<PrometheusQuantile>(std::move(*e), query, std::move(*t), std::move(*j)));
}

// ---------------------------------------------------------------------------------------------
// prometheus_increase

class PrometheusIncrease final : public Check {
 public:
  PrometheusIncrease(Endpoint e, std::string query, double min_increase, double timeout,
                     double poll, std::optional<double> before)
      : endpoint_(std::move(e)),
        query_(std::move(query)),
        min_increase_(min_increase),
        timeout_(timeout),
        poll_(poll),
        before_(before) {}

  CheckOutcome run(CheckContext& ctx) const override {
    auto options = request_options(endpoint_, ctx);
    if (!options) return outcome_for(options.error());
    const std::string what = describe_query(endpoint_, query_);
    const Json expected = {{"min_increase", min_increase_}, {"timeout_s", timeout_}};
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(timeout_));

    auto read = [&](Series& into) -> std::optional<CheckOutcome> {
      auto answer = instant_query(endpoint_, *options, query_, "", what);
      if (!answer) return outcome_for(answer.error());
      if (answer->series.size() != 1) {
        CheckOutcome out = CheckOutcome::fail(
            answer->series.empty()
                ? fmt::format("{}: returned no series (an empty result); an increase needs one "
                              "value",
                              what)
                : fmt::format("{}: returned {} series; an increase needs exactly one (wrap the "
                              "query in sum(...) or select one series)",
                              what, answer->series.size()));
        out.expected = expected;
        return out;
      }
      into = answer->series.front();
      if (!std::isfinite(into.value)) {
        CheckOutcome out = CheckOutcome::fail(fmt::format(
            "{}: value is not a finite number: {} = {}", what, into.text, number_text(into.value)));
        out.expected = expected;
        return out;
      }
      return std::nullopt;
    };

    double before = 0;
    Series current;
    if (before_) {
      before = *before_;
    } else {
      if (auto stop = read(current)) return *stop;
      before = current.value;
    }
    const double target = before + min_increase_;
    int polls = 0;
    // Bounded: at most timeout / poll_interval + 2 reads.
    const int max_polls = static_cast<int>(timeout_ / poll_) + 2;
    double after = before;
    while (true) {
      if (before_ || polls > 0) {
        if (auto stop = read(current)) return *stop;
        after = current.value;
        if (after < before) {
          CheckOutcome out = CheckOutcome::fail(fmt::format(
              "{}: value fell from {} to {} (a counter reset?), expected it to rise by at least {}",
              what, number_text(before), number_text(after), min_increase_));
          out.observed = {{"before", before}, {"after", after}};
          out.expected = expected;
          return out;
        }
        if (after - before >= min_increase_) {
          const double waited = std::chrono::duration<double>(Clock::now() - start).count();
          CheckOutcome out = CheckOutcome::pass(fmt::format(
              "{}: rose from {} to {} (+{}, at least {} required) after {:.1f} s", what,
              number_text(before), number_text(after), after - before, min_increase_, waited));
          out.observed = {{"before", before}, {"after", after}, {"waited_s", waited}};
          out.expected = expected;
          return out;
        }
      }
      ++polls;
      if (Clock::now() >= deadline || polls > max_polls) break;
      // Sleep one poll interval in small steps, so a cancelled run stops promptly.
      const auto wake =
          std::min(deadline, Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(poll_)));
      while (Clock::now() < wake) {
        if (ctx.cancelled()) {
          return CheckOutcome::error(
              fmt::format("{}: interrupted while waiting for the value to "
                          "rise from {}",
                          what, number_text(before)));
        }
        std::this_thread::sleep_for(
            std::min<Clock::duration>(std::chrono::milliseconds(50), wake - Clock::now()));
      }
    }
    CheckOutcome out = CheckOutcome::fail(
        fmt::format("{}: rose by {} (from {} to {}) within {} s, expected at least {} (target {})",
                    what, after - before, number_text(before), number_text(after), timeout_,
                    min_increase_, number_text(target)));
    out.observed = {{"before", before}, {"after", after}, {"polls", polls}};
    out.expected = expected;
    return out;
  }

 private:
  Endpoint endpoint_;
  std::string query_;
  double min_increase_;
  double timeout_;
  double poll_;
  std::optional<double> before_;
};

CheckInfo increase_info() {
  CheckInfo i;
  i.type = "prometheus_increase";
  i.category = "metrics";
  i.summary = "A Prometheus value rises by at least N within a bounded wait.";
  i.description =
      "Reads the query's single value (\"before\"; or takes `before` from the spec, e.g. a "
      "variable recorded before a trigger), then re-reads it every `poll_interval` seconds until "
      "it has risen by `min_increase` (pass) or `timeout` seconds passed (fail, naming before "
      "and after). The wait covers the next scrape(s). A value that falls (a counter reset), an "
      "empty result, several series, NaN or ±Inf fail; an unreachable server is `error`.";
  add_endpoint_params(i.params, "The Prometheus server, e.g. http://127.0.0.1:9090.");
  i.params.push_back({"query",
                      ParamType::string,
                      true,
                      nullptr,
                      "A PromQL expression with exactly one value, e.g. sum(cluster_jobs_total).",
                      {}});
  i.params.push_back(
      {"min_increase", ParamType::number, true, nullptr, "The least rise that passes (> 0).", {}});
  i.params.push_back({"timeout",
                      ParamType::number,
                      false,
                      Json(60.0),
                      "Seconds to wait for the rise (<= 3600).",
                      {}});
  i.params.push_back({"poll_interval",
                      ParamType::number,
                      false,
                      Json(1.0),
                      "Seconds between reads (0.05 to 60).",
                      {}});
  i.params.push_back({"before",
                      ParamType::number,
                      false,
                      nullptr,
                      "The value before the trigger, if recorded earlier (e.g. $jobs_before); "
                      "default: read when the check starts.",
                      {}});
  i.example =
      "- id: jobs_increment\n"
      "  type: prometheus_increase\n"
      "  url: $prometheus_url\n"
      "  query: sum(cluster_jobs_total)\n"
      "  min_increase: 1\n"
      "  timeout: 60";
  return i;
}

Result<std::unique_ptr<Check>> make_increase(const CheckConfig& config) {
  auto e = endpoint(config);
  if (!e) return std::move(e).error();
  std::string query = config.get_string("query");
  if (query.find_first_not_of(" \t\r\n") == std::string::npos) {
    return config.error("query", "is empty");
  }
  const double n = config.get_number("min_increase");
  if (!(n > 0)) return config.error("min_increase", fmt::format("expected > 0, found {}", n));
  const double timeout = config.get_number("timeout");
  if (!(timeout > 0) || timeout > 3600) {
    return config.error("timeout",
                        fmt::format("expected seconds > 0 and <= 3600, found {}", timeout));
  }
  const double poll = config.get_number("poll_interval");
  if (!(poll >= 0.05) || poll > 60) {
    return config.error("poll_interval",
                        fmt::format("expected 0.05 to 60 seconds, found {}", poll));
  }
  std::optional<double> before;
  if (config.has("before")) before = config.get_number("before");
  return std::unique_ptr<Check>(std::make_unique<PrometheusIncrease>(
      std::move(*e), std::move(query), n, timeout, poll, before));
}

// ---------------------------------------------------------------------------------------------
// metrics_scrape

class MetricsScrape final : public Check {
 public:
  MetricsScrape(Endpoint e, std::string metric, Labels labels, std::optional<double> quantile,
                Judgement j)
      : endpoint_(std::move(e)),
        metric_(std::move(metric)),
        labels_(std::move(labels)),
        quantile_(quantile),
        judgement_(std::move(j)) {}

  CheckOutcome run(CheckContext& ctx) const override {
    auto options = request_options(endpoint_, ctx);
    if (!options) return outcome_for(options.error());
    options->headers.push_back("Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1");
    const std::string selector = series_text(metric_, labels_);
    const std::string what = quantile_ ? fmt::format("{}: quantile {} of histogram {}",
                                                     endpoint_.url, *quantile_, selector)
                                       : fmt::format("{}: {}", endpoint_.url, selector);
    auto response = http_get(endpoint_.url, *options);
    if (!response) {
      return CheckOutcome::from(make_error(
          response.error().code,
          fmt::format("{}: could not be evaluated: {}", what, response.error().message)));
    }
    if (response->status != 200) {
      Error err = http_status_error(endpoint_.url, *response);
      return CheckOutcome::from(make_error(err.code, fmt::format("{}: {}", what, err.message)));
    }
    auto exposition = parse_exposition(response->body);
    if (!exposition) {
      return CheckOutcome::fail(fmt::format("{}: not valid text exposition format 0.0.4: {}",
                                            endpoint_.url, exposition.error().message));
    }
    auto selected = [&](const Sample& s, const std::string& name) {
      if (s.name != name) return false;
      for (const auto& [k, v] : labels_) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) return false;
      }
      return true;
    };
    std::vector<Series> series;
    std::string no_data;
    if (!quantile_) {
      for (const Sample& s : exposition->samples) {
        if (!selected(s, metric_)) continue;
        Series out;
        out.text = series_text(s.name, s.labels);
        out.value = s.value;
        out.doc = {{"name", s.name}, {"labels", Json(s.labels)}, {"value", number_json(s.value)}};
        if (s.timestamp_ms) out.doc["timestamp_ms"] = *s.timestamp_ms;
        series.push_back(std::move(out));
      }
    } else {
      // One histogram per combination of labels other than le.
      std::map<Labels, std::vector<std::pair<double, double>>> groups;
      for (const Sample& s : exposition->samples) {
        if (!selected(s, metric_ + "_bucket")) continue;
        auto le = s.labels.find("le");
        if (le == s.labels.end()) {
          return CheckOutcome::fail(fmt::format("{}: line {}: {} has no le label", what, s.line,
                                                series_text(s.name, s.labels)));
        }
        char* end = nullptr;
        const std::string& text = le->second;
        double bound = text == "+Inf" || text == "Inf" ? std::numeric_limits<double>::infinity()
                                                       : std::strtod(text.c_str(), &end);
        if (end != nullptr && (text.empty() || *end != '\0' || std::isnan(bound))) {
          return CheckOutcome::fail(fmt::format("{}: line {}: le=\"{}\" is not a bucket bound",
                                                what, s.line, clip(text)));
        }
        Labels key = s.labels;
        key.erase("le");
        groups[key].emplace_back(bound, s.value);
      }
      for (auto& [key, buckets] : groups) {
        auto q = histogram_quantile(*quantile_, std::move(buckets));
        if (!q) {
          return CheckOutcome::fail(fmt::format(
              "{}: {}: {}", what, series_text(metric_ + "_bucket", key), q.error().message));
        }
        Series out;
        out.text = series_text(metric_, key);
        out.value = q->value ? *q->value : std::numeric_limits<double>::quiet_NaN();
        if (!q->value && no_data.empty()) no_data = "no data: " + q->no_data;
        out.doc = {{"name", metric_},
                   {"labels", Json(key)},
                   {"value", number_json(out.value)},
                   {"quantile", *quantile_}};
        series.push_back(std::move(out));
      }
    }
    CheckOutcome out = judge(judgement_, series, what, ctx, no_data);
    if (series.empty()) {
      out.message += fmt::format(
          " ({} samples in the exposition, none named {}{})", exposition->samples.size(),
          quantile_ ? metric_ + "_bucket" : metric_, labels_.empty() ? "" : " with those labels");
    }
    auto type = exposition->types.find(metric_);
    if (type != exposition->types.end()) out.details["type"] = type->second;
    return out;
  }

 private:
  Endpoint endpoint_;
  std::string metric_;
  Labels labels_;
  std::optional<double> quantile_;
  Judgement judgement_;
};

CheckInfo scrape_info() {
  CheckInfo i;
  i.type = "metrics_scrape";
  i.category = "metrics";
  i.summary = "A service's /metrics endpoint, read directly, has series meeting conditions.";
  i.description =
      "GETs the endpoint (no Prometheus server needed), parses the text exposition format "
      "0.0.4 strictly (HELP/TYPE, escaped label values, NaN/+Inf/-Inf, timestamps; a broken line "
      "fails naming its number), selects the samples named `metric` whose labels include "
      "`labels`, and judges each like prometheus_query. With `quantile`, `metric` is a histogram "
      "and each label combination's quantile is computed from its _bucket samples by linear "
      "interpolation, as Prometheus' histogram_quantile (no observations: fails with \"no "
      "data\"; decreasing bucket counts fail). HTTP 5xx, 401/403, refused connections and "
      "timeouts are `error`; other HTTP statuses fail.";
  add_endpoint_params(i.params, "The metrics endpoint, e.g. http://127.0.0.1:8000/metrics.");
  i.params.push_back({"metric",
                      ParamType::string,
                      true,
                      nullptr,
                      "The sample name (with quantile: the histogram's name without _bucket).",
                      {}});
  i.params.push_back(
      {"labels", ParamType::object, false, nullptr, "Exact label matchers {name: value}.", {}});
  i.params.push_back({"quantile",
                      ParamType::number,
                      false,
                      nullptr,
                      "Compute this quantile (0 to 1) of the histogram `metric`.",
                      {}});
  add_judgement_params(i.params, false);
  i.example =
      "- id: noise_now\n"
      "  type: metrics_scrape\n"
      "  url: http://127.0.0.1:8000/metrics\n"
      "  metric: cluster_last_noise_count\n"
      "  conditions: [\"value < 20\"]";
  return i;
}

Result<std::unique_ptr<Check>> make_scrape(const CheckConfig& config) {
  auto e = endpoint(config);
  if (!e) return std::move(e).error();
  std::optional<double> quantile;
  std::string metric;
  if (config.has("quantile")) {
    auto q = quantile_param(config);
    if (!q) return std::move(q).error();
    quantile = *q;
    auto m = histogram_metric(config);
    if (!m) return std::move(m).error();
    metric = std::move(*m);
  } else {
    metric = config.get_string("metric");
    if (!valid_metric_name(metric)) {
      return config.error("metric", fmt::format("'{}' is not a metric name", clip(metric)));
    }
  }
  auto labels = label_matchers(config, "labels");
  if (!labels) return std::move(labels).error();
  auto j = judgement(config, false);
  if (!j) return std::move(j).error();
  return std::unique_ptr<Check>(std::make_unique<MetricsScrape>(
      std::move(*e), std::move(metric), std::move(*labels), quantile, std::move(*j)));
}

void register_checks(PluginRegistrar& registrar) {
  registrar.add(query_info(), make_query);
  registrar.add(quantile_info(), make_quantile);
  registrar.add(increase_info(), make_increase);
  registrar.add(scrape_info(), make_scrape);
}

}  // namespace

STAGECHECK_PLUGIN("prometheus", "1.0.0", register_checks)
