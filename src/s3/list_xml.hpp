#pragma once
// Internal: a small strict XML reader for exactly the S3 responses the store needs:
// ListObjectsV2 pages and error documents.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/bucket_store.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck::s3 {

/// ListObjectsV2 pages are the object stores' listing pages.
using objstore::ListedObject;
using objstore::ListPage;

/// Parses a ListBucketResult document. Errc::malformed (naming what is wrong) for anything that
/// is not well-formed XML with that root, a Contents without Key or with a Size that is not a
/// number, a truncated page without a continuation token, or a DOCTYPE (no entity expansion).
Result<ListPage> parse_list_page(std::string_view xml);

/// The Code and Message of an S3 <Error> document; empty strings if it is not one.
struct ErrorDocument {
  std::string code;
  std::string message;
};
ErrorDocument parse_error_document(std::string_view xml);

/// Replaces XML's five named entities and numeric character references (as UTF-8).
/// Errc::malformed for an unknown entity or an invalid code point.
Result<std::string> decode_entities(std::string_view text);

/// Parses an ISO 8601 UTC time as S3 writes it ("2026-11-22T13:09:18.000Z") to ns since the
/// epoch; nullopt-like -1 on a format it does not know.
std::int64_t parse_iso8601_ns(std::string_view text);

}  // namespace stagecheck::s3
