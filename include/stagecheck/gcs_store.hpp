#pragma once
/// \file
/// The GCS JSON-API store (`--root gs://BUCKET[/PREFIX]`): Google Cloud Storage through its
/// JSON API (`storage/v1`) with an OAuth 2.0 bearer token.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "stagecheck/environment.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/retry_policy.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck {

/// Bucket and object-name prefix of a `gs://BUCKET[/PREFIX]` URI.
struct GcsLocation {
  std::string bucket;  ///< The bucket name.
  std::string prefix;  ///< No leading or trailing '/'; empty for the whole bucket.
};

/// Parses `gs://BUCKET[/PREFIX]`. Errc::invalid_argument (naming the URI and the rule) for
/// another scheme, a bucket name GCS would refuse, or a prefix that is not a valid store path.
STAGECHECK_API Result<GcsLocation> parse_gs_uri(std::string_view uri);

/// How to reach a bucket. Unset fields are taken from the environment when `env` is set.
///
/// Endpoint: `endpoint`, else STORAGE_EMULATOR_HOST (a test server: "http://HOST:PORT" or
/// "HOST:PORT"), else https://storage.googleapis.com.
///
/// Access token, the first source that has one:
/// 1. `access_token`, else the environment variable GOOGLE_OAUTH_ACCESS_TOKEN;
/// 2. a token file: `token_file`, else GOOGLE_OAUTH_ACCESS_TOKEN_FILE (the whole file, trimmed);
/// 3. `gcloud auth print-access-token`, when gcloud is on PATH (run without a shell, with
///    `gcloud_timeout`);
/// 4. the GCE/GKE metadata server, only when GCE_METADATA_HOST is set or the machine says it is
///    Google Compute Engine (`dmi_product_name` contains "Google"); the link-local address is
///    never contacted otherwise.
/// With STORAGE_EMULATOR_HOST (or `anonymous`), only sources 1 and 2 are used, and without
/// them requests carry no token. Sources 1 and 2 are read when the store is opened; gcloud and
/// the metadata server are asked on the first request, once (a token is refreshed before it
/// expires). Tokens are never printed, logged or put into an error or a report; errors say
/// which sources were tried.
struct GcsOptions {
  std::string bucket;    ///< The bucket.
  std::string prefix;    ///< Object-name prefix the store is rooted at (no leading/trailing '/').
  std::string endpoint;  ///< e.g. "http://127.0.0.1:4443"; empty: environment or Google.
  std::string access_token;          ///< An OAuth 2.0 access token. Never printed.
  std::filesystem::path token_file;  ///< A file holding an access token.
  bool anonymous = false;            ///< Send no token unless source 1 or 2 has one.
  /// Where unset settings come from; empty: nowhere (only the fields above and the defaults).
  EnvLookup env;
  /// Requests in flight at once across all threads (each one a reused connection).
  unsigned io_concurrency = 32;
  /// Longest wait for a TCP (and TLS) connection.
  std::chrono::milliseconds connect_timeout{10000};
  /// A transfer that moves no byte for this long is a transport error (a stall); whole seconds.
  std::chrono::seconds idle_timeout{30};
  RetryPolicy retry;  ///< Retries of 429, 5xx and transport errors.
  /// Objects per listing page (1 to 1,000, the API's maximum): what a listing holds in memory.
  unsigned list_page_keys = 1000;
  /// Longest run of `gcloud auth print-access-token` before it is killed.
  std::chrono::seconds gcloud_timeout{30};
  /// Where the machine names its product ("Google Compute Engine" on GCE); tests point it
  /// elsewhere.
  std::filesystem::path dmi_product_name = "/sys/class/dmi/id/product_name";
  /// The metadata server used on GCE when GCE_METADATA_HOST is not set.
  std::string metadata_host = "169.254.169.254";
};

/// Opens a bucket (or a prefix in it) as a Store. Resolves the endpoint and the cheap token
/// sources (see GcsOptions) but sends no request: an unreachable endpoint or a forbidden
/// bucket shows up in the first check's result as "could not be evaluated", never as absent.
///
/// The store: stat is a metadata GET; read a ranged `alt=media` GET that stops at the cap
/// (Errc::too_large without downloading the object); open streams ranged GETs of a few MiB,
/// each pinned to the object's generation (`ifGenerationMatch`); list and list_level stream
/// listing pages (prefix, delimiter, maxResults, pageToken); write_atomic a single media upload
/// (atomic in GCS). HTTP 404 is Errc::not_found only when the bucket is known to exist; 401 and
/// 403 are Errc::permission_denied; exhausted retries and unreachable endpoints are
/// Errc::unavailable; a token that cannot be had is Errc::permission_denied naming the sources
/// tried. Errors at open: Errc::invalid_argument for a bad bucket, endpoint or option;
/// Errc::permission_denied when no token source can exist (the message lists them);
/// Errc::not_found / Errc::permission_denied / Errc::malformed for a named token file that is
/// missing, unreadable or empty. Thread-safe.
STAGECHECK_API Result<std::unique_ptr<Store>> open_gcs_store(const GcsOptions& options);

}  // namespace stagecheck
