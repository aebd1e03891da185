// The S3-API store: HEAD, ranged GET, PUT and ListObjectsV2 over libcurl with SigV4 signing.
#include "stagecheck/s3_store.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "objstore/bucket_store.hpp"
#include "s3/config.hpp"
#include "s3/list_xml.hpp"
#include "s3/s3_client.hpp"
#include "s3/sigv4.hpp"
#include "text_util.hpp"

namespace stagecheck {

namespace {

using detail::printable;
using http::HttpRequest;
using http::HttpResponse;

/// Largest ListObjectsV2 page or error document accepted (1,000 keys of 1 KiB, escaped).
constexpr std::uint64_t kMaxPageBytes = 32u << 20;

class S3Store final : public objstore::BucketStore {
 public:
  S3Store(S3Location location, s3::ResolvedConfig config, const S3Options& options)
      : BucketStore(options.uri_scheme, location.bucket, location.prefix),
        page_keys_(options.list_page_keys),
        endpoint_(config.endpoint),
        region_(config.region),
        credential_source_(config.credential_source),
        client_(s3::make_client(config, options)) {}

 protected:
  Result<Head> head_object(std::string_view path) const override {
    HttpRequest request;
    request.method = HttpRequest::Method::head;
    request.url = object_url(path);
    Result<HttpResponse> response = client_->perform(request, shown_path(path));
    if (!response) return std::move(response).error();
    const HttpResponse& r = *response;
    if (r.status != 200) return object_error(r, path, "HEAD");
    if (!r.content_length) {
      return make_error(Errc::io_error, fmt::format("{}: HEAD answered without a Content-Length",
                                                    shown_path(path)));
    }
    Head out;
    out.info.path = std::string(path);
    out.info.size = *r.content_length;
    if (!r.last_modified.empty()) {
      const time_t t = curl_getdate(r.last_modified.c_str(), nullptr);
      if (t > 0) out.info.mtime_ns = static_cast<std::int64_t>(t) * 1'000'000'000;
    }
    out.version = r.etag;
    return out;
  }

  Result<HttpResponse> get_object(std::string_view path, const std::string& range,
                                  const std::string& version, std::uint64_t max_body,
                                  bool max_body_is_object_cap) const override {
    HttpRequest request;
    request.url = object_url(path);
    request.max_body = max_body;
    request.max_body_is_object_cap = max_body_is_object_cap;
    if (!range.empty()) request.headers.push_back("Range: " + range);
    if (!version.empty()) request.headers.push_back("If-Match: " + version);
    return client_->perform(request, shown_path(path));
  }

  /// 404 is "absent" only when S3 says NoSuchKey or the bucket is known to exist.
  Error object_error(const HttpResponse& r, std::string_view path,
                     const char* method) const override {
    if (r.status == 404) {
      const s3::ErrorDocument doc = s3::parse_error_document(r.body);
      if (doc.code == "NoSuchBucket") return no_such_bucket(method);
      if (doc.code != "NoSuchKey") {
        if (Result<void> exists = confirm_bucket(); !exists) return std::move(exists).error();
      }
      return make_error(Errc::not_found,
                        fmt::format("'{}' does not exist under {}", printable(path), describe()));
    }
    return status_error(r, shown_path(path), method);
  }

  Result<objstore::ListPage> list_page(const std::string& full, bool level,
                                       const std::string& token, int page_number,
                                       const std::string& shown) const override {
    std::vector<std::pair<std::string, std::string>> params = {
        {"list-type", "2"}, {"max-keys", std::to_string(page_keys_)}, {"prefix", full}};
    if (level) params.emplace_back("delimiter", "/");
    if (!token.empty()) params.emplace_back("continuation-token", token);
    HttpRequest request;
    request.url = bucket_url(s3::canonical_query(std::move(params)));
    request.max_body = kMaxPageBytes;
    Result<HttpResponse> response = client_->perform(request, shown);
    if (!response) return std::move(response).error();
    if (response->over_limit) {
      return make_error(Errc::io_error, fmt::format("{}: page {} is larger than {} bytes", shown,
                                                    page_number, kMaxPageBytes));
    }
    if (response->status != 200) return status_error(*response, shown, "GET (ListObjectsV2)");
    Result<s3::ListPage> page = s3::parse_list_page(response->body);
    if (!page) {
      return make_error(Errc::io_error,
                        fmt::format("{}: page {}: {}", shown, page_number, page.error().message));
    }
    return page;
  }

  Result<void> put_object(std::string_view path, std::string_view data) override {
    const std::string shown = fmt::format("cannot write {}", shown_path(path));
    HttpRequest request;
    request.method = HttpRequest::Method::put;
    request.url = object_url(path);
    request.body = data;
    request.max_body = kMaxPageBytes;
    Result<HttpResponse> response = client_->perform(request, shown);
    if (!response) return std::move(response).error();
    if (response->status == 200 || response->status == 201 || response->status == 204) return {};
    return status_error(*response, shown, "PUT");
  }

 private:
  Error no_such_bucket(const char* method) const {
    return make_error(Errc::unavailable,
                      fmt::format("{}: {}: the bucket '{}' does not exist{}", describe(), method,
                                  bucket(), endpoint_note()));
  }

  std::string endpoint_note() const {
    return endpoint_.empty() ? fmt::format(" (AWS, region {})", region_)
                             : fmt::format(" (endpoint {})", endpoint_);
  }

  /// Any status that is not success or "absent".
  Error status_error(const HttpResponse& r, const std::string& shown, const char* method) const {
    const s3::ErrorDocument doc = s3::parse_error_document(r.body);
    const std::string detail =
        doc.code.empty()
            ? std::string()
            : fmt::format(" {}{}", printable(doc.code, 100),
                          doc.message.empty() ? "" : ": " + printable(doc.message, 300));
    if (r.status == 401 || r.status == 403) {
      return make_error(Errc::permission_denied,
                        fmt::format("{}: {} was refused: HTTP {}{}; used {}{}", shown, method,
                                    r.status, detail, credential_source_, endpoint_note()));
    }
    if (r.status == 404 && doc.code == "NoSuchBucket") return no_such_bucket(method);
    return make_error(Errc::io_error, fmt::format("{}: {} failed: HTTP {}{}{}", shown, method,
                                                  r.status, detail, endpoint_note()));
  }

  /// Establishes once that the bucket exists, so that a 404 without an error document (HEAD
  /// has no body) can mean "no such object" rather than "no such bucket".
  Result<void> confirm_bucket() const {
    if (bucket_confirmed_.load()) return {};
    HttpRequest request;
    request.method = HttpRequest::Method::head;
    request.url = bucket_url("");
    const std::string shown = fmt::format("bucket '{}'", bucket());
    Result<HttpResponse> response = client_->perform(request, shown);
    if (!response) return std::move(response).error();
    if (response->status == 200) {
      bucket_confirmed_.store(true);
      return {};
    }
    if (response->status == 404) return no_such_bucket("HEAD");
    Error error = status_error(*response, shown, "HEAD");
    error.message += "; so a missing object cannot be told from a missing bucket";
    return error;
  }

  std::string object_url(std::string_view path) const {
    return fmt::format("{}/{}", bucket_base(), s3::uri_encode(base() + std::string(path), true));
  }

  std::string bucket_url(const std::string& query) const {
    const std::string q = query.empty() ? std::string() : "?" + query;
    // Virtual-hosted addressing puts "/" before the query; path-style addresses the bucket.
    const bool virtual_hosted = endpoint_.empty() && bucket().find('.') == std::string::npos;
    return virtual_hosted ? fmt::format("{}/{}", bucket_base(), q)
                          : fmt::format("{}{}", bucket_base(), q);
  }

  /// The bucket's URL without a trailing '/': path-style on a custom endpoint, virtual-hosted
  /// on AWS, except for a name with dots (no wildcard TLS certificate covers it as a host).
  std::string bucket_base() const {
    if (!endpoint_.empty()) return fmt::format("{}/{}", endpoint_, bucket());
    if (bucket().find('.') != std::string::npos) {
      return fmt::format("https://s3.{}.amazonaws.com/{}", region_, bucket());
    }
    return fmt::format("https://{}.s3.{}.amazonaws.com", bucket(), region_);
  }

  unsigned page_keys_;
  std::string endpoint_;  ///< Empty: AWS.
  std::string region_;
  std::string credential_source_;  ///< For messages; never the secret.
  std::unique_ptr<http::HttpClient> client_;
  mutable std::atomic<bool> bucket_confirmed_{false};
};

}  // namespace

Result<S3Location> parse_s3_uri(std::string_view uri) {
  Result<objstore::BucketUri> parsed = objstore::parse_bucket_uri(uri, "s3");
  if (!parsed) return std::move(parsed).error();
  return S3Location{std::move(parsed->bucket), std::move(parsed->prefix)};
}

Result<std::unique_ptr<Store>> open_s3_store(const S3Options& options) {
  try {
    if (options.uri_scheme != "s3" && options.uri_scheme != "gs") {
      return make_error(Errc::invalid_argument,
                        fmt::format("uri_scheme must be s3 or gs, found '{}'",
                                    printable(options.uri_scheme, 20)));
    }
    if (Result<void> ok =
            objstore::validate_options(options.uri_scheme, options.bucket, options.prefix,
                                       options.io_concurrency, options.list_page_keys);
        !ok) {
      return std::move(ok).error();
    }
    Result<s3::ResolvedConfig> config = s3::resolve_config(options);
    if (!config) {
      Error error = std::move(config).error();
      error.message = fmt::format("{}://{}: {}", options.uri_scheme, options.bucket, error.message);
      return error;
    }
    return std::unique_ptr<Store>(std::make_unique<S3Store>(
        S3Location{options.bucket, options.prefix}, std::move(*config), options));
  } catch (const std::exception& e) {
    return make_error(Errc::internal, fmt::format("opening {}://{}: unexpected exception: {}",
                                                  options.uri_scheme, options.bucket, e.what()));
  }
}

}  // namespace stagecheck
