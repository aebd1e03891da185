#pragma once
/// \file
/// The S3-API store (`--root s3://BUCKET[/PREFIX]`): AWS S3, GCS in S3 interoperability mode
/// (HMAC keys, endpoint https://storage.googleapis.com), MinIO and other S3-compatible stores.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "stagecheck/environment.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/retry_policy.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck {

/// Bucket and key prefix of an `s3://BUCKET[/PREFIX]` URI.
struct S3Location {
  std::string bucket;  ///< The bucket name.
  std::string prefix;  ///< No leading or trailing '/'; empty for the whole bucket.
};

/// Parses `s3://BUCKET[/PREFIX]`. Errc::invalid_argument (naming the URI and the rule) for
/// another scheme, a bucket name S3 or GCS would refuse, or a prefix that is not a valid store
/// path (empty, `.` or `..` segments).
STAGECHECK_API Result<S3Location> parse_s3_uri(std::string_view uri);

/// The retry policy of the S3 store (the same for every object store).
using S3RetryPolicy = RetryPolicy;

/// How to reach a bucket. Unset fields are taken from the environment when `env` is set, the
/// way the AWS SDKs and CLI take them:
/// - endpoint: `endpoint`, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else AWS
///   (virtual-hosted `https://BUCKET.s3.REGION.amazonaws.com`). A custom endpoint is addressed
///   path-style (`ENDPOINT/BUCKET/KEY`).
/// - region: `region`, else AWS_REGION, else AWS_DEFAULT_REGION, else the profile's `region` in
///   the config file (AWS_CONFIG_FILE or ~/.aws/config), else us-east-1.
/// - credentials: `access_key_id` + `secret_access_key` (+ `session_token`), else
///   AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else the profile
///   (`profile`, else AWS_PROFILE, else "default") of the shared credentials file
///   (`credentials_file`, else AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials).
/// Secrets are never printed, logged or put into an error or a report; errors say which source
/// was tried.
struct S3Options {
  std::string bucket;             ///< The bucket (S3 or GCS naming rules).
  std::string prefix;             ///< Key prefix the store is rooted at (no leading/trailing '/').
  std::string endpoint;           ///< e.g. "http://127.0.0.1:9000"; empty: environment or AWS.
  std::string region;             ///< e.g. "eu-west-1"; empty: environment, config file, us-east-1.
  std::string profile;            ///< Profile of the shared credentials and config files.
  std::string access_key_id;      ///< With secret_access_key: explicit credentials.
  std::string secret_access_key;  ///< Never printed, logged or put into an error.
  std::string session_token;      ///< Temporary credentials' token (x-amz-security-token).
  /// The scheme describe() and messages show: "s3", or "gs" for a gs:// root opened through
  /// GCS's S3 interoperability endpoint (StoreOptions::gcs_api).
  std::string uri_scheme = "s3";
  std::filesystem::path credentials_file;  ///< Instead of ~/.aws/credentials.
  std::filesystem::path config_file;       ///< Instead of ~/.aws/config (for the region).
  /// Where unset settings come from; empty: nowhere (only the fields above and the defaults).
  EnvLookup env;
  /// Requests in flight at once across all threads (each one a reused connection).
  unsigned io_concurrency = 32;
  /// Longest wait for a TCP (and TLS) connection.
  std::chrono::milliseconds connect_timeout{10000};
  /// A transfer that moves no byte for this long is a transport error (a stall); whole seconds.
  std::chrono::seconds idle_timeout{30};
  S3RetryPolicy retry;  ///< Retries of 429, 5xx and transport errors.
  /// Keys per ListObjectsV2 page (1 to 1,000, S3's maximum): what a listing holds in memory.
  unsigned list_page_keys = 1000;
};

/// Opens a bucket (or a prefix in it) as a Store. Resolves the endpoint, region and
/// credentials (see S3Options) but sends no request: an unreachable endpoint or a forbidden
/// bucket shows up in the first check's result as "could not be evaluated", never as absent.
///
/// The store: stat is a HEAD; read a ranged GET that stops at the cap (Errc::too_large without
/// downloading the object); open streams ranged GETs of a few MiB, each checked against the
/// object's ETag; list and list_level stream ListObjectsV2 pages (1,000 keys each); write_atomic
/// a single PUT (atomic in S3). HTTP 404 is Errc::not_found only once the bucket is known to
/// exist; 401/403 are Errc::permission_denied; exhausted retries and unreachable endpoints are
/// Errc::unavailable. Errors: Errc::invalid_argument for a bad bucket, endpoint or option;
/// Errc::not_found / Errc::permission_denied / Errc::malformed when the named credentials file
/// or profile is missing, unreadable or broken. Thread-safe.
STAGECHECK_API Result<std::unique_ptr<Store>> open_s3_store(const S3Options& options);

}  // namespace stagecheck
