#pragma once
/// \file
/// Connection URLs and durations for the `redis_stream` check: parsed and validated when the
/// spec loads, so a bad URL is a spec error (exit 2), and redacted wherever they are shown.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <stagecheck/result.hpp>

namespace stagecheck::redis {

/// Where and how to connect. Holds the password in memory only; never print it: use
/// redacted().
struct RedisUrl {
  enum class Kind { tcp, unix_socket };
  Kind kind = Kind::tcp;
  std::string host;                     ///< tcp: host name or address (IPv6 without brackets).
  int port = 6379;                      ///< tcp: port.
  std::string path;                     ///< unix_socket: absolute socket path.
  int db = 0;                           ///< Database index (SELECT when not 0).
  std::string user;                     ///< ACL user (empty: the default user).
  std::optional<std::string> password;  ///< From the URL's user info, percent-decoded.

  /// The URL as it may be shown: `redis://user:***@host:port/db`, `unix:///path?db=N`.
  std::string redacted() const;
};

/// Parses `redis://[[user]:password@]host[:port][/db]` (IPv6 hosts in brackets) and
/// `unix://[[user]:password@]/abs/path[?db=N]`. `rediss://` is refused: hiredis 0.14, the
/// version Debian 12 ships, has no TLS. Errors (Errc::spec_error) never contain the password.
Result<RedisUrl> parse_redis_url(std::string_view text);

/// `text` with any user info (between `://` or the start and the last '@') replaced by ***,
/// for messages about a URL that could not be parsed.
std::string redact_url_text(std::string_view text);

/// A duration parameter: a non-negative YAML integer (milliseconds), or a string of digits
/// with a unit `ms`, `s`, `m` or `h` ("250ms", "30s", "5m", "1h"). Returns milliseconds;
/// Errc::spec_error (message without the parameter name) otherwise.
Result<std::int64_t> parse_duration_ms(const nlohmann::json& value);

/// Milliseconds as the shortest exact unit ("30s", "5m", "250ms").
std::string format_duration_ms(std::int64_t ms);

}  // namespace stagecheck::redis
