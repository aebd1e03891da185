#pragma once
// Internal: text and JSON helpers shared by the stores, parsers and reporters.

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace stagecheck::detail {

/// Renders text for a message with control bytes escaped (\xNN), so that a hostile file name
/// or key cannot forge or cut short the message around it; cut to `max_chars` with "...".
std::string printable(std::string_view text, std::size_t max_chars = std::string::npos);

/// Replaces NaN and infinities, recursively, by the strings "NaN", "Infinity", "-Infinity":
/// nlohmann prints them as null, which would hide the very value that failed a check.
void preserve_non_finite(nlohmann::json& value);

/// The current time as RFC 3339 UTC with milliseconds, e.g. "2026-11-22T10:41:00.000Z".
std::string utc_now_rfc3339();

/// FNV-1a 64 of `text`: a stable, platform-independent hash (spec hashes, scene shards).
std::uint64_t fnv1a64(std::string_view text) noexcept;

/// The time now in UTC, RFC 3339 to the second ("2026-12-07T19:00:00Z"): marker timestamps.
std::string utc_now_seconds();

/// A Prometheus (and Alertmanager) label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__".
bool valid_label_name(std::string_view name);

}  // namespace stagecheck::detail
