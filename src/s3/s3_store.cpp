// The S3-API store: HEAD, ranged GET, PUT and ListObjectsV2 over libcurl with SigV4 signing.
#include "stagecheck/s3_store.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "s3/config.hpp"
#include "s3/http_client.hpp"
#include "s3/list_xml.hpp"
#include "s3/sigv4.hpp"
#include "text_util.hpp"

namespace stagecheck {

namespace {

using detail::printable;
using s3::HttpRequest;
using s3::HttpResponse;

/// Bytes fetched per ranged GET while streaming an object through open().
constexpr std::uint64_t kReadChunk = 4u << 20;
/// Largest ListObjectsV2 page or error document accepted (1,000 keys of 1 KiB, escaped).
constexpr std::uint64_t kMaxPageBytes = 32u << 20;

bool valid_bucket_name(std::string_view name) {
  // S3's rules, widened to GCS's (underscores, up to 222 characters with dots).
  if (name.size() < 3 || name.size() > 222) return false;
  if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-_") != std::string_view::npos) {
    return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(name.front()) && alnum(name.back()) && name.find("..") == std::string_view::npos;
}

Result<void> validate_prefix(std::string_view prefix, std::string_view shown) {
  if (prefix.empty()) return {};
  if (Result<void> valid = validate_store_path(prefix); !valid) {
    return make_error(Errc::invalid_argument,
                      fmt::format("{}: the key prefix is not a valid store path: {}", shown,
                                  valid.error().message));
  }
  return {};
}

/// A listing prefix as list() takes it (a path, possibly ending in '/', or a partial name).
Result<void> validate_list_prefix(std::string_view prefix) {
  if (prefix.empty()) return {};
  std::string_view trimmed = prefix;
  if (trimmed.back() == '/') trimmed.remove_suffix(1);
  if (Result<void> valid = validate_store_path(trimmed); !valid) return std::move(valid).error();
  return {};
}

class S3Store;

/// Streams one object with ranged GETs of kReadChunk bytes, each pinned to the ETag seen at
/// open time (If-Match), so an object replaced while being read is an error, never a mix.
class S3Reader final : public Reader {
 public:
  S3Reader(const S3Store& store, std::string path, std::uint64_t size, std::string etag)
      : store_(store), path_(std::move(path)), size_(size), etag_(std::move(etag)) {}
  Result<std::size_t> read(char* buffer, std::size_t size) override;
  std::uint64_t size() const override { return size_; }

 private:
  const S3Store& store_;
  std::string path_;
  std::uint64_t size_;
  std::string etag_;
  std::string chunk_;
  std::size_t chunk_pos_ = 0;
  std::uint64_t offset_ = 0;  ///< Object offset of chunk_'s end.
};

class S3Store final : public Store {
 public:
  S3Store(S3Location location, s3::ResolvedConfig config, const S3Options& options)
      : location_(std::move(location)),
        base_(location_.prefix.empty() ? std::string() : location_.prefix + "/"),
        page_keys_(options.list_page_keys),
        client_(std::move(config), options) {}

  std::string describe() const override {
    return location_.prefix.empty() ? fmt::format("s3://{}", location_.bucket)
                                    : fmt::format("s3://{}/{}", location_.bucket, location_.prefix);
  }

  Result<ObjectInfo> stat(std::string_view path) const override {
    if (Result<void> valid = validate_store_path(path); !valid) return std::move(valid).error();
    Result<HeadResult> head = head_object(path);
    if (!head) return std::move(head).error();
    return head->info;
  }

  Result<std::string> read(std::string_view path, std::uint64_t max_bytes) const override {
    if (Result<void> valid = validate_store_path(path); !valid) return std::move(valid).error();
    const std::string shown = shown_path(path);
    HttpRequest request;
    request.url = object_url(path);
    request.max_body = max_bytes;
    request.max_body_is_object_cap = true;
    // One byte past the cap: an object larger than the cap announces its size in
    // Content-Range and is refused before its body is read.
    if (max_bytes < std::numeric_limits<std::uint64_t>::max()) {
      request.headers.push_back(fmt::format("Range: bytes=0-{}", max_bytes));
    }
    Result<HttpResponse> response = client_.perform(request, shown);
    if (!response) return std::move(response).error();
    HttpResponse& r = *response;
    if (r.over_limit) {
      const std::size_t slash = r.content_range.rfind('/');
      const std::string size = slash != std::string::npos
                                   ? r.content_range.substr(slash + 1) + " bytes"
                               : r.content_length ? std::to_string(*r.content_length) + " bytes"
                                                  : std::string("larger");
      return make_error(Errc::too_large, fmt::format("'{}' is {}, over the read cap of {} bytes",
                                                     printable(path), size, max_bytes));
    }
    if (r.empty_object && (r.status == 416 || r.status == 206)) return std::string();
    if (r.status == 416) {
      return make_error(Errc::io_error, fmt::format("{}: GET answered 416 with Content-Range '{}'",
                                                    shown, printable(r.content_range, 100)));
    }
    if (r.status == 206) {
      const std::size_t slash = r.content_range.rfind('/');
      const std::string expected_prefix =
          r.body.empty() ? std::string("-") : fmt::format("bytes 0-{}/", r.body.size() - 1);
      if (r.body.empty() || slash == std::string::npos ||
          r.content_range.compare(0, expected_prefix.size(), expected_prefix) != 0 ||
          r.content_range.substr(slash + 1) != std::to_string(r.body.size())) {
        return make_error(Errc::io_error,
                          fmt::format("{}: a ranged GET returned {} bytes with Content-Range "
                                      "'{}'; expected the whole object",
                                      shown, r.body.size(), printable(r.content_range, 100)));
      }
      return std::move(r.body);
    }
    if (r.status == 200) return std::move(r.body);
    return object_error(r, path, "GET");
  }

  Result<std::unique_ptr<Reader>> open(std::string_view path) const override {
    if (Result<void> valid = validate_store_path(path); !valid) return std::move(valid).error();
    Result<HeadResult> head = head_object(path);
    if (!head) return std::move(head).error();
    return std::unique_ptr<Reader>(
        std::make_unique<S3Reader>(*this, std::string(path), head->info.size, head->etag));
  }

  Result<void> list(std::string_view prefix,
                    const std::function<bool(const ObjectInfo&)>& visit) const override {
    if (Result<void> valid = validate_list_prefix(prefix); !valid) return std::move(valid).error();
    const std::string full = base_ + std::string(prefix);
    ObjectInfo info;
    return list_pages(full, false, [&](const s3::ListPage& page, bool& stop) -> Result<void> {
      for (const s3::ListedObject& object : page.objects) {
        std::string_view rel = std::string_view(object.key).substr(base_.size());
        if (rel.empty() || rel.back() == '/') continue;  // A console's "folder" placeholder.
        if (Result<void> ok = check_key(object.key, rel); !ok) return ok;
        info.path.assign(rel);
        info.size = object.size;
        info.mtime_ns = object.mtime_ns;
        if (!visit(info)) {
          stop = true;
          break;
        }
      }
      return {};
    });
  }

  Result<void> list_level(std::string_view folder,
                          const std::function<bool(const ListEntry&)>& visit) const override {
    std::string full = base_;
    if (!folder.empty()) {
      if (Result<void> valid = validate_store_path(folder); !valid) return std::move(valid).error();
      full += std::string(folder) + "/";
    }
    ListEntry entry;
    std::string last_folder;
    return list_pages(full, true, [&](const s3::ListPage& page, bool& stop) -> Result<void> {
      // A page holds its objects and its sub-folders ("common prefixes") in two sorted lists;
      // merged, they are in S3's order, which is the order list_level() promises.
      std::size_t o = 0, p = 0;
      while (!stop && (o < page.objects.size() || p < page.common_prefixes.size())) {
        const bool take_object =
            p >= page.common_prefixes.size() ||
            (o < page.objects.size() && page.objects[o].key < page.common_prefixes[p]);
        if (take_object) {
          const s3::ListedObject& object = page.objects[o++];
          const std::string_view name = std::string_view(object.key).substr(full.size());
          if (name.empty()) continue;  // The folder's own placeholder object.
          const std::string_view rel = std::string_view(object.key).substr(base_.size());
          if (Result<void> ok = check_key(object.key, rel); !ok) return ok;
          entry.name.assign(name);
          entry.path.assign(rel);
          entry.is_folder = false;
          entry.info = ObjectInfo{entry.path, object.size, object.mtime_ns, false};
        } else {
          const std::string& common = page.common_prefixes[p++];
          // s3rver repeats a sub-folder on the next page when a page ends inside it; S3 does
          // not. Never report a folder twice.
          if (common == last_folder) continue;
          last_folder = common;
          if (common.size() <= full.size() + 1 || common.compare(0, full.size(), full) != 0) {
            return make_error(Errc::io_error,
                              fmt::format("listing {}: the sub-folder '{}' is not beneath the "
                                          "listed prefix or has an empty name",
                                          shown_folder(folder), printable(common, 300)));
          }
          const std::string_view rel =
              std::string_view(common).substr(base_.size(), common.size() - base_.size() - 1);
          if (Result<void> ok = check_key(common, rel); !ok) return ok;
          entry.name.assign(
              std::string_view(common).substr(full.size(), common.size() - full.size() - 1));
          entry.path.assign(rel);
          entry.is_folder = true;
          entry.info = ObjectInfo{};
          entry.info.path = entry.path;
        }
        if (!visit(entry)) stop = true;
      }
      return {};
    });
  }

  Result<void> write_atomic(std::string_view path, std::string_view data) override {
    if (Result<void> valid = validate_store_path(path); !valid) return std::move(valid).error();
    const std::string shown = fmt::format("cannot write {}", shown_path(path));
    HttpRequest request;
    request.method = HttpRequest::Method::put;
    request.url = object_url(path);
    request.body = data;
    request.max_body = kMaxPageBytes;
    Result<HttpResponse> response = client_.perform(request, shown);
    if (!response) return std::move(response).error();
    if (response->status == 200 || response->status == 201 || response->status == 204) return {};
    return status_error(*response, shown, "PUT");
  }

  /// Fetches `length` bytes at `offset` for S3Reader, pinned to `etag`.
  Result<std::string> read_range(const std::string& path, std::uint64_t offset,
                                 std::uint64_t length, const std::string& etag) const {
    const std::string shown = shown_path(path);
    HttpRequest request;
    request.url = object_url(path);
    request.max_body = length;
    request.headers.push_back(fmt::format("Range: bytes={}-{}", offset, offset + length - 1));
    if (!etag.empty()) request.headers.push_back("If-Match: " + etag);
    Result<HttpResponse> response = client_.perform(request, shown);
    if (!response) return std::move(response).error();
    HttpResponse& r = *response;
    if (r.status == 412 || r.status == 404) {
      return make_error(Errc::io_error,
                        fmt::format("{} changed or was removed while being read (at byte {}: HTTP "
                                    "{})",
                                    shown, offset, r.status));
    }
    if ((r.status != 206 && r.status != 200) || r.over_limit || r.body.size() != length) {
      if (r.status == 206 || r.status == 200) {
        return make_error(Errc::io_error,
                          fmt::format("{}: a ranged GET at byte {} returned {} bytes, expected {}",
                                      shown, offset, r.body.size(), length));
      }
      return object_error(r, path, "GET");
    }
    return std::move(r.body);
  }

  std::string shown_path(std::string_view path) const {
    return fmt::format("'{}' under {}", printable(path), describe());
  }

 private:
  struct HeadResult {
    ObjectInfo info;
    std::string etag;
  };

  Result<HeadResult> head_object(std::string_view path) const {
    HttpRequest request;
    request.method = HttpRequest::Method::head;
    request.url = object_url(path);
    Result<HttpResponse> response = client_.perform(request, shown_path(path));
    if (!response) return std::move(response).error();
    const HttpResponse& r = *response;
    if (r.status != 200) return object_error(r, path, "HEAD");
    if (!r.content_length) {
      return make_error(Errc::io_error, fmt::format("{}: HEAD answered without a Content-Length",
                                                    shown_path(path)));
    }
    HeadResult out;
    out.info.path = std::string(path);
    out.info.size = *r.content_length;
    if (!r.last_modified.empty()) {
      const time_t t = curl_getdate(r.last_modified.c_str(), nullptr);
      if (t > 0) out.info.mtime_ns = static_cast<std::int64_t>(t) * 1'000'000'000;
    }
    out.etag = r.etag;
    return out;
  }

  /// The error for a response about one object (HEAD, GET): 404 is "absent" only when S3 says
  /// NoSuchKey or the bucket is known to exist.
  Error object_error(const HttpResponse& r, std::string_view path, const char* method) const {
    const std::string shown = shown_path(path);
    if (r.status == 404) {
      const s3::ErrorDocument doc = s3::parse_error_document(r.body);
      if (doc.code == "NoSuchBucket") return no_such_bucket(method);
      if (doc.code != "NoSuchKey") {
        if (Result<void> exists = confirm_bucket(); !exists) return std::move(exists).error();
      }
      return make_error(Errc::not_found,
                        fmt::format("'{}' does not exist under {}", printable(path), describe()));
    }
    return status_error(r, shown, method);
  }

  Error no_such_bucket(const char* method) const {
    return make_error(Errc::unavailable,
                      fmt::format("{}: {}: the bucket '{}' does not exist{}", describe(), method,
                                  location_.bucket, endpoint_note()));
  }

  std::string endpoint_note() const {
    const std::string& endpoint = client_.config().endpoint;
    return endpoint.empty() ? fmt::format(" (AWS, region {})", client_.config().region)
                            : fmt::format(" (endpoint {})", endpoint);
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
      return make_error(
          Errc::permission_denied,
          fmt::format("{}: {} was refused: HTTP {}{}; used {}{}", shown, method, r.status, detail,
                      client_.config().credential_source, endpoint_note()));
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
    const std::string shown = fmt::format("bucket '{}'", location_.bucket);
    Result<HttpResponse> response = client_.perform(request, shown);
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

  /// Streams the pages of a ListObjectsV2 of `full` (with delimiter '/' when `level`) to
  /// `on_page`, which sets `stop` to end early.
  Result<void> list_pages(
      const std::string& full, bool level,
      const std::function<Result<void>(const s3::ListPage&, bool&)>& on_page) const {
    std::string token;
    std::string last_key;
    bool stop = false;
    const std::string shown = fmt::format("listing '{}' in {}", printable(full, 300), describe());
    for (int page_number = 1; !stop; ++page_number) {
      std::vector<std::pair<std::string, std::string>> params = {
          {"list-type", "2"}, {"max-keys", std::to_string(page_keys_)}, {"prefix", full}};
      if (level) params.emplace_back("delimiter", "/");
      if (!token.empty()) params.emplace_back("continuation-token", token);
      HttpRequest request;
      request.url = bucket_url(s3::canonical_query(std::move(params)));
      request.max_body = kMaxPageBytes;
      Result<HttpResponse> response = client_.perform(request, shown);
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
      // Fail closed on a listing that is not what S3 promises: beneath the prefix, in order.
      for (const s3::ListedObject& object : page->objects) {
        if (object.key.compare(0, full.size(), full) != 0 || object.key <= last_key) {
          return make_error(Errc::io_error,
                            fmt::format("{}: page {}: key '{}' is out of order or not beneath "
                                        "the prefix",
                                        shown, page_number, printable(object.key, 300)));
        }
        last_key = object.key;
      }
      if (Result<void> ok = on_page(*page, stop); !ok) return ok;
      if (!page->truncated) break;
      if (page->next_token == token) {
        return make_error(Errc::io_error, fmt::format("{}: page {} repeats its continuation "
                                                      "token",
                                                      shown, page_number));
      }
      token = std::move(page->next_token);
    }
    return {};
  }

  /// A key that cannot be a store path (e.g. "a//b", "x/../y") is never silently skipped.
  Result<void> check_key(std::string_view key, std::string_view rel) const {
    if (Result<void> valid = validate_store_path(rel); !valid) {
      return make_error(Errc::io_error,
                        fmt::format("{} holds the key '{}', which is not a valid store path ({}); "
                                    "refusing to list past it",
                                    describe(), printable(key, 300), valid.error().message));
    }
    return {};
  }

  std::string shown_folder(std::string_view folder) const {
    return folder.empty() ? describe() : shown_path(folder);
  }

  std::string object_url(std::string_view path) const {
    return fmt::format("{}/{}", bucket_base(), s3::uri_encode(base_ + std::string(path), true));
  }

  std::string bucket_url(const std::string& query) const {
    const std::string q = query.empty() ? std::string() : "?" + query;
    // Virtual-hosted addressing puts "/" before the query; path-style addresses the bucket.
    const bool virtual_hosted =
        client_.config().endpoint.empty() && location_.bucket.find('.') == std::string::npos;
    return virtual_hosted ? fmt::format("{}/{}", bucket_base(), q)
                          : fmt::format("{}{}", bucket_base(), q);
  }

  /// The bucket's URL without a trailing '/': path-style on a custom endpoint, virtual-hosted
  /// on AWS, except for a name with dots (no wildcard TLS certificate covers it as a host).
  std::string bucket_base() const {
    const s3::ResolvedConfig& config = client_.config();
    if (!config.endpoint.empty()) return fmt::format("{}/{}", config.endpoint, location_.bucket);
    if (location_.bucket.find('.') != std::string::npos) {
      return fmt::format("https://s3.{}.amazonaws.com/{}", config.region, location_.bucket);
    }
    return fmt::format("https://{}.s3.{}.amazonaws.com", location_.bucket, config.region);
  }

  S3Location location_;
  std::string base_;  ///< The key prefix followed by '/', or empty.
  unsigned page_keys_;
  s3::HttpClient client_;
  mutable std::atomic<bool> bucket_confirmed_{false};
};

Result<std::size_t> S3Reader::read(char* buffer, std::size_t size) {
  std::size_t total = 0;
  while (total < size) {
    if (chunk_pos_ == chunk_.size()) {
      if (offset_ >= size_) break;
      const std::uint64_t length = std::min(kReadChunk, size_ - offset_);
      Result<std::string> chunk = store_.read_range(path_, offset_, length, etag_);
      if (!chunk) return std::move(chunk).error();
      chunk_ = std::move(*chunk);
      chunk_pos_ = 0;
      offset_ += length;
    }
    const std::size_t n = std::min(size - total, chunk_.size() - chunk_pos_);
    std::copy_n(chunk_.data() + chunk_pos_, n, buffer + total);
    chunk_pos_ += n;
    total += n;
  }
  return total;
}

}  // namespace

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    // getenv only: nothing in stagecheck calls setenv.
    if (const char* value = std::getenv(name.c_str())) return std::string(value);
    return std::nullopt;
  };
}

Result<S3Location> parse_s3_uri(std::string_view uri) {
  constexpr std::string_view kScheme = "s3://";
  if (uri.substr(0, kScheme.size()) != kScheme) {
    return make_error(Errc::invalid_argument,
                      fmt::format("'{}' is not an s3:// URI", printable(uri, 300)));
  }
  std::string_view rest = uri.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  S3Location out;
  out.bucket = std::string(rest.substr(0, slash));
  std::string_view prefix =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  out.prefix = std::string(prefix);
  if (!valid_bucket_name(out.bucket)) {
    return make_error(Errc::invalid_argument,
                      fmt::format("'{}': '{}' is not a valid bucket name (3 to 63 lower-case "
                                  "letters, digits, '.', '-' or '_', starting and ending with a "
                                  "letter or digit)",
                                  printable(uri, 300), printable(out.bucket, 100)));
  }
  if (Result<void> ok = validate_prefix(out.prefix, fmt::format("'{}'", printable(uri, 300)));
      !ok) {
    return std::move(ok).error();
  }
  return out;
}

Result<std::unique_ptr<Store>> open_s3_store(const S3Options& options) {
  try {
    const std::string shown =
        fmt::format("s3://{}/{}", printable(options.bucket, 100), printable(options.prefix, 300));
    if (!valid_bucket_name(options.bucket)) {
      return make_error(Errc::invalid_argument,
                        fmt::format("'{}' is not a valid bucket name", printable(options.bucket)));
    }
    if (Result<void> ok = validate_prefix(options.prefix, shown); !ok) return std::move(ok).error();
    if (options.io_concurrency == 0) {
      return make_error(Errc::invalid_argument, "the I/O concurrency must be at least 1");
    }
    if (options.list_page_keys == 0 || options.list_page_keys > 1000) {
      return make_error(
          Errc::invalid_argument,
          fmt::format("list_page_keys must be 1 to 1000, found {}", options.list_page_keys));
    }
    Result<s3::ResolvedConfig> config = s3::resolve_config(options);
    if (!config) {
      Error error = std::move(config).error();
      error.message = fmt::format("s3://{}: {}", options.bucket, error.message);
      return error;
    }
    return std::unique_ptr<Store>(std::make_unique<S3Store>(
        S3Location{options.bucket, options.prefix}, std::move(*config), options));
  } catch (const std::exception& e) {
    return make_error(Errc::internal, fmt::format("opening s3://{}: unexpected exception: {}",
                                                  options.bucket, e.what()));
  }
}

}  // namespace stagecheck
