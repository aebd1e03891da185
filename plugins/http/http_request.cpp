// http_request: one request, judged on its status, headers and conditions on its JSON body.

#include "http_checks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <regex>

#include "load_stats.hpp"
#include "stagecheck/artifact.hpp"

namespace stagecheck::http {

namespace {

using nlohmann::json;

/// Longest header value a regex is run on (std::regex recurses per character).
constexpr std::size_t kMaxRegexSubject = 4096;
/// Longest body excerpt quoted in a message.
constexpr std::size_t kMaxQuoted = 200;

std::string dump(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

/// `s` cut to `max` bytes, as a JSON string literal (safe for any bytes).
std::string quote(std::string_view s, std::size_t max = kMaxQuoted) {
  std::string cut(s.substr(0, max));
  return dump(json(cut)) + (s.size() > max ? "..." : "");
}

/// What a response header must be.
struct HeaderExpect {
  enum class Kind { equals, matches, contains, present, absent };
  std::string name;
  Kind kind = Kind::equals;
  std::string value;
  std::regex re;

  std::string describe() const {
    switch (kind) {
      case Kind::equals:
        return fmt::format("equal to {}", quote(value));
      case Kind::matches:
        return fmt::format("matching /{}/", value);
      case Kind::contains:
        return fmt::format("containing {}", quote(value));
      case Kind::present:
        return "present";
      case Kind::absent:
        return "absent";
    }
    return "?";
  }
  bool accepts(const std::string& v) const {
    switch (kind) {
      case Kind::equals:
        return v == value;
      case Kind::contains:
        return v.find(value) != std::string::npos;
      case Kind::matches:
        return v.size() <= kMaxRegexSubject && std::regex_match(v, re);
      case Kind::present:
        return true;
      case Kind::absent:
        return false;
    }
    return false;
  }
};

struct Settings {
  RequestSpec request;
  StatusSet status;
  std::vector<HeaderExpect> headers;
  std::vector<Condition> conditions;
};

/// The response as received.
struct Response {
  std::string body;
  bool too_large = false;
  std::int64_t limit = 0;
  CheckContext* ctx = nullptr;
  bool cancelled = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::size_t bytes = size * n;
  if (static_cast<std::int64_t>(r->body.size() + bytes) > r->limit) {
    r->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  r->body.append(data, bytes);
  return bytes;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* r = static_cast<Response*>(user);
  if (r->ctx->cancelled()) {
    r->cancelled = true;
    return 1;
  }
  return 0;
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

/// Every value of response header `name` (curl keeps them in order), empty if absent.
std::vector<std::string> header_values(CURL* easy, const std::string& name) {
  std::vector<std::string> out;
  curl_header* h = nullptr;
  if (curl_easy_header(easy, name.c_str(), 0, CURLH_HEADER, -1, &h) != CURLHE_OK) return out;
  std::size_t amount = h->amount;
  out.emplace_back(h->value);
  for (std::size_t i = 1; i < amount; ++i) {
    if (curl_easy_header(easy, name.c_str(), i, CURLH_HEADER, -1, &h) == CURLHE_OK) {
      out.emplace_back(h->value);
    }
  }
  return out;
}

class HttpRequestCheck final : public Check {
 public:
  explicit HttpRequestCheck(Settings s) : s_(std::move(s)) {}

  CheckOutcome run(CheckContext& ctx) const override {
    ensure_curl_global();
    const std::string what = describe_request(s_.request);
    auto headers = build_headers(s_.request, ctx);
    if (!headers) {
      return CheckOutcome::fail(fmt::format("{}: {}", what, headers.error().message));
    }
    if (auto fault = ctx.probe_fault("http", s_.request.target.url)) {
      CheckOutcome out = CheckOutcome::error(fmt::format("{}: {}", what, fault->message));
      out.code = "http_unreachable";
      return out;
    }
    std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
    if (!easy) return CheckOutcome::error(fmt::format("{}: curl_easy_init failed", what));
    Response resp;
    resp.limit = s_.request.max_body_bytes;
    resp.ctx = &ctx;
    std::array<char, CURL_ERROR_SIZE> errbuf{};
    configure_easy(easy.get(), s_.request, headers->get());
    curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(easy.get(), CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(easy.get(), CURLOPT_XFERINFODATA, &resp);
    curl_easy_setopt(easy.get(), CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy.get(), CURLOPT_ERRORBUFFER, errbuf.data());
    CURLcode rc = curl_easy_perform(easy.get());

    CheckOutcome out;
    out.expected = expected_json();
    json observed = {{"url", s_.request.target.url}, {"method", s_.request.method}};
    curl_off_t total_us = 0;
    curl_easy_getinfo(easy.get(), CURLINFO_TOTAL_TIME_T, &total_us);
    observed["time_ms"] = static_cast<double>(total_us) / 1000.0;

    if (rc != CURLE_OK) {
      if (resp.too_large) {
        out.status = Status::fail;
        out.code = "http_body_too_large";
        out.message = fmt::format("{}: the response body is larger than max_body_bytes ({} bytes)",
                                  what, s_.request.max_body_bytes);
        out.observed = std::move(observed);
        return out;
      }
      out.status = Status::error;
      out.code = "http_unreachable";
      std::string detail = errbuf[0] != '\0' ? std::string(errbuf.data()) : curl_easy_strerror(rc);
      if (resp.cancelled) {
        out.code = "http_interrupted";
        detail = "the run was interrupted";
      }
      out.message = fmt::format("{}: could not be evaluated: no response ({}: {})", what,
                                curl_easy_strerror(rc), detail);
      observed["transport_error"] = {{"curl_code", static_cast<int>(rc)}, {"message", detail}};
      out.observed = std::move(observed);
      return out;
    }

    long status = 0;
    curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &status);
    observed["status"] = status;
    observed["body_bytes"] = resp.body.size();
    json seen_headers = json::object();
    std::vector<std::string> problems;
    json details = {{"headers", json::array()}, {"conditions", json::array()}};

    if (!s_.status.contains(status)) {
      std::string p = fmt::format("status: expected {}, found {}", s_.status.text, status);
      if (status >= 300 && status < 400) {
        auto loc = header_values(easy.get(), "Location");
        if (!loc.empty()) p += fmt::format(" (redirect to {}, not followed)", quote(loc.front()));
      }
      problems.push_back(std::move(p));
    }

    for (const HeaderExpect& h : s_.headers) {
      auto values = header_values(easy.get(), h.name);
      bool secret = is_sensitive_header(h.name);
      json shown = json::array();
      for (const auto& v : values) shown.push_back(secret ? json("***") : json(v));
      seen_headers[h.name] = values.empty() ? json(nullptr) : shown;
      std::string problem;
      if (h.kind == HeaderExpect::Kind::absent) {
        if (!values.empty()) problem = fmt::format("header {}: expected absent, found it", h.name);
      } else if (values.empty()) {
        problem = fmt::format("header {}: expected {}, found no such header", h.name, h.describe());
      } else {
        for (const auto& v : values) {
          if (!h.accepts(v)) {
            problem =
                fmt::format("header {}: expected {}, found {}{}", h.name, h.describe(),
                            secret ? "a value (not shown: credential)" : quote(v),
                            v.size() > kMaxRegexSubject && h.kind == HeaderExpect::Kind::matches
                                ? " (too long to match)"
                                : "");
            break;
          }
        }
      }
      details["headers"].push_back(
          {{"name", h.name}, {"expected", h.describe()}, {"pass", problem.empty()}});
      if (!problem.empty()) problems.push_back(std::move(problem));
    }
    if (!s_.headers.empty()) observed["headers"] = std::move(seen_headers);

    if (!s_.conditions.empty()) {
      char* ct = nullptr;
      curl_easy_getinfo(easy.get(), CURLINFO_CONTENT_TYPE, &ct);
      observed["content_type"] = ct != nullptr ? json(ct) : json(nullptr);
      auto doc = parse_json(resp.body, what + " response body", ctx.limits());
      if (!doc) {
        problems.push_back(fmt::format(
            "body: expected JSON for {} condition(s), found {} "
            "({} bytes, starts {})",
            s_.conditions.size(), doc.error().message, resp.body.size(), quote(resp.body, 80)));
      } else {
        EvalEnv env = ctx.eval_env();
        for (const Condition& c : s_.conditions) {
          ConditionOutcome co = c.evaluate(*doc, env);
          details["conditions"].push_back({{"condition", c.text()},
                                           {"result", to_string(co.kind)},
                                           {"message", co.message},
                                           {"observed", co.observed}});
          if (co.kind == ConditionOutcome::Kind::unavailable) {
            out.status = Status::error;
            out.message = fmt::format("{}: condition `{}` could not be evaluated: {}", what,
                                      c.text(), co.message);
            out.observed = std::move(observed);
            out.details = std::move(details);
            return out;
          }
          if (!co.satisfied()) {
            problems.push_back(fmt::format("json `{}`: {}", c.text(), co.message));
          }
        }
      }
    }

    out.observed = std::move(observed);
    out.details = std::move(details);
    if (problems.empty()) {
      out.status = Status::pass;
      out.message = fmt::format("{}: status {}", what, status);
      if (!s_.headers.empty())
        out.message += fmt::format(", {} header(s) as expected", s_.headers.size());
      if (!s_.conditions.empty()) {
        out.message += fmt::format(", {} JSON condition(s) hold", s_.conditions.size());
      }
      return out;
    }
    out.status = Status::fail;
    out.code = "http_response_unexpected";
    std::string joined;
    for (std::size_t i = 0; i < problems.size(); ++i) joined += (i == 0 ? "" : "; ") + problems[i];
    out.message = fmt::format("{}: {} problem(s): {}", what, problems.size(), joined);
    out.details["problems"] = problems;
    return out;
  }

 private:
  json expected_json() const {
    json e = {{"status", s_.status.text}};
    if (!s_.headers.empty()) {
      json h = json::object();
      for (const auto& x : s_.headers) h[x.name] = x.describe();
      e["headers"] = h;
    }
    if (!s_.conditions.empty()) {
      json c = json::array();
      for (const auto& x : s_.conditions) c.push_back(x.text());
      e["json"] = c;
    }
    return e;
  }

  Settings s_;
};

Result<std::vector<HeaderExpect>> read_expected_headers(const CheckConfig& config) {
  std::vector<HeaderExpect> out;
  if (!config.has("expected_headers")) return out;
  const json& h = config.get_json("expected_headers");
  for (auto it = h.begin(); it != h.end(); ++it) {
    HeaderExpect e;
    e.name = it.key();
    if (e.name.empty() || e.name.find_first_of(": \t\r\n") != std::string::npos) {
      return config.error("expected_headers", fmt::format("\"{}\" is not a header name", e.name));
    }
    auto bad = [&](std::string_view why) {
      return config.error("expected_headers", fmt::format("{}: {}", e.name, why));
    };
    if (it->is_string()) {
      e.kind = HeaderExpect::Kind::equals;
      e.value = it->get<std::string>();
    } else if (it->is_object() && it->size() == 1) {
      const std::string& k = it->begin().key();
      const json& v = it->begin().value();
      if (k == "equals" || k == "matches" || k == "contains") {
        if (!v.is_string()) return bad(fmt::format("{}: expected a string", k));
        e.value = v.get<std::string>();
        e.kind = k == "equals"    ? HeaderExpect::Kind::equals
                 : k == "matches" ? HeaderExpect::Kind::matches
                                  : HeaderExpect::Kind::contains;
        if (e.kind == HeaderExpect::Kind::matches) {
          try {
            e.re = std::regex(e.value, std::regex::ECMAScript);
          } catch (const std::regex_error& err) {
            return bad(fmt::format("matches: \"{}\" is not a valid regular expression: {}", e.value,
                                   err.what()));
          }
        }
      } else if ((k == "present" || k == "absent") && v.is_boolean() && v.get<bool>()) {
        e.kind = k == "present" ? HeaderExpect::Kind::present : HeaderExpect::Kind::absent;
      } else {
        return bad(
            fmt::format("expected {{equals|matches|contains: string}}, {{present: true}} "
                        "or {{absent: true}}, found {}",
                        dump(*it)));
      }
    } else {
      return bad(
          fmt::format("expected a string or one of {{equals|matches|contains: string}}, "
                      "{{present: true}}, {{absent: true}}, found {}",
                      dump(*it)));
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::unique_ptr<Check>> make(const CheckConfig& config) {
  Settings s;
  auto req = read_request_spec(config);
  if (!req) return req.error();
  s.request = std::move(*req);
  auto status = parse_status_set(config.get_json("expected_status"));
  if (!status) return config.error("expected_status", status.error().message);
  s.status = std::move(*status);
  auto headers = read_expected_headers(config);
  if (!headers) return headers.error();
  s.headers = std::move(*headers);
  s.conditions = config.get_conditions("json");
  if (!s.conditions.empty() && s.request.method == "HEAD") {
    return config.error("json", "a HEAD response has no body to hold conditions on");
  }
  return std::unique_ptr<Check>(std::make_unique<HttpRequestCheck>(std::move(s)));
}

CheckInfo info() {
  CheckInfo i;
  i.type = "http_request";
  i.category = "service";
  i.summary =
      "One HTTP request: the status, response headers and conditions on the JSON body must be "
      "as expected.";
  i.description =
      "Sends the request once (no redirects followed, no proxy, bounded by timeout and "
      "max_body_bytes) and passes only if the status is expected, every expected header is as "
      "expected (each occurrence of a repeated header must match), and every `json` condition "
      "holds on the body parsed strictly as JSON. A body that is not JSON, a condition on a "
      "missing field, a missing header, a wrong status or an oversized body fail, naming the "
      "URL, the field, expected and found; all problems are listed. No response at all "
      "(connection refused, DNS failure, timeout) is `error`: could not be evaluated. Only "
      "loopback hosts and hosts listed in allowed_hosts may be named (checked at load). "
      "Values of credential headers (Authorization, Cookie, *token*, *key*, ...) are never "
      "reported.";
  i.params = request_params("10s");
  i.params.push_back({"expected_status",
                      ParamType::any,
                      false,
                      "2xx",
                      "Acceptable statuses: 200, \"2xx\", \"200-299\", or a list of these.",
                      {}});
  i.params.push_back({"expected_headers",
                      ParamType::object,
                      false,
                      nullptr,
                      "{Name: \"exact value\" | {matches: regex} | {contains: text} | "
                      "{present: true} | {absent: true}}; names are case-insensitive.",
                      {}});
  i.params.push_back({"json",
                      ParamType::condition_list,
                      false,
                      nullptr,
                      "Conditions on the response body parsed as JSON (the condition language).",
                      {}});
  i.example =
      "- id: health\n  type: http_request\n  url: http://127.0.0.1:8080/health\n"
      "  headers: {Authorization: $api_token}\n  expected_status: 200\n"
      "  expected_headers: {Content-Type: {matches: \"application/json.*\"}}\n"
      "  json: [\"status == 'ok'\", \"checks.db.latency_ms < 50\"]\n  timeout: 2s";
  return i;
}

}  // namespace

CheckInfo http_request_info() { return info(); }
Result<std::unique_ptr<Check>> make_http_request(const CheckConfig& config) { return make(config); }

}  // namespace stagecheck::http
