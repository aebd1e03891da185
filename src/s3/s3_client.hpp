#pragma once
// Internal: the HTTP client of an S3 store: the shared transport with SigV4 signing by curl
// (and the x-amz-content-sha256 header curl 7.88 needs but never adds).

#include <memory>

#include "http/http_client.hpp"
#include "s3/config.hpp"
#include "stagecheck/s3_store.hpp"

namespace stagecheck::s3 {

/// A client for `config`'s endpoint with `options`' concurrency, timeouts and retries; signs
/// with `config`'s credentials (unsigned if it has none). Holds the secret: never formats it.
std::unique_ptr<http::HttpClient> make_client(const ResolvedConfig& config,
                                              const S3Options& options);

}  // namespace stagecheck::s3
