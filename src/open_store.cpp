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
    Result<GcsLocation> location = parse_gs_uri(root);
    if (!location) return std::move(location).error();
    if (options.gcs_api == GcsApi::s3) {
      S3Options s3 = options.s3;
      s3.bucket = location->bucket;
      s3.prefix = location->prefix;
      s3.uri_scheme = "gs";
      // GCS's interoperability endpoint, not AWS_ENDPOINT_URL (meant for the s3:// roots).
      if (s3.endpoint.empty()) s3.endpoint = "https://storage.googleapis.com";
      return open_s3_store(s3);
    }
    GcsOptions gcs = options.gcs;
    gcs.bucket = location->bucket;
    gcs.prefix = location->prefix;
    return open_gcs_store(gcs);
  }
  return make_error(
      Errc::invalid_argument,
      fmt::format("'{}': unknown store scheme; expected a folder, s3://BUCKET or gs://BUCKET",
                  detail::printable(root, 300)));
}

}  // namespace stagecheck
