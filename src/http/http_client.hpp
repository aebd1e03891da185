#pragma once
// Internal: the HTTP transport of the object stores (S3 and GCS) over libcurl: a bounded pool of
// reused connections, timeouts, retries with capped exponential backoff and full jitter, and
// bodies checked against their Content-Length. A store adds its own authentication (SigV4,
// an OAuth bearer token) through an Authenticator.

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stagecheck/result.hpp"
#include "stagecheck/retry_policy.hpp"

namespace stagecheck::http {

/// One request. `url` is fully encoded (path and query).
struct HttpRequest {
  enum class Method { get, head, put, post };
  Method method = Method::get;
  std::string url;
  std::vector<std::string> headers;  ///< Extra "Name: value" lines (Range, If-Match, ...).
  std::string_view body;             ///< PUT or POST body (application/octet-stream unless
                                     ///< `headers` has a Content-Type).
  /// Largest body accepted: a longer one (or a Content-Length/Content-Range total above it)
  /// stops the transfer and sets HttpResponse::over_limit instead of being read.
  std::uint64_t max_body = 16u << 20;
  /// Also refuse (over_limit) when the whole object, as a Content-Range total announces it, is
  /// larger than max_body: a read capped at the object size.
  bool max_body_is_object_cap = false;
};

/// A response that came back whole (any status, after retries).
struct HttpResponse {
  long status = 0;
  std::string body;
  std::optional<std::uint64_t> content_length;
  std::string content_range;  ///< e.g. "bytes 0-99/1234".
  std::string etag;
  std::string last_modified;
  /// The body (or the size the headers announced) was larger than max_body; `body` is partial.
  bool over_limit = false;
  /// A ranged GET found the object empty (Content-Range total 0); `body` is empty.
  bool empty_object = false;
  /// Retry-After of a 429 or 503, as a wait from now (delta-seconds or an HTTP date).
  std::optional<std::chrono::seconds> retry_after;
  unsigned attempts = 1;
};

/// The method's name ("GET").
const char* method_name(HttpRequest::Method method);

/// Adds a store's authentication to each attempt of a request. Implementations hold secrets:
/// they never put one into an error. Thread-safe.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  /// Adds header lines to `headers` and sets curl options on `handle` (which is reset after
  /// the attempt; strings passed to curl must outlive it). An error ends the request unretried.
  virtual Result<void> prepare(CURL* handle, const HttpRequest& request,
                               std::vector<std::string>& headers) const = 0;
};

/// How a client connects and retries, and how it names things in messages.
struct ClientSettings {
  std::string endpoint_shown;  ///< Where requests go, for messages ("http://127.0.0.1:9000").
  unsigned io_concurrency = 32;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::seconds idle_timeout{30};
  RetryPolicy retry;
  /// The short error code of an error document (S3's <Code>, GCS's reason), or "": messages
  /// only. Empty: none.
  std::function<std::string(std::string_view body)> error_code;
};

/// Sends requests for one store. Thread-safe: at most `io_concurrency` requests are in flight;
/// callers beyond that wait for a connection.
class HttpClient {
 public:
  /// `auth` may be null (anonymous requests).
  HttpClient(ClientSettings settings, std::unique_ptr<const Authenticator> auth);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Performs `request`, retrying 429, 5xx and transport errors (waiting at least what a
  /// Retry-After header asks, if that fits the retry budget). Returns the final response for
  /// any other status (the caller interprets 404, 403, ...). Errc::unavailable when retries are
  /// exhausted (the message says how many attempts over how long, and the last failure);
  /// `shown` names the object in that message. An Authenticator's error is returned as is.
  Result<HttpResponse> perform(const HttpRequest& request, std::string_view shown) const;

  const ClientSettings& settings() const { return settings_; }

 private:
  struct Attempt;
  CURL* acquire() const;
  void release(CURL* handle) const;
  /// One attempt; an error only when the authenticator refused (nothing was sent).
  Result<void> once(const HttpRequest& request, Attempt& attempt) const;

  ClientSettings settings_;
  std::unique_ptr<const Authenticator> auth_;
  unsigned limit_;
  long connect_timeout_ms_;
  long idle_timeout_s_;
  mutable std::mutex mutex_;
  mutable std::condition_variable available_;
  mutable std::vector<CURL*> idle_;
  mutable unsigned created_ = 0;
  /// Set when a request exhausted its retries on transport errors: later requests try once
  /// until one succeeds, so an unreachable endpoint fails every check fast instead of each
  /// one retrying for seconds.
  mutable std::atomic<bool> endpoint_down_{false};
};

}  // namespace stagecheck::http
