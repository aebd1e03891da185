#pragma once
// Internal: what the S3 and GCS stores share. A BucketStore implements the Store interface
// (path checks, capped and streamed reads, paged listings, one-level listings) on top of a few
// requests a bucket API provides (object metadata, ranged GET, one listing page, upload).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_client.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck::objstore {

/// One object of a listing page.
struct ListedObject {
  std::string key;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;  ///< Last modified; 0 if unknown.
};

/// One listing page: at most a page size of entries, so bounded in memory.
struct ListPage {
  std::vector<ListedObject> objects;         ///< In key order.
  std::vector<std::string> common_prefixes;  ///< Sub-folders ("a/b/"), in order.
  bool truncated = false;                    ///< More pages follow.
  std::string next_token;                    ///< The next page's token.
};

/// S3's bucket naming rules widened to GCS's (underscores, up to 222 characters with dots).
bool valid_bucket_name(std::string_view name);

/// Bucket and prefix of a `SCHEME://BUCKET[/PREFIX]` URI.
struct BucketUri {
  std::string bucket;
  std::string prefix;  ///< No leading or trailing '/'.
};

/// Parses `SCHEME://BUCKET[/PREFIX]` (`scheme` is "s3" or "gs"). Errc::invalid_argument naming
/// the URI and the rule for another scheme, a bad bucket name or a prefix that is no store path.
Result<BucketUri> parse_bucket_uri(std::string_view uri, std::string_view scheme);

/// What every open_*_store() checks first: the bucket name, the prefix, at least one request in
/// flight, and 1 to 1,000 keys per listing page. Errc::invalid_argument otherwise.
Result<void> validate_options(std::string_view scheme, std::string_view bucket,
                              std::string_view prefix, unsigned io_concurrency,
                              unsigned list_page_keys);

/// A Store over a bucket API. Thread-safe if the subclass's requests are.
class BucketStore : public Store {
 public:
  /// `scheme` ("s3", "gs") is what describe() shows; `prefix` has no leading or trailing '/'.
  BucketStore(std::string scheme, std::string bucket, std::string prefix);

  std::string describe() const override;
  Result<ObjectInfo> stat(std::string_view path) const override;
  Result<std::string> read(std::string_view path, std::uint64_t max_bytes) const override;
  Result<std::unique_ptr<Reader>> open(std::string_view path) const override;
  Result<void> list(std::string_view prefix,
                    const std::function<bool(const ObjectInfo&)>& visit) const override;
  Result<void> list_level(std::string_view folder,
                          const std::function<bool(const ListEntry&)>& visit) const override;
  Result<void> write_atomic(std::string_view path, std::string_view data) override;

  /// Fetches `length` bytes at `offset` of the object's `version` (from head_object()); an
  /// object changed or removed since is Errc::io_error.
  Result<std::string> read_range(const std::string& path, std::uint64_t offset,
                                 std::uint64_t length, const std::string& version) const;

  /// "'PATH' under SCHEME://BUCKET/PREFIX", for messages.
  std::string shown_path(std::string_view path) const;

 protected:
  /// An object's facts and the version that pins later reads to it (ETag, generation).
  struct Head {
    ObjectInfo info;
    std::string version;
  };

  /// The metadata of the object at store path `path`. Errc::not_found only when the object is
  /// truly absent (the bucket exists); other failures as Store documents.
  virtual Result<Head> head_object(std::string_view path) const = 0;

  /// A GET of the object's bytes: `range` is a Range header value ("bytes=0-99") or empty;
  /// `version`, if not empty, pins the object (a changed object answers 412 or 404).
  virtual Result<http::HttpResponse> get_object(std::string_view path, const std::string& range,
                                                const std::string& version, std::uint64_t max_body,
                                                bool max_body_is_object_cap) const = 0;

  /// The error for an unexpected response about one object (`method` names the request).
  virtual Error object_error(const http::HttpResponse& response, std::string_view path,
                             const char* method) const = 0;

  /// One page of the keys that start with `full` (grouped at '/' when `level`), from `token`
  /// ("" for the first page). `shown` names the listing in messages.
  virtual Result<ListPage> list_page(const std::string& full, bool level, const std::string& token,
                                     int page_number, const std::string& shown) const = 0;

  /// Stores `data` at store path `path` in one request (atomic in the bucket).
  virtual Result<void> put_object(std::string_view path, std::string_view data) = 0;

  const std::string& bucket() const { return bucket_; }
  /// The key prefix followed by '/', or empty: a store path's key is base() + path.
  const std::string& base() const { return base_; }

 private:
  Result<void> list_pages(const std::string& full, bool level,
                          const std::function<Result<void>(const ListPage&, bool&)>& on_page) const;
  Result<void> check_key(std::string_view key, std::string_view rel) const;
  std::string shown_folder(std::string_view folder) const;

  std::string scheme_;
  std::string bucket_;
  std::string prefix_;
  std::string base_;
};

}  // namespace stagecheck::objstore
