#include "stagecheck/metrics_export.hpp"
#include "text_util.hpp"

#include <cmath>
#include <mutex>

#include <curl/curl.h>
#include <fmt/format.h>

namespace stagecheck {

namespace {

std::string escape(std::string_view v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

// Series of one metric family, written as HELP, TYPE, then samples.
class Family {
 public:
  Family(std::string& out, std::string name, const char* help) : out_(out), name_(std::move(name)) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name_, help, name_);
  }
  void add(const std::string& base,
           std::initializer_list<std::pair<const char*, std::string>> extra, double value) {
    std::string labels = base;
    for (const auto& [k, v] : extra) {
      labels += fmt::format("{}{}=\"{}\"", labels.empty() ? "" : ",", k, escape(v));
    }
    out_ += fmt::format("{}{{{}}} {}\n", name_, labels, number(value));
  }

 private:
  std::string& out_;
  std::string name_;
};

constexpr Status kStatuses[] = {Status::pass,    Status::fail,    Status::warn,
                                Status::skipped, Status::blocked, Status::error};

std::string base64url(std::string_view in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {k[(n >> 18) & 63], k[(n >> 12) & 63], k[(n >> 6) & 63], k[n & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned n = static_cast<unsigned char>(in[i]) << 16;
    out += {k[(n >> 18) & 63], k[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned n =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {k[(n >> 18) & 63], k[(n >> 12) & 63], k[(n >> 6) & 63], '='};
  }
  return out;
}

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

}  // namespace

Result<std::string> report_to_metrics(const Report& report,
                                      const std::map<std::string, std::string>& labels) {
  std::string base = fmt::format("spec=\"{}\"", escape(report.spec_name));
  for (const auto& [k, v] : labels) {
    if (!detail::valid_label_name(k) || k == "spec" || k == "stage" || k == "check" ||
        k == "status" || k == "type" || k == "field") {
      return make_error(Errc::invalid_argument,
                        fmt::format("metrics label '{}': expected a name [a-zA-Z_][a-zA-Z0-9_]* "
                                    "not starting with __ and not one of spec, stage, check, "
                                    "status, type, field",
                                    k));
    }
    base += fmt::format(",{}=\"{}\"", k, escape(v));
  }
  std::string out;
  const double seconds = report.duration_ms / 1000.0;
  const auto now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  Family(out, "stagecheck_run_success", "1 if the run passed (exit code 0), else 0")
      .add(base, {}, report.exit_code == ExitCode::pass ? 1 : 0);
  Family(out, "stagecheck_run_exit_code", "The run's exit code: 0 pass, 1 fail, 3 no verdict")
      .add(base, {}, static_cast<int>(report.exit_code));
  Family(out, "stagecheck_run_duration_seconds", "How long the run took").add(base, {}, seconds);
  Family(out, "stagecheck_run_timestamp_seconds", "When the run started (Unix time)")
      .add(base, {}, std::floor(now - seconds));
  {
    Family f(out, "stagecheck_checks", "Checks that ended in each status");
    const Summary& s = report.summary;
    const std::size_t counts[] = {s.pass, s.fail, s.warn, s.skipped, s.blocked, s.error};
    for (std::size_t i = 0; i < std::size(kStatuses); ++i) {
      f.add(base, {{"status", std::string(to_string(kStatuses[i]))}},
            static_cast<double>(counts[i]));
    }
  }
  {
    Family f(out, "stagecheck_stage_status", "1 for the stage's status, 0 for the others");
    for (const auto& st : report.stages) {
      for (Status s : kStatuses) {
        f.add(base, {{"stage", st.id}, {"status", std::string(to_string(s))}},
              st.status == s ? 1 : 0);
      }
    }
  }
  {
    Family f(out, "stagecheck_stage_duration_seconds", "How long each stage took");
    for (const auto& st : report.stages) f.add(base, {{"stage", st.id}}, st.duration_ms / 1000.0);
  }
  {
    Family f(out, "stagecheck_check_status", "1 for the check's status, 0 for the others");
    for (const auto& c : report.results) {
      for (Status s : kStatuses) {
        f.add(base,
              {{"stage", c.stage},
               {"check", c.id},
               {"type", c.type},
               {"status", std::string(to_string(s))}},
              c.status == s ? 1 : 0);
      }
    }
  }
  {
    Family f(out, "stagecheck_check_duration_seconds", "How long each check took");
    for (const auto& c : report.results) {
      f.add(base, {{"stage", c.stage}, {"check", c.id}, {"type", c.type}}, c.duration_ms / 1000.0);
    }
  }
  {
    Family f(out, "stagecheck_check_observed", "Numeric values a check observed (its evidence)");
    for (const auto& c : report.results) {
      if (!c.observed.is_object()) continue;
      std::size_t n = 0;
      for (const auto& [field, v] : c.observed.items()) {
        if (!v.is_number() || ++n > 16) continue;
        f.add(base, {{"stage", c.stage}, {"check", c.id}, {"field", field.substr(0, 200)}},
              v.get<double>());
      }
    }
  }
  return out;
}

Result<void> push_metrics(const std::string& url, const std::string& spec_name,
                          const std::map<std::string, std::string>& labels, const std::string& text,
                          std::chrono::milliseconds timeout) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return make_error(Errc::invalid_argument,
                      fmt::format("--pushgateway: expected an http:// or https:// URL, found "
                                  "\"{}\"",
                                  url));
  }
  std::string target = url;
  while (!target.empty() && target.back() == '/') target.pop_back();
  // Grouping key values in base64url form, so that any value (even one with '/') is safe.
  target += fmt::format("/metrics/job/stagecheck/spec@base64/{}", base64url(spec_name));
  for (const auto& [k, v] : labels) {
    target += fmt::format("/{}@base64/{}", k, v.empty() ? "=" : base64url(v));
  }
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* c = curl_easy_init();
  if (c == nullptr) return make_error(Errc::internal, "curl_easy_init failed");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* headers =
      curl_slist_append(nullptr, "Content-Type: text/plain; version=0.0.4; charset=utf-8");
  curl_easy_setopt(c, CURLOPT_URL, target.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, text.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(text.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    return make_error(
        Errc::unavailable,
        fmt::format("Pushgateway {}: {}", url, errbuf[0] != 0 ? errbuf : curl_easy_strerror(rc)));
  }
  if (status < 200 || status > 299) {
    return make_error(
        Errc::unavailable,
        fmt::format("Pushgateway {}: expected a 2xx answer, found HTTP {}", url, status));
  }
  return {};
}

}  // namespace stagecheck
