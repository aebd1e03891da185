// Shared parts of the http checks (see http_common.hpp).

#include "http_common.hpp"

#include <arpa/inet.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>

#include "load_stats.hpp"

namespace stagecheck::http {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// RFC 9110 token characters (header names).
bool is_token(std::string_view s) {
  constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           kExtra.find(c) != std::string_view::npos;
  });
}

bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

std::string url_part(CURLU* u, CURLUPart part) {
  char* s = nullptr;
  if (curl_url_get(u, part, &s, 0) != CURLUE_OK || s == nullptr) return {};
  std::string out(s);
  curl_free(s);
  return out;
}

bool is_variable_name(std::string_view s) {
  return !s.empty() && (std::isalpha(static_cast<unsigned char>(s[0])) != 0 || s[0] == '_') &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
         });
}

}  // namespace

Result<Target> vet_url(std::string_view url, const std::vector<std::string>& allowed_hosts) {
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u) return make_error(Errc::internal, "out of memory parsing the URL");
  std::string text(url);
  if (has_line_break(text)) return make_error(Errc::spec_error, "the URL holds a line break");
  CURLUcode rc = curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0);
  if (rc != CURLUE_OK) {
    return make_error(Errc::spec_error,
                      fmt::format("\"{}\" is not a URL: {}", text, curl_url_strerror(rc)));
  }
  std::string scheme = lower(url_part(u.get(), CURLUPART_SCHEME));
  if (scheme != "http" && scheme != "https") {
    return make_error(
        Errc::spec_error,
        fmt::format("\"{}\": expected an http or https URL, found scheme \"{}\"", text, scheme));
  }
  if (!url_part(u.get(), CURLUPART_USER).empty() ||
      !url_part(u.get(), CURLUPART_PASSWORD).empty()) {
    // The URL is printed in every message and report; credentials go in a header from a
    // secret variable instead.
    return make_error(Errc::spec_error,
                      "the URL carries credentials (user:password@): send them in a header "
                      "whose value is a secret variable, e.g. Authorization: $token");
  }
  Target t;
  t.host = lower(url_part(u.get(), CURLUPART_HOST));
  if (t.host.empty()) return make_error(Errc::spec_error, fmt::format("\"{}\" has no host", text));
  std::array<unsigned char, 16> addr{};
  if (t.host == "localhost" || t.host == "[::1]") {
    t.loopback = true;
  } else if (inet_pton(AF_INET, t.host.c_str(), addr.data()) == 1) {
    t.loopback = addr[0] == 127;
  }
  if (!t.loopback) {
    bool allowed = std::any_of(allowed_hosts.begin(), allowed_hosts.end(),
                               [&](const std::string& h) { return lower(h) == t.host; });
    if (!allowed) {
      return make_error(
          Errc::spec_error,
          fmt::format("host \"{}\" of \"{}\" is not loopback (localhost, 127.0.0.0/8, [::1]) and "
                      "not listed in allowed_hosts",
                      t.host, text));
    }
  }
  t.url = url_part(u.get(), CURLUPART_URL);
  return t;
}

bool is_sensitive_header(std::string_view name) {
  std::string n = lower(name);
  for (std::string_view word : {"auth", "cookie", "token", "secret", "password", "passwd", "key",
                                "session", "credential", "signature"}) {
    if (n.find(word) != std::string::npos) return true;
  }
  return false;
}

bool StatusSet::contains(long status) const {
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const auto& r) { return status >= r.first && status <= r.second; });
}

Result<StatusSet> parse_status_set(const nlohmann::json& v) {
  StatusSet set;
  std::vector<std::string> parts;
  auto one = [&](const nlohmann::json& item) -> Result<void> {
    auto bad = [&]() {
      return make_error(Errc::spec_error,
                        fmt::format("expected a status (200), a class (\"2xx\") or a range "
                                    "(\"200-299\") between 100 and 599, found {}",
                                    item.dump()));
    };
    long lo = 0, hi = 0;
    if (item.is_number_integer()) {
      lo = hi = item.get<long>();
    } else if (item.is_string()) {
      std::string s = lower(item.get<std::string>());
      auto digits = [](std::string_view d, long& out) {
        if (d.size() != 3 ||
            !std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; })) {
          return false;
        }
        out = std::stol(std::string(d));
        return true;
      };
      if (s.size() == 3 && s[0] >= '1' && s[0] <= '5' && s.substr(1) == "xx") {
        lo = (s[0] - '0') * 100;
        hi = lo + 99;
      } else if (auto dash = s.find('-'); dash != std::string::npos) {
        if (!digits(s.substr(0, dash), lo) || !digits(s.substr(dash + 1), hi)) return bad();
      } else if (!digits(s, lo)) {
        return bad();
      } else {
        hi = lo;
      }
    } else {
      return bad();
    }
    if (lo < 100 || hi > 599 || lo > hi) return bad();
    set.ranges.emplace_back(lo, hi);
    parts.push_back(item.is_string() ? item.get<std::string>() : std::to_string(lo));
    return {};
  };
  if (v.is_array()) {
    if (v.empty()) return make_error(Errc::spec_error, "expected at least one status");
    for (const auto& item : v) {
      if (auto r = one(item); !r) return r.error();
    }
  } else if (auto r = one(v); !r) {
    return r.error();
  }
  for (std::size_t i = 0; i < parts.size(); ++i) set.text += (i == 0 ? "" : ", ") + parts[i];
  return set;
}

std::vector<ParamSpec> request_params(std::string_view default_timeout) {
  return {
      {"url",
       ParamType::string,
       true,
       nullptr,
       "http(s) URL. The host must be loopback (localhost, 127.0.0.0/8, [::1]) or listed in "
       "allowed_hosts; no user:password@. May be a whole $var.",
       {}},
      {"method",
       ParamType::string,
       false,
       "GET",
       "HTTP method.",
       {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}},
      {"headers",
       ParamType::object,
       false,
       nullptr,
       "Request headers {Name: value}. A value written \"$name\" is the spec variable's value at "
       "run time (declare tokens `secret: true`). Values of credential-like headers are never "
       "reported.",
       {}},
      {"body", ParamType::string, false, nullptr, "Request body (not with GET or HEAD).", {}},
      {"json_body",
       ParamType::any,
       false,
       nullptr,
       "Request body as JSON (sent with Content-Type: application/json unless headers set it).",
       {}},
      {"timeout",
       ParamType::string,
       false,
       std::string(default_timeout),
       "Total time allowed per request, a duration (\"500ms\", \"10s\"; at most 10m).",
       {}},
      {"connect_timeout",
       ParamType::string,
       false,
       "5s",
       "Time allowed to connect, a duration.",
       {}},
      {"max_body_bytes",
       ParamType::integer,
       false,
       kDefaultMaxBodyBytes,
       "Largest response body read (1..67108864); a larger one fails http_request and counts as "
       "an error in http_load.",
       {}},
      {"allowed_hosts",
       ParamType::string_list,
       false,
       nullptr,
       "Non-loopback host names or addresses the url may name (exact, case-insensitive).",
       {}},
  };
}

Result<RequestSpec> read_request_spec(const CheckConfig& config) {
  RequestSpec spec;
  std::vector<std::string> allowed;
  if (config.has("allowed_hosts")) {
    allowed = config.get_string_list("allowed_hosts");
    for (const auto& h : allowed) {
      if (h.empty() || h.find_first_of("*/ @:") != std::string::npos) {
        if (h.empty() || h.front() != '[') {
          return config.error("allowed_hosts",
                              fmt::format("expected a host name or address, found \"{}\" "
                                          "(no wildcards, ports, schemes or paths)",
                                          h));
        }
      }
    }
  }
  auto target = vet_url(config.get_string("url"), allowed);
  if (!target) return config.error("url", target.error().message);
  spec.target = std::move(*target);
  spec.method = config.get_string("method");

  if (config.has("headers")) {
    const nlohmann::json& h = config.get_json("headers");
    for (auto it = h.begin(); it != h.end(); ++it) {
      if (!is_token(it.key())) {
        return config.error("headers", fmt::format("\"{}\" is not a header name", it.key()));
      }
      if (!it->is_string()) {
        return config.error("headers", fmt::format("{}: expected a string value, found {}",
                                                   it.key(), it->type_name()));
      }
      const std::string& value = it->get_ref<const std::string&>();
      if (has_line_break(value)) {
        return config.error("headers", fmt::format("{}: the value holds a line break", it.key()));
      }
      HeaderValue hv;
      hv.name = it.key();
      if (value.size() > 1 && value.substr(0, 2) == "$$") {
        hv.value = value.substr(1);
      } else if (value.size() > 1 && value[0] == '$') {
        std::string var = value.substr(1);
        if (var.size() > 2 && var.front() == '{' && var.back() == '}') {
          var = var.substr(1, var.size() - 2);
        }
        if (!is_variable_name(var)) {
          return config.error("headers", fmt::format("{}: \"{}\" is not a $variable (write $$ "
                                                     "for a literal $)",
                                                     it.key(), value));
        }
        hv.var = var;
      } else {
        hv.value = value;
      }
      spec.headers.push_back(std::move(hv));
    }
  }

  bool bodyless = spec.method == "GET" || spec.method == "HEAD";
  if (config.has("body") && config.has("json_body")) {
    return config.error("json_body", "give body or json_body, not both");
  }
  if (config.has("body")) {
    spec.body = config.get_string("body");
    spec.has_body = true;
  } else if (config.has("json_body")) {
    spec.body = config.get_json("json_body").dump();
    spec.has_body = true;
    bool has_type = std::any_of(spec.headers.begin(), spec.headers.end(),
                                [](const auto& hv) { return lower(hv.name) == "content-type"; });
    if (!has_type) spec.headers.push_back({"Content-Type", "application/json", ""});
  }
  if (spec.has_body && bodyless) {
    return config.error(config.has("body") ? "body" : "json_body",
                        fmt::format("a {} request carries no body", spec.method));
  }
  if (static_cast<std::int64_t>(spec.body.size()) > kMaxRequestBodyBytes) {
    return config.error(config.has("body") ? "body" : "json_body",
                        fmt::format("{} bytes is larger than the {} bytes a request body may have",
                                    spec.body.size(), kMaxRequestBodyBytes));
  }

  for (auto [param, out] : {std::pair<const char*, std::int64_t*>{"timeout", &spec.timeout_us},
                            {"connect_timeout", &spec.connect_timeout_us}}) {
    auto us = parse_duration_us(config.get_string(param));
    if (!us) return config.error(param, us.error().message);
    if (*us < 1000 || *us > kMaxTimeoutUs) {
      return config.error(param, fmt::format("expected a duration between 1ms and 10m, found "
                                             "\"{}\"",
                                             config.get_string(param)));
    }
    *out = *us;
  }
  spec.max_body_bytes = config.get_int("max_body_bytes");
  if (spec.max_body_bytes < 1 || spec.max_body_bytes > kMaxMaxBodyBytes) {
    return config.error("max_body_bytes", fmt::format("expected 1..{}, found {}", kMaxMaxBodyBytes,
                                                      spec.max_body_bytes));
  }
  return spec;
}

Result<Slist> build_headers(const RequestSpec& spec, CheckContext& ctx) {
  Slist list;
  auto append = [&](const std::string& line) -> bool {
    curl_slist* next = curl_slist_append(list.get(), line.c_str());
    if (next == nullptr) return false;
    list.release();
    list.reset(next);
    return true;
  };
  for (const auto& h : spec.headers) {
    std::string value = h.value;
    if (!h.var.empty()) {
      const nlohmann::json* v = ctx.var(h.var);
      if (v == nullptr || v->is_null()) {
        return make_error(
            Errc::invalid_argument,
            fmt::format("header {}: variable ${} is not declared or has no value", h.name, h.var));
      }
      if (!v->is_string()) {
        return make_error(Errc::invalid_argument,
                          fmt::format("header {}: variable ${} is a {}, expected a string", h.name,
                                      h.var, v->type_name()));
      }
      value = v->get<std::string>();
      if (has_line_break(value)) {
        return make_error(
            Errc::invalid_argument,
            fmt::format("header {}: the value of variable ${} holds a line break", h.name, h.var));
      }
    }
    // "Name;" is curl's way to send a header with an empty value.
    if (!append(value.empty() ? h.name + ";" : h.name + ": " + value)) {
      return make_error(Errc::internal, "out of memory building request headers");
    }
  }
  // curl adds "Expect: 100-continue" to larger bodies; answer-first servers then stall.
  if (spec.has_body && !append("Expect:")) {
    return make_error(Errc::internal, "out of memory building request headers");
  }
  return list;
}

void ensure_curl_global() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

void configure_easy(CURL* easy, const RequestSpec& spec, curl_slist* headers) {
  curl_easy_setopt(easy, CURLOPT_URL, spec.target.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_PROXY, "");  // never via a proxy from the environment
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(spec.timeout_us / 1000));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(spec.connect_timeout_us / 1000));
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "stagecheck-http/1.0");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  if (spec.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (spec.method != "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, spec.method.c_str());
  }
  if (spec.has_body) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, spec.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(spec.body.size()));
  }
}

std::string describe_request(const RequestSpec& spec) {
  return fmt::format("{} {}", spec.method, spec.target.url);
}

}  // namespace stagecheck::http
