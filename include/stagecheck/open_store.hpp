#pragma once
/// \file
/// open_store(): the store a `--root` names, a local folder or a bucket URI.

#include <memory>
#include <string_view>

#include "stagecheck/export.hpp"
#include "stagecheck/gcs_store.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/s3_store.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck {

/// Which API a `gs://` root is read through.
enum class GcsApi {
  json,  ///< The GCS JSON API with an OAuth token (open_gcs_store()).
  s3,    ///< GCS's S3 interoperability mode with HMAC keys (open_s3_store(), `s3` settings).
};

/// Settings for open_store() that a URI cannot carry.
struct StoreOptions {
  /// `s3://` roots (and `gs://` ones with GcsApi::s3): endpoint, region, profile, credentials,
  /// timeouts, retries (bucket and prefix come from the URI) and where unset settings come from
  /// (`s3.env`).
  S3Options s3;
  /// `gs://` roots with GcsApi::json: endpoint, token sources, timeouts, retries, and where
  /// unset settings come from (`gcs.env`).
  GcsOptions gcs;
  /// The API of `gs://` roots.
  GcsApi gcs_api = GcsApi::json;
};

/// True if `root` names an object store (`s3://...`, `gs://...`) rather than a folder.
STAGECHECK_API bool is_store_uri(std::string_view root) noexcept;

/// Opens what `root` names: `s3://BUCKET[/PREFIX]` through open_s3_store(), `gs://BUCKET[/PREFIX]`
/// through open_gcs_store() (GcsApi::json) or through open_s3_store() at GCS's S3
/// interoperability endpoint, https://storage.googleapis.com unless `s3.endpoint` is set
/// (GcsApi::s3), anything without a scheme as a local folder (open_local_store()). Another
/// scheme is Errc::invalid_argument.
STAGECHECK_API Result<std::unique_ptr<Store>> open_store(std::string_view root,
                                                         const StoreOptions& options = {});

}  // namespace stagecheck
