#include "objstore/bucket_store.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "text_util.hpp"

namespace stagecheck::objstore {

namespace {

using detail::printable;
using http::HttpResponse;

/// Bytes fetched per ranged GET while streaming an object through open().
constexpr std::uint64_t kReadChunk = 4u << 20;

/// A listing prefix as list() takes it (a path, possibly ending in '/', or a partial name).
Result<void> validate_list_prefix(std::string_view prefix) {
  if (prefix.empty()) return {};
  std::string_view trimmed = prefix;
  if (trimmed.back() == '/') trimmed.remove_suffix(1);
  if (Result<void> valid = validate_store_path(trimmed); !valid) return std::move(valid).error();
  return {};
}

/// Streams one object with ranged GETs of kReadChunk bytes, each pinned to the version seen at
/// open time, so an object replaced while being read is an error, never a mix.
class BucketReader final : public Reader {
 public:
  BucketReader(const BucketStore& store, std::string path, std::uint64_t size, std::string version)
      : store_(store), path_(std::move(path)), size_(size), version_(std::move(version)) {}

  Result<std::size_t> read(char* buffer, std::size_t size) override {
    std::size_t total = 0;
    while (total < size) {
      if (chunk_pos_ == chunk_.size()) {
        if (offset_ >= size_) break;
        const std::uint64_t length = std::min(kReadChunk, size_ - offset_);
        Result<std::string> chunk = store_.read_range(path_, offset_, length, version_);
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
  std::uint64_t size() const override { return size_; }

 private:
  const BucketStore& store_;
  std::string path_;
  std::uint64_t size_;
  std::string version_;
  std::string chunk_;
  std::size_t chunk_pos_ = 0;
  std::uint64_t offset_ = 0;  ///< Object offset of chunk_'s end.
};

}  // namespace

bool valid_bucket_name(std::string_view name) {
  if (name.size() < 3 || name.size() > 222) return false;
  if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-_") != std::string_view::npos) {
    return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(name.front()) && alnum(name.back()) && name.find("..") == std::string_view::npos;
}

namespace {

Result<void> validate_prefix(std::string_view prefix, std::string_view shown) {
  if (prefix.empty()) return {};
  if (Result<void> valid = validate_store_path(prefix); !valid) {
    return make_error(Errc::invalid_argument,
                      fmt::format("{}: the key prefix is not a valid store path: {}", shown,
                                  valid.error().message));
  }
  return {};
}

}  // namespace

Result<BucketUri> parse_bucket_uri(std::string_view uri, std::string_view scheme) {
  const std::string expected = std::string(scheme) + "://";
  if (uri.substr(0, expected.size()) != expected) {
    return make_error(Errc::invalid_argument,
                      fmt::format("'{}' is not an {} URI", printable(uri, 300), expected));
  }
  std::string_view rest = uri.substr(expected.size());
  const std::size_t slash = rest.find('/');
  BucketUri out;
  out.bucket = std::string(rest.substr(0, slash));
  std::string_view prefix =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  out.prefix = std::string(prefix);
  if (!valid_bucket_name(out.bucket)) {
    return make_error(Errc::invalid_argument,
                      fmt::format("'{}': '{}' is not a valid bucket name (3 to 63 lower-case "
                                  "letters, digits, '.', '-' or '_', starting and ending with a "
                                  "letter or digit; up to 222 with dots on GCS)",
                                  printable(uri, 300), printable(out.bucket, 100)));
  }
  if (Result<void> ok = validate_prefix(out.prefix, fmt::format("'{}'", printable(uri, 300)));
      !ok) {
    return std::move(ok).error();
  }
  return out;
}

Result<void> validate_options(std::string_view scheme, std::string_view bucket,
                              std::string_view prefix, unsigned io_concurrency,
                              unsigned list_page_keys) {
  if (!valid_bucket_name(bucket)) {
    return make_error(Errc::invalid_argument,
                      fmt::format("'{}' is not a valid bucket name", printable(bucket)));
  }
  const std::string shown =
      fmt::format("{}://{}/{}", scheme, printable(bucket, 100), printable(prefix, 300));
  if (Result<void> ok = validate_prefix(prefix, shown); !ok) return ok;
  if (io_concurrency == 0) {
    return make_error(Errc::invalid_argument, "the I/O concurrency must be at least 1");
  }
  if (list_page_keys == 0 || list_page_keys > 1000) {
    return make_error(Errc::invalid_argument,
                      fmt::format("list_page_keys must be 1 to 1000, found {}", list_page_keys));
  }
  return {};
}

BucketStore::BucketStore(std::string scheme, std::string bucket, std::string prefix)
    : scheme_(std::move(scheme)),
      bucket_(std::move(bucket)),
      prefix_(std::move(prefix)),
      base_(prefix_.empty() ? std::string() : prefix_ + "/") {}

std::string BucketStore::describe() const {
  return prefix_.empty() ? fmt::format("{}://{}", scheme_, bucket_)
                         : fmt::format("{}://{}/{}", scheme_, bucket_, prefix_);
}

std::string BucketStore::shown_path(std::string_view path) const {
  return fmt::format("'{}' under {}", printable(path), describe());
}

std::string BucketStore::shown_folder(std::string_view folder) const {
  return folder.empty() ? describe() : shown_path(folder);
}

Result<ObjectInfo> BucketStore::stat(std::string_view path) const {
  if (Result<void> valid = validate_store_path(path); !valid) return std::move(valid).error();
  Result<Head> head = head_object(path);
  if (!head) return std::move(head).error();
  return head->info;
}

Result<std::string> BucketStore::read(std::string_view path, std::uint64_t max_bytes) const {
  if (Result<void> valid = validate_store_path(path); !valid) return std::move(valid).error();
  const std::string shown = shown_path(path);
  // One byte past the cap: an object larger than the cap announces its size in Content-Range
  // and is refused before its body is read.
  const std::string range = max_bytes < std::numeric_limits<std::uint64_t>::max()
                                ? fmt::format("bytes=0-{}", max_bytes)
                                : std::string();
  Result<HttpResponse> response = get_object(path, range, "", max_bytes, true);
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

Result<std::unique_ptr<Reader>> BucketStore::open(std::string_view path) const {
  if (Result<void> valid = validate_store_path(path); !valid) return std::move(valid).error();
  Result<Head> head = head_object(path);
  if (!head) return std::move(head).error();
  return std::unique_ptr<Reader>(
      std::make_unique<BucketReader>(*this, std::string(path), head->info.size, head->version));
}

Result<std::string> BucketStore::read_range(const std::string& path, std::uint64_t offset,
                                            std::uint64_t length,
                                            const std::string& version) const {
  const std::string shown = shown_path(path);
  Result<HttpResponse> response = get_object(
      path, fmt::format("bytes={}-{}", offset, offset + length - 1), version, length, false);
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

Result<void> BucketStore::list(std::string_view prefix,
                               const std::function<bool(const ObjectInfo&)>& visit) const {
  if (Result<void> valid = validate_list_prefix(prefix); !valid) return std::move(valid).error();
  const std::string full = base_ + std::string(prefix);
  ObjectInfo info;
  return list_pages(full, false, [&](const ListPage& page, bool& stop) -> Result<void> {
    for (const ListedObject& object : page.objects) {
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

Result<void> BucketStore::list_level(std::string_view folder,
                                     const std::function<bool(const ListEntry&)>& visit) const {
  std::string full = base_;
  if (!folder.empty()) {
    if (Result<void> valid = validate_store_path(folder); !valid) return std::move(valid).error();
    full += std::string(folder) + "/";
  }
  ListEntry entry;
  std::string last_folder;
  return list_pages(full, true, [&](const ListPage& page, bool& stop) -> Result<void> {
    // A page holds its objects and its sub-folders ("common prefixes") in two sorted lists;
    // merged, they are in key order, which is the order list_level() promises.
    std::size_t o = 0, p = 0;
    while (!stop && (o < page.objects.size() || p < page.common_prefixes.size())) {
      const bool take_object =
          p >= page.common_prefixes.size() ||
          (o < page.objects.size() && page.objects[o].key < page.common_prefixes[p]);
      if (take_object) {
        const ListedObject& object = page.objects[o++];
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
        if (common.size() <= full.size() + 1 || common.compare(0, full.size(), full) != 0 ||
            common.back() != '/') {
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

Result<void> BucketStore::write_atomic(std::string_view path, std::string_view data) {
  if (Result<void> valid = validate_store_path(path); !valid) return std::move(valid).error();
  return put_object(path, data);
}

Result<void> BucketStore::list_pages(
    const std::string& full, bool level,
    const std::function<Result<void>(const ListPage&, bool&)>& on_page) const {
  std::string token;
  std::string last_key;
  bool stop = false;
  const std::string shown = fmt::format("listing '{}' in {}", printable(full, 300), describe());
  for (int page_number = 1; !stop; ++page_number) {
    Result<ListPage> page = list_page(full, level, token, page_number, shown);
    if (!page) return std::move(page).error();
    // Fail closed on a listing that is not what the API promises: beneath the prefix, in order.
    for (const ListedObject& object : page->objects) {
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
    if (page->next_token.empty() || page->next_token == token) {
      return make_error(Errc::io_error,
                        fmt::format("{}: page {} is truncated but repeats or lacks its "
                                    "continuation token",
                                    shown, page_number));
    }
    token = std::move(page->next_token);
  }
  return {};
}

Result<void> BucketStore::check_key(std::string_view key, std::string_view rel) const {
  // A key that cannot be a store path (e.g. "a//b", "x/../y") is never silently skipped.
  if (Result<void> valid = validate_store_path(rel); !valid) {
    return make_error(Errc::io_error,
                      fmt::format("{} holds the key '{}', which is not a valid store path ({}); "
                                  "refusing to list past it",
                                  describe(), printable(key, 300), valid.error().message));
  }
  return {};
}

}  // namespace stagecheck::objstore
