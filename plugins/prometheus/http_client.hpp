#pragma once
/// \file
/// A small, bounded HTTP client over libcurl for the prometheus plugin: one request, connect and
/// total timeouts, a response size cap, no redirects, http/https only. Credentials are sent
/// but never appear in an error message.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <stagecheck/result.hpp>

namespace stagecheck::prometheus {

/// Credentials for one request. Never printed.
struct Credentials {
  std::string username;      ///< Basic auth user (empty: no basic auth).
  std::string password;      ///< Basic auth password.
  std::string bearer_token;  ///< Sent as `Authorization: Bearer ...` (empty: none).
};

/// Limits and credentials of a request.
struct RequestOptions {
  double connect_timeout_s = 5;  ///< TCP/TLS connect timeout.
  double timeout_s = 10;         ///< Whole-request timeout.
  std::size_t max_bytes = 16u << 20;
  Credentials credentials;
  std::vector<std::string> headers;  ///< Extra request headers ("Name: value").
  /// Asked before the request (chaos at the probe layer, CheckContext::probe_fault): an error
  /// it returns is the request's transport error.
  std::function<std::optional<Error>(const std::string& url)> fault;
};

/// A response that arrived: any status code. A response larger than max_bytes is an error.
struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string body;
};

/// GET `url`. Errors (Errc::unavailable: refused, unresolvable, timed out, reset;
/// Errc::too_large: response over the cap) name `url` and what happened.
Result<HttpResponse> http_get(const std::string& url, const RequestOptions& options);

/// POST `form` (already application/x-www-form-urlencoded) to `url`; errors as http_get.
Result<HttpResponse> http_post_form(const std::string& url, const std::string& form,
                                    const RequestOptions& options);

/// Percent-encodes `text` for a form value (RFC 3986 unreserved characters kept).
std::string form_encode(const std::string& text);

}  // namespace stagecheck::prometheus
