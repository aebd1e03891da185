// The GCS JSON-API store: object metadata, alt=media reads, listings and media uploads over
// the object stores' HTTP transport, with an OAuth 2.0 bearer token.
#include "stagecheck/gcs_store.hpp"

#include <atomic>
#include <charconv>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gcs/token.hpp"
#include "http/http_client.hpp"
#include "objstore/bucket_store.hpp"
#include "s3/list_xml.hpp"  // parse_iso8601_ns: GCS writes times as S3 does
#include "s3/sigv4.hpp"     // uri_encode: RFC 3986 percent-encoding
#include "text_util.hpp"

namespace stagecheck {

namespace {

using detail::printable;
using http::HttpRequest;
using http::HttpResponse;
using nlohmann::json;

/// Largest listing page, metadata document or error document accepted.
constexpr std::uint64_t kMaxPageBytes = 32u << 20;

/// Percent-encodes an object name or a query value ('/' too).
std::string encode(std::string_view text) { return s3::uri_encode(text, false); }

/// The reason and message of a JSON API error document ({"error": {...}}); empty if none.
struct ErrorDocument {
  std::string reason;
  std::string message;
};

ErrorDocument parse_error(std::string_view body) {
  ErrorDocument out;
  const json doc = json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("error") || !doc["error"].is_object()) return out;
  const json& error = doc["error"];
  if (error.contains("message") && error["message"].is_string()) {
    out.message = error["message"].get<std::string>();
  }
  if (error.contains("errors") && error["errors"].is_array() && !error["errors"].empty() &&
      error["errors"][0].is_object() && error["errors"][0].contains("reason") &&
      error["errors"][0]["reason"].is_string()) {
    out.reason = error["errors"][0]["reason"].get<std::string>();
  } else if (error.contains("status") && error["status"].is_string()) {
    out.reason = error["status"].get<std::string>();
  }
  return out;
}

/// GCS writes 64-bit numbers (size, generation) as JSON strings of digits.
bool parse_u64(const json& value, std::uint64_t& out) {
  if (value.is_number_unsigned()) {
    out = value.get<std::uint64_t>();
    return true;
  }
  if (!value.is_string()) return false;
  const std::string& text = value.get_ref<const std::string&>();
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && ptr == text.data() + text.size();
}

/// An object resource's facts; Errc::malformed naming what is missing.
Result<objstore::ListedObject> parse_object(const json& item) {
  objstore::ListedObject out;
  if (!item.is_object() || !item.contains("name") || !item["name"].is_string()) {
    return make_error(Errc::malformed, "an object without a string 'name'");
  }
  out.key = item["name"].get<std::string>();
  if (!item.contains("size") || !parse_u64(item["size"], out.size)) {
    return make_error(Errc::malformed,
                      fmt::format("object '{}' has no numeric 'size'", printable(out.key, 300)));
  }
  if (item.contains("updated") && item["updated"].is_string()) {
    out.mtime_ns =
        std::max<std::int64_t>(0, s3::parse_iso8601_ns(item["updated"].get<std::string>()));
  }
  return out;
}

/// Sends the bearer token of a TokenProvider.
class BearerAuthenticator final : public http::Authenticator {
 public:
  explicit BearerAuthenticator(std::shared_ptr<const gcs::TokenProvider> tokens)
      : tokens_(std::move(tokens)) {}
  Result<void> prepare(CURL*, const HttpRequest&,
                       std::vector<std::string>& headers) const override {
    Result<std::string> token = tokens_->token();
    if (!token) return std::move(token).error();
    if (!token->empty()) headers.push_back("Authorization: Bearer " + *token);
    return {};
  }

 private:
  std::shared_ptr<const gcs::TokenProvider> tokens_;
};

class GcsStore final : public objstore::BucketStore {
 public:
  GcsStore(const GcsOptions& options, gcs::Endpoint endpoint,
           std::shared_ptr<const gcs::TokenProvider> tokens)
      : BucketStore("gs", options.bucket, options.prefix),
        page_keys_(options.list_page_keys),
        endpoint_(std::move(endpoint.url)),
        tokens_(std::move(tokens)) {
    http::ClientSettings settings;
    settings.endpoint_shown = endpoint_;
    settings.io_concurrency = options.io_concurrency;
    settings.connect_timeout = options.connect_timeout;
    settings.idle_timeout = options.idle_timeout;
    settings.retry = options.retry;
    settings.error_code = [](std::string_view body) { return parse_error(body).reason; };
    client_ = std::make_unique<http::HttpClient>(std::move(settings),
                                                 std::make_unique<BearerAuthenticator>(tokens_));
  }

 protected:
  Result<Head> head_object(std::string_view path) const override {
    HttpRequest request;
    request.url = object_url(path);
    request.max_body = kMaxPageBytes;
    Result<HttpResponse> response = perform(request, shown_path(path));
    if (!response) return std::move(response).error();
    if (response->over_limit || response->status != 200) {
      return object_error(*response, path, "GET (metadata)");
    }
    const json doc = json::parse(response->body, nullptr, false);
    Result<objstore::ListedObject> object = parse_object(doc);
    std::uint64_t generation = 0;
    if (!object || !doc.contains("generation") || !parse_u64(doc["generation"], generation)) {
      return make_error(
          Errc::io_error,
          fmt::format("{}: the object's metadata is not what the JSON API returns: "
                      "{}",
                      shown_path(path),
                      object ? std::string("no numeric 'generation'") : object.error().message));
    }
    if (object->key != base() + std::string(path)) {
      return make_error(Errc::io_error, fmt::format("{}: the metadata names another object, '{}'",
                                                    shown_path(path), printable(object->key, 300)));
    }
    Head out;
    out.info.path = std::string(path);
    out.info.size = object->size;
    out.info.mtime_ns = object->mtime_ns;
    out.version = std::to_string(generation);
    return out;
  }

  Result<HttpResponse> get_object(std::string_view path, const std::string& range,
                                  const std::string& version, std::uint64_t max_body,
                                  bool max_body_is_object_cap) const override {
    HttpRequest request;
    request.url = object_url(path) + "?alt=media";
    if (!version.empty()) request.url += "&ifGenerationMatch=" + version;
    request.max_body = max_body;
    request.max_body_is_object_cap = max_body_is_object_cap;
    if (!range.empty()) request.headers.push_back("Range: " + range);
    return perform(request, shown_path(path));
  }

  /// 404 is "absent" only once the bucket is known to exist.
  Error object_error(const HttpResponse& r, std::string_view path,
                     const char* method) const override {
    if (r.status == 404) {
      const ErrorDocument doc = parse_error(r.body);
      if (says_no_bucket(doc)) return no_such_bucket(method);
      if (Result<void> exists = confirm_bucket(); !exists) return std::move(exists).error();
      return make_error(Errc::not_found,
                        fmt::format("'{}' does not exist under {}", printable(path), describe()));
    }
    return status_error(r, shown_path(path), method);
  }

  Result<objstore::ListPage> list_page(const std::string& full, bool level,
                                       const std::string& token, int page_number,
                                       const std::string& shown) const override {
    return fetch_page(full, level, token, page_keys_, page_number, shown);
  }

  Result<void> put_object(std::string_view path, std::string_view data) override {
    const std::string shown = fmt::format("cannot write {}", shown_path(path));
    HttpRequest request;
    request.method = HttpRequest::Method::post;
    request.url = fmt::format("{}/upload/storage/v1/b/{}/o?uploadType=media&name={}", endpoint_,
                              encode(bucket()), encode(base() + std::string(path)));
    request.body = data;
    request.max_body = kMaxPageBytes;
    Result<HttpResponse> response = perform(request, shown);
    if (!response) return std::move(response).error();
    if (response->status == 200 || response->status == 201) return {};
    return status_error(*response, shown, "POST (upload)");
  }

 private:
  /// Performs `request`; after a 401 with a token from gcloud or the metadata server, asks for
  /// a new token and tries once more (gcloud prints its cached token, which may be about to
  /// expire).
  Result<HttpResponse> perform(const HttpRequest& request, std::string_view shown) const {
    // Fetch the token first, so that `generation` names the token the request carries. (Its
    // error, if any, comes back from the request itself.)
    (void)tokens_->token();
    const unsigned generation = tokens_->generation();
    Result<HttpResponse> response = client_->perform(request, shown);
    if (response && response->status == 401 && tokens_->invalidate(generation)) {
      return client_->perform(request, shown);
    }
    return response;
  }

  Result<objstore::ListPage> fetch_page(const std::string& full, bool level,
                                        const std::string& token, unsigned max_results,
                                        int page_number, const std::string& shown) const {
    std::string url = fmt::format("{}/storage/v1/b/{}/o?maxResults={}&prefix={}", endpoint_,
                                  encode(bucket()), max_results, encode(full));
    if (level) url += "&delimiter=%2F";
    if (!token.empty()) url += "&pageToken=" + encode(token);
    HttpRequest request;
    request.url = std::move(url);
    request.max_body = kMaxPageBytes;
    Result<HttpResponse> response = perform(request, shown);
    if (!response) return std::move(response).error();
    if (response->over_limit) {
      return make_error(Errc::io_error, fmt::format("{}: page {} is larger than {} bytes", shown,
                                                    page_number, kMaxPageBytes));
    }
    if (response->status == 404 && says_no_bucket(parse_error(response->body))) {
      return no_such_bucket("GET (list)");
    }
    if (response->status != 200) return status_error(*response, shown, "GET (list)");
    auto malformed = [&](const std::string& what) {
      return make_error(Errc::io_error, fmt::format("{}: page {} is not a JSON API listing: {}",
                                                    shown, page_number, what));
    };
    const json doc = json::parse(response->body, nullptr, false);
    if (!doc.is_object()) return malformed("not a JSON object");
    objstore::ListPage page;
    if (doc.contains("items")) {
      if (!doc["items"].is_array()) return malformed("'items' is not an array");
      page.objects.reserve(doc["items"].size());
      for (const json& item : doc["items"]) {
        Result<objstore::ListedObject> object = parse_object(item);
        if (!object) return malformed(object.error().message);
        page.objects.push_back(std::move(*object));
      }
    }
    if (doc.contains("prefixes")) {
      if (!doc["prefixes"].is_array()) return malformed("'prefixes' is not an array");
      for (const json& prefix : doc["prefixes"]) {
        if (!prefix.is_string()) return malformed("a prefix that is not a string");
        page.common_prefixes.push_back(prefix.get<std::string>());
      }
    }
    if (doc.contains("nextPageToken")) {
      if (!doc["nextPageToken"].is_string()) return malformed("'nextPageToken' is not a string");
      page.next_token = doc["nextPageToken"].get<std::string>();
      page.truncated = !page.next_token.empty();
    }
    return page;
  }

  static bool says_no_bucket(const ErrorDocument& doc) {
    return doc.message.find("bucket does not exist") != std::string::npos ||
           doc.message.find("Bucket does not exist") != std::string::npos;
  }

  Error no_such_bucket(const char* method) const {
    return make_error(Errc::unavailable,
                      fmt::format("{}: {}: the bucket '{}' does not exist (endpoint {})",
                                  describe(), method, bucket(), endpoint_));
  }

  /// Any status that is not success or "absent".
  Error status_error(const HttpResponse& r, const std::string& shown, const char* method) const {
    const ErrorDocument doc = parse_error(r.body);
    const std::string detail =
        doc.reason.empty() && doc.message.empty()
            ? std::string()
            : fmt::format(" {}{}", printable(doc.reason, 100),
                          doc.message.empty() ? "" : ": " + printable(doc.message, 300));
    if (r.status == 401 || r.status == 403) {
      return make_error(Errc::permission_denied,
                        fmt::format("{}: {} was refused: HTTP {}{}; used {} (endpoint {})", shown,
                                    method, r.status, detail, tokens_->source(), endpoint_));
    }
    return make_error(Errc::io_error, fmt::format("{}: {} failed: HTTP {}{} (endpoint {})", shown,
                                                  method, r.status, detail, endpoint_));
  }

  /// Establishes once that the bucket exists (a one-object listing, which an object reader may
  /// make where a bucket metadata GET needs more permissions), so that a 404 means "no such
  /// object" rather than "no such bucket".
  Result<void> confirm_bucket() const {
    if (bucket_confirmed_.load()) return {};
    const std::string shown = fmt::format("bucket '{}'", bucket());
    Result<objstore::ListPage> page = fetch_page(base(), false, "", 1, 1, shown);
    if (!page) {
      Error error = std::move(page).error();
      if (error.code != Errc::unavailable) {
        error.message += "; so a missing object cannot be told from a missing bucket";
      }
      return error;
    }
    bucket_confirmed_.store(true);
    return {};
  }

  std::string object_url(std::string_view path) const {
    return fmt::format("{}/storage/v1/b/{}/o/{}", endpoint_, encode(bucket()),
                       encode(base() + std::string(path)));
  }

  unsigned page_keys_;
  std::string endpoint_;
  std::shared_ptr<const gcs::TokenProvider> tokens_;
  std::unique_ptr<http::HttpClient> client_;
  mutable std::atomic<bool> bucket_confirmed_{false};
};

}  // namespace

Result<GcsLocation> parse_gs_uri(std::string_view uri) {
  Result<objstore::BucketUri> parsed = objstore::parse_bucket_uri(uri, "gs");
  if (!parsed) return std::move(parsed).error();
  return GcsLocation{std::move(parsed->bucket), std::move(parsed->prefix)};
}

Result<std::unique_ptr<Store>> open_gcs_store(const GcsOptions& options) {
  try {
    if (Result<void> ok = objstore::validate_options(
            "gs", options.bucket, options.prefix, options.io_concurrency, options.list_page_keys);
        !ok) {
      return std::move(ok).error();
    }
    auto prefixed = [&](Error error) {
      error.message = fmt::format("gs://{}: {}", options.bucket, error.message);
      return error;
    };
    Result<gcs::Endpoint> endpoint = gcs::resolve_endpoint(options);
    if (!endpoint) return prefixed(std::move(endpoint).error());
    Result<std::unique_ptr<gcs::TokenProvider>> tokens =
        gcs::TokenProvider::create(options, endpoint->emulator);
    if (!tokens) return prefixed(std::move(tokens).error());
    return std::unique_ptr<Store>(
        std::make_unique<GcsStore>(options, std::move(*endpoint),
                                   std::shared_ptr<const gcs::TokenProvider>(std::move(*tokens))));
  } catch (const std::exception& e) {
    return make_error(Errc::internal, fmt::format("opening gs://{}: unexpected exception: {}",
                                                  options.bucket, e.what()));
  }
}

}  // namespace stagecheck
