#pragma once
/// \file
/// What `http_request` and `http_load` share: the target URL and its host policy, request
/// headers (with `$var` values resolved at run time), expected statuses, and curl set-up.
/// Everything here that runs at spec-load time does no I/O.

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/check_config.hpp"
#include "stagecheck/check_context.hpp"
#include "stagecheck/check_info.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck::http {

/// Largest request body a spec may carry, and the default and largest response body read.
constexpr std::int64_t kMaxRequestBodyBytes = 1 << 20;
constexpr std::int64_t kDefaultMaxBodyBytes = 1 << 20;
constexpr std::int64_t kMaxMaxBodyBytes = 64ll << 20;
/// Longest per-request timeout a spec may ask for (10 minutes).
constexpr std::int64_t kMaxTimeoutUs = 600'000'000;

/// A URL that passed the host policy: http or https, no credentials, a loopback host
/// (localhost, 127.0.0.0/8, [::1]) or one the spec lists in `allowed_hosts`.
struct Target {
  std::string url;   ///< Normalised by curl's own URL parser (the one that sends it).
  std::string host;  ///< As curl parsed it, lower case; IPv6 in brackets.
  bool loopback = false;
};

/// Parses and vets `url` with curl's URL API (no I/O). Errors are plain messages.
Result<Target> vet_url(std::string_view url, const std::vector<std::string>& allowed_hosts);

/// One request header. `var` is set when the value is written `$name`: the value is the spec
/// variable's, looked up at run time (so a secret variable never sits in the config).
struct HeaderValue {
  std::string name;
  std::string value;
  std::string var;
};

/// True for header names whose values are credentials (Authorization, Cookie, X-Api-Key,
/// anything with token/secret/password/auth/key in it): their values are never reported.
bool is_sensitive_header(std::string_view name);

/// A set of acceptable HTTP statuses: ranges [lo, hi].
struct StatusSet {
  std::vector<std::pair<long, long>> ranges;
  std::string text;  ///< As a human reads it, e.g. "2xx", "200, 204", "200-299".
  bool contains(long status) const;
};

/// Parses `expected_status`: an integer, "2xx", "200-299", "200", or a list of these.
Result<StatusSet> parse_status_set(const nlohmann::json& v);

/// Everything needed to send one kind of request, fixed at load time.
struct RequestSpec {
  Target target;
  std::string method = "GET";
  std::vector<HeaderValue> headers;
  std::string body;
  bool has_body = false;
  std::int64_t timeout_us = 10'000'000;
  std::int64_t connect_timeout_us = 5'000'000;
  std::int64_t max_body_bytes = kDefaultMaxBodyBytes;
};

/// Reads the parameters both checks share (url, method, headers, body, json_body, timeout,
/// connect_timeout, max_body_bytes, allowed_hosts) into a RequestSpec, or a spec error.
Result<RequestSpec> read_request_spec(const CheckConfig& config);

/// The ParamSpecs for the shared parameters.
std::vector<ParamSpec> request_params(std::string_view default_timeout);

/// A curl_slist owned by a unique_ptr.
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

/// Builds the request's header list, resolving `$var` values through the context. An unset
/// variable, or a value that is not a string or holds a line break, is an error naming the
/// header and the variable but never the value.
Result<Slist> build_headers(const RequestSpec& spec, CheckContext& ctx);

/// Initialises libcurl once per process (thread-safe).
void ensure_curl_global();

/// Sets the options every request of ours carries: URL, method, body, headers, timeouts, no
/// redirects, no proxy, http/https only, no signals. `headers` and `spec` must outlive the
/// transfer.
void configure_easy(CURL* easy, const RequestSpec& spec, curl_slist* headers);

/// "GET http://127.0.0.1:8080/health".
std::string describe_request(const RequestSpec& spec);

}  // namespace stagecheck::http
