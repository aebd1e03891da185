#include "stagecheck/open_store.hpp"

#include <fmt/format.h>

#include "stagecheck/local_store.hpp"
#include "text_util.hpp"

namespace stagecheck {

bool is_store_uri(std::string_view root) noexcept {
  const std::size_t colon = root.find("://");
  if (colon == std::string_view::npos || colon == 0) return false;
  // A scheme is letters, digits, '+', '-', '.', starting with a letter (RFC 3986).
  for (std::size_t i = 0; i < colon; ++i) {
    const char c = root[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!letter && (i == 0 || !((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))) {
      return false;
    }
  }
  return true;
}

Result<std::unique_ptr<Store>> open_store(std::string_view root, const StoreOptions& options) {
  if (!is_store_uri(root)) return open_local_store(std::filesystem::path(std::string(root)));
  if (root.substr(0, 5) == "s3://") {
    Result<S3Location> location = parse_s3_uri(root);
    if (!location) return std::move(location).error();
    S3Options s3 = options.s3;
    s3.bucket = location->bucket;
    s3.prefix = location->prefix;
    return open_s3_store(s3);
  }
  if (root.substr(0, 5) == "gs://") {
    return make_error(Errc::invalid_argument,
                      fmt::format("'{}': gs:// is not supported yet; use the bucket through GCS's "
                                  "S3 interoperability mode: s3://BUCKET with "
                                  "AWS_ENDPOINT_URL=https://storage.googleapis.com and HMAC keys",
                                  detail::printable(root, 300)));
  }
  return make_error(Errc::invalid_argument,
                    fmt::format("'{}': unknown store scheme; expected a folder or s3://BUCKET",
                                detail::printable(root, 300)));
}

}  // namespace stagecheck
