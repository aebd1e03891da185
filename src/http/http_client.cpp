#include "http/http_client.hpp"

#include <strings.h>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "text_util.hpp"

namespace stagecheck::http {

namespace {

using Clock = std::chrono::steady_clock;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool iequals_prefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  }
  return true;
}

std::string_view header_value(std::string_view line, std::size_t name_size) {
  std::string_view value = line.substr(name_size);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  return value;
}

/// The total size in a Content-Range header ("bytes 0-99/1234" or "bytes */1234").
std::optional<std::uint64_t> range_total(std::string_view content_range) {
  const std::size_t slash = content_range.rfind('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view digits = content_range.substr(slash + 1);
  std::uint64_t total = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), total);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
    return std::nullopt;
  }
  return total;
}

/// A Retry-After value: delta-seconds, or an HTTP date (a wait from now, 0 if past).
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  std::int64_t delta = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), delta);
  if (!value.empty() && ec == std::errc() && ptr == value.data() + value.size() && delta >= 0) {
    return std::chrono::seconds(delta);
  }
  const time_t when = curl_getdate(std::string(value).c_str(), nullptr);
  if (when <= 0) return std::nullopt;
  const std::int64_t wait =
      static_cast<std::int64_t>(when) - static_cast<std::int64_t>(::time(nullptr));
  return std::chrono::seconds(std::max<std::int64_t>(0, wait));
}

/// Most of an error document kept for messages.
constexpr std::size_t kMaxErrorBody = 64 * 1024;

bool retryable_status(long status) { return status == 429 || status >= 500; }

std::string seconds(Clock::duration d) {
  return fmt::format("{:.1f} s", std::chrono::duration<double>(d).count());
}

}  // namespace

const char* method_name(HttpRequest::Method method) {
  switch (method) {
    case HttpRequest::Method::get:
      return "GET";
    case HttpRequest::Method::head:
      return "HEAD";
    case HttpRequest::Method::put:
      return "PUT";
    case HttpRequest::Method::post:
      return "POST";
  }
  return "GET";
}

/// The state of one attempt, filled by curl's callbacks.
struct HttpClient::Attempt {
  const HttpRequest* request = nullptr;
  HttpResponse response;
  long status = 0;  ///< From the last status line seen by on_header.
  CURLcode code = CURLE_OK;
  std::string transport_error;  ///< Empty unless the attempt failed below HTTP.
  char error_buffer[CURL_ERROR_SIZE] = {};

  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* self = static_cast<Attempt*>(user);
    const std::size_t n = size * count;
    const std::string_view line(data, n);
    HttpResponse& r = self->response;
    if (line.rfind("HTTP/", 0) == 0) {
      // A new status line (after "100 Continue" or a redirect): forget earlier headers.
      const std::size_t space = line.find(' ');
      long status = 0;
      if (space != std::string_view::npos && line.size() >= space + 4) {
        std::from_chars(line.data() + space + 1, line.data() + space + 4, status);
      }
      self->status = status;
      r.content_length.reset();
      r.content_range.clear();
      r.etag.clear();
      r.last_modified.clear();
      r.retry_after.reset();
    } else if (iequals_prefix(line, "content-length:")) {
      const std::string_view value = header_value(line, 15);
      std::uint64_t length = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (ec == std::errc() && ptr == value.data() + value.size()) r.content_length = length;
    } else if (iequals_prefix(line, "content-range:")) {
      r.content_range = std::string(header_value(line, 14));
    } else if (iequals_prefix(line, "etag:")) {
      r.etag = std::string(header_value(line, 5));
    } else if (iequals_prefix(line, "last-modified:")) {
      r.last_modified = std::string(header_value(line, 14));
    } else if (iequals_prefix(line, "retry-after:")) {
      r.retry_after = parse_retry_after(header_value(line, 12));
    } else if (line == "\r\n" || line == "\n") {
      // End of the headers: refuse a body that is announced as too large before reading it.
      const bool success = self->status >= 200 && self->status < 300;
      const std::optional<std::uint64_t> total =
          r.content_range.empty() ? r.content_length : range_total(r.content_range);
      const std::optional<std::uint64_t> announced =
          self->request->max_body_is_object_cap ? total : r.content_length;
      if (self->request->method == HttpRequest::Method::get && success && announced &&
          *announced > self->request->max_body) {
        r.over_limit = true;
        return 0;
      }
      // A range of an empty object: S3 answers 416 "bytes */0", s3rver 206 "bytes 0-0/0" with a
      // Content-Length of 1 and no body. Either way the object is empty; stop here.
      if (self->request->method == HttpRequest::Method::get && !r.content_range.empty() &&
          total == std::optional<std::uint64_t>(0)) {
        r.empty_object = true;
        return 0;
      }
    }
    return n;
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto* self = static_cast<Attempt*>(user);
    const std::size_t n = size * count;
    HttpResponse& r = self->response;
    if (self->status < 200 || self->status >= 300) {
      // An error document: keep what a message can use, consume the rest.
      r.body.append(data, std::min(n, kMaxErrorBody - std::min(kMaxErrorBody, r.body.size())));
      return n;
    }
    if (r.body.size() + n > self->request->max_body) {
      r.over_limit = true;
      return 0;
    }
    r.body.append(data, n);
    return n;
  }
};

HttpClient::HttpClient(ClientSettings settings, std::unique_ptr<const Authenticator> auth)
    : settings_(std::move(settings)),
      auth_(std::move(auth)),
      limit_(std::max(1u, settings_.io_concurrency)),
      connect_timeout_ms_(
          static_cast<long>(std::max<std::int64_t>(1, settings_.connect_timeout.count()))),
      idle_timeout_s_(
          static_cast<long>(std::max<std::int64_t>(1, settings_.idle_timeout.count()))) {
  global_init();
}

HttpClient::~HttpClient() {
  for (CURL* handle : idle_) curl_easy_cleanup(handle);
}

CURL* HttpClient::acquire() const {
  std::unique_lock lock(mutex_);
  available_.wait(lock, [&] { return !idle_.empty() || created_ < limit_; });
  if (!idle_.empty()) {
    CURL* handle = idle_.back();
    idle_.pop_back();
    return handle;
  }
  CURL* handle = curl_easy_init();
  if (handle != nullptr) ++created_;
  return handle;
}

void HttpClient::release(CURL* handle) const {
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(handle);
  }
  available_.notify_one();
}

Result<void> HttpClient::once(const HttpRequest& request, Attempt& attempt) const {
  attempt.request = &request;
  CURL* handle = acquire();
  if (handle == nullptr) {
    attempt.code = CURLE_FAILED_INIT;
    attempt.transport_error = "cannot create a curl handle";
    return {};
  }
  // Keeps the handle's connection cache (reuse) and drops every option of the last request.
  curl_easy_reset(handle);
  std::vector<std::string> lines;
  if (auth_) {
    if (Result<void> ok = auth_->prepare(handle, request, lines); !ok) {
      curl_easy_reset(handle);
      release(handle);
      return ok;
    }
  }
  curl_slist* headers = nullptr;
  for (const std::string& line : lines) headers = curl_slist_append(headers, line.c_str());
  for (const std::string& line : request.headers)
    headers = curl_slist_append(headers, line.c_str());

  curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms_);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, idle_timeout_s_);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, attempt.error_buffer);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &Attempt::on_header);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &attempt);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &Attempt::on_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &attempt);
  switch (request.method) {
    case HttpRequest::Method::get:
      break;
    case HttpRequest::Method::head:
      curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
      break;
    case HttpRequest::Method::put:
    case HttpRequest::Method::post:
      // The caller's own Content-Type (e.g. JSON for an alert) wins over the default.
      if (std::none_of(request.headers.begin(), request.headers.end(), [](const std::string& h) {
            return h.size() >= 13 && strncasecmp(h.c_str(), "Content-Type:", 13) == 0;
          })) {
        headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
      }
      curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method_name(request.method));
      curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
      // Never a null pointer: with one, curl would read the body from stdin.
      curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
      break;
  }
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);

  attempt.code = curl_easy_perform(handle);
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &attempt.response.status);
  // The options point into this attempt and this request: clear them before the handle is
  // reused, and free the header list only then.
  curl_easy_reset(handle);
  release(handle);
  curl_slist_free_all(headers);

  HttpResponse& r = attempt.response;
  if (attempt.code == CURLE_WRITE_ERROR && (r.over_limit || r.empty_object)) {
    attempt.code = CURLE_OK;  // Our own stop, not a transport failure.
    return {};
  }
  if (attempt.code != CURLE_OK) {
    attempt.transport_error =
        attempt.error_buffer[0] != '\0' ? attempt.error_buffer : curl_easy_strerror(attempt.code);
    if (attempt.code == CURLE_PARTIAL_FILE) {
      attempt.transport_error += " (the body was shorter than its Content-Length)";
    }
    return {};
  }
  const bool success = r.status >= 200 && r.status < 300;
  if (request.method != HttpRequest::Method::head && success && !r.empty_object &&
      r.content_length && r.body.size() != *r.content_length) {
    attempt.code = CURLE_PARTIAL_FILE;
    attempt.transport_error = fmt::format("the body has {} bytes, its Content-Length says {}",
                                          r.body.size(), *r.content_length);
  }
  return {};
}

Result<HttpResponse> HttpClient::perform(const HttpRequest& request, std::string_view shown) const {
  const Clock::time_point start = Clock::now();
  thread_local std::minstd_rand random(
      static_cast<unsigned>(std::hash<std::thread::id>()(std::this_thread::get_id()) ^
                            static_cast<std::size_t>(Clock::now().time_since_epoch().count())));
  const RetryPolicy& retry = settings_.retry;
  const unsigned max_retries = endpoint_down_.load() ? 0 : retry.max_retries;
  std::string last;
  bool transport_only = true;
  unsigned attempts = 0;
  for (;;) {
    ++attempts;
    Attempt attempt;
    if (Result<void> sent = once(request, attempt); !sent) return std::move(sent).error();
    if (attempt.code == CURLE_OK && !retryable_status(attempt.response.status)) {
      endpoint_down_.store(false);
      attempt.response.attempts = attempts;
      return std::move(attempt.response);
    }
    if (attempt.code != CURLE_OK) {
      last = fmt::format("transport error: {}", attempt.transport_error);
    } else {
      transport_only = false;
      const std::string code =
          settings_.error_code ? settings_.error_code(attempt.response.body) : std::string();
      last = fmt::format("HTTP {}{}", attempt.response.status,
                         code.empty() ? "" : " " + detail::printable(code, 100));
    }
    const Clock::duration elapsed = Clock::now() - start;
    bool give_up = attempts > max_retries;
    std::chrono::milliseconds delay{0};
    if (!give_up) {
      const std::int64_t cap = std::min<std::int64_t>(retry.max_backoff.count(),
                                                      retry.initial_backoff.count()
                                                          << std::min<unsigned>(attempts - 1, 20));
      delay = std::chrono::milliseconds(
          std::uniform_int_distribution<std::int64_t>(0, std::max<std::int64_t>(cap, 0))(random));
      // The server's own Retry-After wins over a shorter backoff; one past the budget ends the
      // request now rather than after a wait that could not be followed by a retry.
      if (attempt.code == CURLE_OK && attempt.response.retry_after) {
        delay = std::max<std::chrono::milliseconds>(delay, *attempt.response.retry_after);
        if (elapsed + delay > retry.max_total) {
          last += fmt::format(" (Retry-After {} s, past the retry budget of {})",
                              attempt.response.retry_after->count(), seconds(retry.max_total));
        }
      }
      give_up = elapsed + delay > retry.max_total;
    }
    if (give_up) {
      if (transport_only && max_retries > 0) endpoint_down_.store(true);
      return make_error(
          Errc::unavailable,
          fmt::format("{}: {} failed: {} after {} attempt{} in {} (endpoint {}){}", shown,
                      method_name(request.method), last, attempts, attempts == 1 ? "" : "s",
                      seconds(elapsed), settings_.endpoint_shown,
                      max_retries == 0 && retry.max_retries > 0
                          ? "; not retried, since the endpoint was unreachable earlier in this run"
                          : ""));
    }
    std::this_thread::sleep_for(delay);
  }
}

}  // namespace stagecheck::http
