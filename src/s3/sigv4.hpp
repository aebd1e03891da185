#pragma once
// Internal: the AWS Signature Version 4 steps stagecheck must do itself with curl 7.88.
//
// curl's CURLOPT_AWS_SIGV4 computes the signature, but signs the path and the query string
// verbatim, so their canonical forms are built here (uri_encode, canonical_query). The other
// steps (canonical request, string to sign, signature) are implemented too, as the reference
// the tests hold curl's Authorization header against (tests/unit/s3_sigv4_test.cpp, with the
// published AWS test-suite vectors).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stagecheck/result.hpp"

namespace stagecheck::s3 {

/// RFC 3986 percent-encoding as SigV4 wants it: unreserved bytes (A-Z a-z 0-9 - . _ ~) stay,
/// every other byte becomes %XX with upper-case hex; '/' stays when `keep_slash` (object keys
/// in a path), else it is %2F (query names and values).
std::string uri_encode(std::string_view text, bool keep_slash);

/// The canonical query string: names and values encoded with uri_encode, sorted by encoded
/// name then value, joined as `n=v` with '&' (an empty value gives `n=`).
std::string canonical_query(std::vector<std::pair<std::string, std::string>> params);

/// A request as SigV4 sees it. Header names are lower-case and values trimmed by the caller.
struct SigningInput {
  std::string method;           ///< "GET", "HEAD", "PUT".
  std::string canonical_uri;    ///< Already encoded, e.g. "/bucket/a%20b".
  std::string canonical_query;  ///< From canonical_query().
  std::vector<std::pair<std::string, std::string>> headers;  ///< Signed headers.
  std::string payload_hash;  ///< Hex SHA-256 of the body (or "UNSIGNED-PAYLOAD").
};

/// `host;x-amz-date`: the sorted, ';'-joined signed header names.
std::string signed_headers(const SigningInput& input);

/// The canonical request (step 1).
std::string canonical_request(const SigningInput& input);

/// The string to sign (step 2) for `amz_date` (YYYYMMDDTHHMMSSZ).
Result<std::string> string_to_sign(std::string_view amz_date, std::string_view region,
                                   std::string_view service, std::string_view canonical_request);

/// The hex signature (steps 3 and 4): the derived signing key applied to `string_to_sign`.
/// The secret never appears in an error.
Result<std::string> signature(std::string_view secret_access_key, std::string_view amz_date,
                              std::string_view region, std::string_view service,
                              std::string_view string_to_sign);

/// The whole Authorization header value for `input` signed at `amz_date`.
Result<std::string> authorization(const SigningInput& input, std::string_view access_key_id,
                                  std::string_view secret_access_key, std::string_view amz_date,
                                  std::string_view region, std::string_view service);

}  // namespace stagecheck::s3
