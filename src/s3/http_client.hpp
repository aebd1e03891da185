#pragma once
// Internal: signed HTTP requests to an S3 endpoint over libcurl, with a bounded pool of reused
// connections, timeouts, and retries with capped exponential backoff and full jitter.

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3/config.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/s3_store.hpp"

namespace stagecheck::s3 {

/// One request. `url` is fully encoded (canonical path and query).
struct HttpRequest {
  enum class Method { get, head, put };
  Method method = Method::get;
  std::string url;
  std::vector<std::string> headers;  ///< Extra "Name: value" lines (Range, If-Match, ...).
  std::string_view body;             ///< PUT body.
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
  unsigned attempts = 1;
};

/// The method's name ("GET").
const char* method_name(HttpRequest::Method method);

/// Sends requests for one store. Thread-safe: at most `io_concurrency` requests are in flight;
/// callers beyond that wait for a connection. Holds the secret: never formats it.
class HttpClient {
 public:
  HttpClient(ResolvedConfig config, const S3Options& options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Performs `request`, retrying 429, 5xx and transport errors. Returns the final response for
  /// any other status (the caller interprets 404, 403, ...). Errc::unavailable when retries are
  /// exhausted (the message says how many attempts over how long, and the last failure);
  /// `shown` names the object in that message.
  Result<HttpResponse> perform(const HttpRequest& request, std::string_view shown) const;

  const ResolvedConfig& config() const { return config_; }

 private:
  struct Attempt;
  CURL* acquire() const;
  void release(CURL* handle) const;
  void once(const HttpRequest& request, Attempt& attempt) const;

  ResolvedConfig config_;
  std::string sigv4_;    ///< "aws:amz:REGION:s3".
  std::string userpwd_;  ///< "KEY:SECRET" for curl; empty for unsigned requests.
  unsigned limit_;
  long connect_timeout_ms_;
  long idle_timeout_s_;
  S3RetryPolicy retry_;
  mutable std::mutex mutex_;
  mutable std::condition_variable available_;
  mutable std::vector<CURL*> idle_;
  mutable unsigned created_ = 0;
  /// Set when a request exhausted its retries on transport errors: later requests try once
  /// until one succeeds, so an unreachable endpoint fails every check fast instead of each
  /// one retrying for seconds.
  mutable std::atomic<bool> endpoint_down_{false};
};

}  // namespace stagecheck::s3
