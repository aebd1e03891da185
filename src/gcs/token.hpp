#pragma once
// Internal: the GCS store's endpoint and its OAuth 2.0 access-token chain (GcsOptions documents
// the sources and their order).

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "http/http_client.hpp"
#include "stagecheck/gcs_store.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck::gcs {

/// The JSON API's base URL ("https://storage.googleapis.com", no trailing '/'), and whether it
/// is a test server named by STORAGE_EMULATOR_HOST.
struct Endpoint {
  std::string url;
  bool emulator = false;
};

/// Resolves the endpoint: the option, STORAGE_EMULATOR_HOST, else Google.
Result<Endpoint> resolve_endpoint(const GcsOptions& options);

/// Runs `gcloud auth print-access-token` from `gcloud` (an absolute path) without a shell and
/// returns the token it prints. Errc::permission_denied when it fails (the message quotes the
/// last line of its stderr, never its stdout), Errc::unavailable when it runs past `timeout`
/// (it is killed).
Result<std::string> run_gcloud(const std::string& gcloud, std::chrono::seconds timeout);

/// Where requests get their bearer token. Thread-safe; holds the token: never formats it.
class TokenProvider {
 public:
  /// Resolves the options, environment and token file now. Errc::permission_denied listing
  /// every source when none can give a token; errors of a named token file as they are.
  static Result<std::unique_ptr<TokenProvider>> create(const GcsOptions& options, bool emulator);

  ~TokenProvider();

  /// The token to send, or "" for anonymous requests. Asks gcloud or the metadata server on
  /// the first call (and again shortly before the token expires); a failure is remembered, so a
  /// run with no usable credentials fails each request at once.
  Result<std::string> token() const;

  /// Where the token comes from, for messages ("GOOGLE_OAUTH_ACCESS_TOKEN", "gcloud (...)").
  std::string source() const;

  /// Counts the tokens fetched from gcloud or the metadata server; 0 for a fixed token.
  unsigned generation() const;

  /// After a 401 with the token of `generation`: forget that token, so the next token() asks
  /// its source again (gcloud may have printed a cached token close to its expiry). True if
  /// the token can be fetched again (not fixed, no remembered failure); a token fetched since
  /// `generation` is kept, so concurrent 401s cause one fetch.
  bool invalidate(unsigned generation) const;

 private:
  TokenProvider() = default;
  Result<std::string> fetch_metadata(std::chrono::seconds& lifetime) const;

  GcsOptions options_;         ///< Its access_token is cleared: the token lives in token_ only.
  std::string gcloud_;         ///< Absolute path of gcloud on PATH, or empty.
  std::string metadata_host_;  ///< "host[:port]" when the metadata server may be asked.
  std::string metadata_why_;   ///< Why the metadata server is (or is not) asked.
  std::string tried_;          ///< Sources 1 and 2, as tried, for messages.

  mutable std::mutex mutex_;
  mutable std::string token_;
  mutable std::string source_;
  mutable bool fixed_ = false;  ///< token_ came from the options, environment or a file.
  mutable std::chrono::steady_clock::time_point expires_{};
  mutable std::optional<Error> failure_;
  mutable unsigned generation_ = 0;
};

}  // namespace stagecheck::gcs
