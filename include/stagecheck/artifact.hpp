#pragma once
/// \file
/// Artifact: a named path in a store, with typed, size- and depth-limited loaders.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/export.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck {

/// How an artifact's bytes are interpreted.
enum class Format {
  json,   ///< One JSON document.
  jsonl,  ///< JSON Lines: one document per non-empty line; loaded as an array.
  yaml,   ///< One YAML document, converted to JSON values.
  bytes,  ///< Raw bytes (loaded as a JSON string only by the `text` view).
};

STAGECHECK_API std::string_view to_string(Format format) noexcept;
STAGECHECK_API std::optional<Format> parse_format(std::string_view text) noexcept;
/// Guesses the format from a path's extension: .json, .jsonl/.ndjson, .yaml/.yml, else bytes.
STAGECHECK_API Format format_from_path(std::string_view path) noexcept;

/// Limits every loader honours, so that hostile input fails a check instead of the process.
struct LoadLimits {
  std::uint64_t max_bytes = 64ull << 20;  ///< Largest object read whole (default 64 MiB).
  int max_depth = 256;                    ///< Deepest nesting of arrays/objects accepted.
};

/// Parses one JSON document strictly: no trailing data, no duplicate keys, no number outside
/// the double range, no nesting deeper than `limits.max_depth` (checked without recursion).
/// Errors are Errc::malformed and name `what` (the artifact path), the byte offset and why.
STAGECHECK_API Result<nlohmann::json> parse_json(std::string_view text, std::string_view what,
                                                 const LoadLimits& limits = {});

/// Parses JSON Lines (blank lines ignored) into an array; an error names the line number.
STAGECHECK_API Result<nlohmann::json> parse_json_lines(std::string_view text, std::string_view what,
                                                       const LoadLimits& limits = {});

/// Parses one YAML document into JSON values (scalars keep YAML 1.2 core types: true/false,
/// null/~, integers and floats; everything else is a string). Errors name line and column.
STAGECHECK_API Result<nlohmann::json> parse_yaml(std::string_view text, std::string_view what,
                                                 const LoadLimits& limits = {});

/// A named path in a store plus typed loaders. Cheap to copy; refers to the store, which must
/// outlive it.
class STAGECHECK_API Artifact {
 public:
  Artifact(std::string name, std::string path, Format format, const Store& store,
           LoadLimits limits = {});

  const std::string& name() const noexcept { return name_; }
  const std::string& path() const noexcept { return path_; }
  Format format() const noexcept { return format_; }
  const LoadLimits& limits() const noexcept { return limits_; }
  const Store& store() const noexcept { return *store_; }

  Result<ObjectInfo> stat() const;
  Result<bool> exists() const;
  /// The raw bytes, at most limits().max_bytes.
  Result<std::string> bytes() const;
  /// The document as JSON, using format() (json, jsonl as an array, yaml converted).
  /// Errc::invalid_argument for Format::bytes.
  Result<nlohmann::json> load() const;
  /// The bytes parsed as `format`, whatever format() says.
  Result<nlohmann::json> load_as(Format format) const;

 private:
  std::string name_;
  std::string path_;
  Format format_;
  const Store* store_;
  LoadLimits limits_;
};

}  // namespace stagecheck
