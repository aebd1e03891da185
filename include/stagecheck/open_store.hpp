#pragma once
/// \file
/// open_store(): the store a `--root` names, a local folder or a bucket URI.

#include <memory>
#include <string_view>

#include "stagecheck/export.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/s3_store.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck {

/// Settings for open_store() that a URI cannot carry.
struct StoreOptions {
  /// Object stores: endpoint, region, profile, credentials, timeouts, retries (bucket and prefix
  /// come from the URI) and where unset settings come from (`s3.env`).
  S3Options s3;
};

/// True if `root` names an object store (`s3://...`, `gs://...`) rather than a folder.
STAGECHECK_API bool is_store_uri(std::string_view root) noexcept;

/// Opens what `root` names: `s3://BUCKET[/PREFIX]` through open_s3_store(), anything without a
/// scheme as a local folder (open_local_store()). `gs://` is Errc::invalid_argument ("not
/// supported yet": use the S3 interoperability endpoint), as is any other scheme.
STAGECHECK_API Result<std::unique_ptr<Store>> open_store(std::string_view root,
                                                         const StoreOptions& options = {});

}  // namespace stagecheck
