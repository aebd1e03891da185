#include "stagecheck/alert.hpp"

#include <curl/curl.h>

#include <ctime>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "http/http_client.hpp"
#include "text_util.hpp"

namespace stagecheck {

namespace {

constexpr const char* kFailedName = "StagecheckRunFailed";
constexpr const char* kNoVerdictName = "StagecheckNoVerdict";

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

// The bound scene_id, or "" when the spec has none.
std::string scene_of(const Report& report) {
  if (report.vars.is_object()) {
    auto it = report.vars.find("scene_id");
    if (it != report.vars.end() && it->is_string()) return it->get<std::string>();
  }
  return {};
}

// The checks an alert lists: every fail and error, and warnings when they fail the run.
std::vector<const CheckResult*> listed_checks(const Report& report) {
  std::vector<const CheckResult*> out;
  for (const auto& c : report.results) {
    if (c.status == Status::fail || c.status == Status::error ||
        (report.fail_on_warn && c.status == Status::warn)) {
      out.push_back(&c);
    }
  }
  return out;
}

std::string one_line(std::string_view text, std::size_t max) {
  std::string out;
  for (char c : text) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  return detail::printable(out, max);
}

std::string counts_text(const Summary& s) {
  return fmt::format("{} check{}: {} pass, {} fail, {} warn, {} skipped, {} blocked, {} error",
                     s.total, s.total == 1 ? "" : "s", s.pass, s.fail, s.warn, s.skipped, s.blocked,
                     s.error);
}

nlohmann::json counts_json(const Summary& s) {
  return {{"total", s.total},     {"pass", s.pass},       {"fail", s.fail},  {"warn", s.warn},
          {"skipped", s.skipped}, {"blocked", s.blocked}, {"error", s.error}};
}

// Labels without alertname and severity: what identifies the run's alert (spec, scene, user).
std::map<std::string, std::string> identity_labels(const Report& report,
                                                   const AlertOptions& options) {
  std::map<std::string, std::string> labels = options.labels;
  labels["spec"] = report.spec_name.empty() ? "unnamed" : report.spec_name;
  if (const std::string scene = scene_of(report); !scene.empty()) labels["scene"] = scene;
  return labels;
}

}  // namespace

Result<AlertOn> parse_alert_on(std::string_view text) {
  if (text == "fail") return AlertOn::fail;
  if (text == "no_verdict") return AlertOn::no_verdict;
  if (text == "both") return AlertOn::both;
  return make_error(Errc::invalid_argument,
                    fmt::format("--alert-on must be fail, no_verdict or both, found \"{}\"",
                                detail::printable(text, 100)));
}

bool alert_due(ExitCode verdict, AlertOn on) noexcept {
  if (verdict == ExitCode::fail) return on == AlertOn::fail || on == AlertOn::both;
  if (verdict == ExitCode::no_verdict) return on == AlertOn::no_verdict || on == AlertOn::both;
  return false;
}

std::map<std::string, std::string> alert_labels(const Report& report, const AlertOptions& options) {
  auto labels = identity_labels(report, options);
  const bool failed = report.exit_code == ExitCode::fail;
  labels["alertname"] = failed ? kFailedName : kNoVerdictName;
  labels["severity"] = failed ? "critical" : "warning";
  return labels;
}

std::string alert_summary(const Report& report) {
  const std::string scene = scene_of(report);
  const std::string where = scene.empty() ? "" : " for scene " + one_line(scene, 200);
  const std::string spec = one_line(report.spec_name, 200);
  const Summary& s = report.summary;
  switch (report.exit_code) {
    case ExitCode::pass:
      return fmt::format("stagecheck: {} PASSED{}: {} checks evaluated", spec, where,
                         s.evaluated());
    case ExitCode::fail: {
      const std::size_t failed = s.fail + (report.fail_on_warn ? s.warn : 0);
      return fmt::format("stagecheck: {} FAILED{}: {} of {} checks failed", spec, where, failed,
                         s.total);
    }
    default:
      break;
  }
  std::string why;
  if (report.interrupted) {
    why = "the run was interrupted";
  } else if (s.error > 0) {
    why = fmt::format("{} of {} checks could not be evaluated", s.error, s.total);
  } else if (s.evaluated() == 0) {
    why = fmt::format("none of {} checks was evaluated", s.total);
  } else {
    why = "the verdict could not be recorded";
  }
  return fmt::format("stagecheck: {} NO VERDICT{}: {}", spec, where, why);
}

nlohmann::json alertmanager_payload(const Report& report, const AlertOptions& options,
                                    std::chrono::system_clock::time_point now) {
  nlohmann::json alerts = nlohmann::json::array();
  if (report.exit_code == ExitCode::pass) {
    // Resolve whichever of the two an earlier run of this spec and scene fired.
    for (const auto& [name, severity] :
         {std::pair{kFailedName, "critical"}, std::pair{kNoVerdictName, "warning"}}) {
      auto labels = identity_labels(report, options);
      labels["alertname"] = name;
      labels["severity"] = severity;
      nlohmann::json a = {
          {"labels", labels},
          {"annotations", {{"summary", alert_summary(report)}, {"run_id", report.run_id}}},
          {"startsAt", rfc3339(now)},
          {"endsAt", rfc3339(now)}};
      if (!options.report_location.empty()) {
        a["annotations"]["report"] = options.report_location;
      }
      alerts.push_back(std::move(a));
    }
    return alerts;
  }
  const auto listed = listed_checks(report);
  std::string description;
  std::string ids;
  std::size_t n = 0;
  for (const CheckResult* c : listed) {
    if (n < options.max_listed) {
      description += fmt::format("{} ({}): {}\n", one_line(c->id, 200), to_string(c->status),
                                 one_line(c->message, 300));
    }
    if (n < 100) ids += (ids.empty() ? "" : ", ") + one_line(c->id, 200);
    ++n;
  }
  if (listed.size() > options.max_listed) {
    description += fmt::format("… and {} more\n", listed.size() - options.max_listed);
  }
  if (listed.size() > 100) ids += fmt::format(", … and {} more", listed.size() - 100);
  if (listed.empty()) description = alert_summary(report) + "\n";
  if (!description.empty() && description.back() == '\n') description.pop_back();
  nlohmann::json annotations = {{"summary", alert_summary(report)},
                                {"description", description},
                                {"run_id", report.run_id},
                                {"failures", ids},
                                {"checks", counts_text(report.summary)},
                                {"verdict", std::string(report.verdict())},
                                {"exit_code", std::to_string(static_cast<int>(report.exit_code))}};
  if (!options.report_location.empty()) annotations["report"] = options.report_location;
  if (!report.started_at.empty()) annotations["run_started_at"] = report.started_at;
  nlohmann::json a = {{"labels", alert_labels(report, options)},
                      {"annotations", std::move(annotations)},
                      {"startsAt", rfc3339(now)}};
  if (options.expires.count() > 0) a["endsAt"] = rfc3339(now + options.expires);
  if (!options.generator_url.empty()) a["generatorURL"] = options.generator_url;
  alerts.push_back(std::move(a));
  return alerts;
}

nlohmann::json webhook_payload(const Report& report, const AlertOptions& options) {
  nlohmann::json failures = nlohmann::json::array();
  for (const CheckResult* c : listed_checks(report)) {
    failures.push_back({{"id", c->id},
                        {"stage", c->stage},
                        {"type", c->type},
                        {"status", std::string(to_string(c->status))},
                        {"message", c->message}});
  }
  const std::string scene = scene_of(report);
  return {{"version", 1},
          {"status", "firing"},
          {"run_id", report.run_id},
          {"spec", report.spec_name},
          {"scene", scene.empty() ? nlohmann::json(nullptr) : nlohmann::json(scene)},
          {"verdict", std::string(report.verdict())},
          {"exit_code", static_cast<int>(report.exit_code)},
          {"summary", alert_summary(report)},
          {"failures", std::move(failures)},
          {"counts", counts_json(report.summary)},
          {"report", options.report_location.empty() ? nlohmann::json(nullptr)
                                                     : nlohmann::json(options.report_location)},
          {"labels", options.labels},
          {"started_at", report.started_at}};
}

std::string redact_url(std::string_view url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return detail::printable(url, 500);
  const std::size_t start = scheme + 3;
  std::size_t end = url.find_first_of("/?#", start);
  if (end == std::string_view::npos) end = url.size();
  const std::size_t at = url.substr(start, end - start).rfind('@');
  std::string out(url);
  if (at != std::string_view::npos)
    out = std::string(url.substr(0, start)) + "***" + std::string(url.substr(start + at));
  return detail::printable(out, 500);
}

Result<void> check_alert_url(std::string_view url, std::string_view option, bool base) {
  const std::string shown = redact_url(url);
  auto bad = [&](std::string_view why) -> Result<void> {
    return make_error(Errc::invalid_argument,
                      fmt::format("{}: expected an http:// or https:// URL{}, found \"{}\" ({})",
                                  option, base ? " without a query" : "", shown, why));
  };
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return bad("not http:// or https://");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return bad("a space or control byte");
  }
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  if (!u) return make_error(Errc::internal, "curl_url failed");
  const std::string text(url);
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return bad("it does not parse as a URL");
  }
  auto has = [&](CURLUPart part) {
    char* value = nullptr;
    const bool present =
        curl_url_get(u.get(), part, &value, 0) == CURLUE_OK && value != nullptr && *value != '\0';
    curl_free(value);
    return present;
  };
  if (!has(CURLUPART_HOST)) return bad("no host");
  if (has(CURLUPART_FRAGMENT)) return bad("a #fragment");
  if (base && has(CURLUPART_QUERY)) return bad("a ?query");
  return {};
}

Result<void> check_alert_labels(const std::map<std::string, std::string>& labels) {
  for (const auto& [name, value] : labels) {
    if (!detail::valid_label_name(name)) {
      return make_error(Errc::invalid_argument,
                        fmt::format("--alert-label: expected a label name [a-zA-Z_][a-zA-Z0-9_]* "
                                    "not starting with __, found \"{}\"",
                                    detail::printable(name, 100)));
    }
    if (name == "alertname" || name == "spec" || name == "scene" || name == "severity") {
      return make_error(Errc::invalid_argument,
                        fmt::format("--alert-label: \"{}\" is set by stagecheck (alertname, spec, "
                                    "scene and severity are)",
                                    name));
    }
    if (value.empty()) {
      return make_error(Errc::invalid_argument,
                        fmt::format("--alert-label {}: expected a non-empty value (an empty value "
                                    "is no label to Alertmanager)",
                                    name));
    }
  }
  return {};
}

std::string alertmanager_endpoint(std::string_view base_url) {
  std::string url(base_url);
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url + "/api/v2/alerts";
}

Result<void> post_alert(const std::string& url, const std::string& body,
                        const AlertOptions& options) {
  if (auto ok = check_alert_url(url, "alert URL", false); !ok) return ok;
  const std::string shown = redact_url(url);
  http::ClientSettings settings;
  settings.endpoint_shown = shown;
  settings.io_concurrency = 1;
  settings.connect_timeout = options.connect_timeout;
  settings.idle_timeout = options.idle_timeout;
  settings.retry.max_retries = options.retries;
  settings.retry.max_total = options.max_total;
  http::HttpClient client(std::move(settings), nullptr);
  http::HttpRequest request;
  request.method = http::HttpRequest::Method::post;
  request.url = url;
  request.headers = {"Content-Type: application/json", "Accept: application/json"};
  request.body = body;
  request.max_body = 64u << 10;
  auto response = client.perform(request, "alert");
  if (!response) {
    return make_error(Errc::unavailable, std::move(response).error().message);
  }
  if (response->status < 200 || response->status > 299) {
    std::string answer = one_line(response->body, 300);
    return make_error(Errc::unavailable,
                      fmt::format("expected a 2xx answer, found HTTP {}{}", response->status,
                                  answer.empty() ? "" : ": " + answer));
  }
  return {};
}

}  // namespace stagecheck
