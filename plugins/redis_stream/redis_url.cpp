// URL and duration parsing for the `redis_stream` check (see redis_url.hpp).

#include "redis_url.hpp"

#include <charconv>
#include <limits>

#include <fmt/format.h>

namespace stagecheck::redis {

namespace {

Error url_error(std::string_view text, std::string_view why) {
  return make_error(Errc::spec_error,
                    fmt::format("invalid Redis URL '{}': {}", redact_url_text(text), why));
}

/// Parses a whole string of decimal digits into [lo, hi].
std::optional<std::int64_t> parse_uint(std::string_view s, std::int64_t lo, std::int64_t hi) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

/// Percent-decodes URL user info; nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex(s[i + 1]);
    int lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

/// Splits `user:password@` off the front of `authority` (the part after `scheme://`).
Result<std::string_view> take_user_info(std::string_view text, std::string_view authority,
                                        RedisUrl& url) {
  std::size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return authority;
  std::string_view info = authority.substr(0, at);
  std::size_t colon = info.find(':');
  std::string_view user = colon == std::string_view::npos ? info : info.substr(0, colon);
  auto decoded_user = percent_decode(user);
  if (!decoded_user) return url_error(text, "bad percent-escape in the user name");
  url.user = *decoded_user;
  if (colon != std::string_view::npos) {
    auto decoded = percent_decode(info.substr(colon + 1));
    if (!decoded) return url_error(text, "bad percent-escape in the password");
    if (decoded->empty()) return url_error(text, "empty password after ':'");
    url.password = std::move(*decoded);
  }
  return authority.substr(at + 1);
}

}  // namespace

std::string RedisUrl::redacted() const {
  std::string info;
  if (password) {
    info = fmt::format("{}:***@", user);
  } else if (!user.empty()) {
    info = user + "@";
  }
  if (kind == Kind::unix_socket) {
    return fmt::format("unix://{}{}{}", info, path, db != 0 ? fmt::format("?db={}", db) : "");
  }
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return fmt::format("redis://{}{}:{}/{}", info, h, port, db);
}

std::string redact_url_text(std::string_view text) {
  std::size_t at = text.rfind('@');
  if (at == std::string_view::npos) return std::string(text);
  std::size_t scheme = text.find("://");
  std::size_t start = scheme == std::string_view::npos || scheme > at ? 0 : scheme + 3;
  return std::string(text.substr(0, start)) + "***" + std::string(text.substr(at));
}

Result<RedisUrl> parse_redis_url(std::string_view text) {
  RedisUrl url;
  if (text.empty()) return url_error(text, "empty (expected redis://host:port or unix:///path)");
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return url_error(text, "contains whitespace or a control character");
    }
  }
  if (text.rfind("rediss://", 0) == 0) {
    return url_error(text,
                     "TLS (rediss://) is not supported: this build uses hiredis 0.14, which has no "
                     "TLS; reach a TLS-only server through a local TLS tunnel (e.g. stunnel) and "
                     "give its redis:// address");
  }
  if (text.rfind("unix://", 0) == 0) {
    url.kind = RedisUrl::Kind::unix_socket;
    std::string_view rest = text.substr(7);
    std::string_view query;
    if (std::size_t q = rest.find('?'); q != std::string_view::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    auto path = take_user_info(text, rest, url);
    if (!path) return std::move(path).error();
    if (path->empty() || path->front() != '/') {
      return url_error(text, "expected an absolute socket path: unix:///path/to/redis.sock");
    }
    url.path = std::string(*path);
    if (!query.empty()) {
      if (query.rfind("db=", 0) != 0) {
        return url_error(text, "the only query parameter is db=N");
      }
      auto db = parse_uint(query.substr(3), 0, std::numeric_limits<int>::max());
      if (!db) return url_error(text, "db must be a non-negative integer");
      url.db = static_cast<int>(*db);
    }
    return url;
  }
  if (text.rfind("redis://", 0) != 0) {
    return url_error(text, "expected redis://[[user]:password@]host[:port][/db] or unix:///path");
  }
  std::string_view rest = text.substr(8);
  if (rest.find('?') != std::string_view::npos || rest.find('#') != std::string_view::npos) {
    return url_error(text, "query parameters and fragments are not supported");
  }
  // The authority ends at the first '/' after the user info (a password may hold '/' only
  // percent-encoded, but take the last '@' to be safe).
  std::size_t at = rest.rfind('@');
  std::size_t slash = rest.find('/', at == std::string_view::npos ? 0 : at);
  std::string_view authority = rest.substr(0, slash);
  std::string_view db_part = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  auto hostport = take_user_info(text, authority, url);
  if (!hostport) return std::move(hostport).error();
  std::string_view hp = *hostport;
  std::string_view port_text;
  if (!hp.empty() && hp.front() == '[') {
    std::size_t close = hp.find(']');
    if (close == std::string_view::npos) return url_error(text, "unterminated '[' in the host");
    url.host = std::string(hp.substr(1, close - 1));
    std::string_view after = hp.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return url_error(text, "expected ':PORT' after ']'");
      port_text = after.substr(1);
      if (port_text.empty()) return url_error(text, "empty port after ':'");
    }
  } else {
    std::size_t colon = hp.find(':');
    url.host = std::string(hp.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = hp.substr(colon + 1);
      if (port_text.empty()) return url_error(text, "empty port after ':'");
    }
  }
  if (url.host.empty()) return url_error(text, "no host");
  if (!port_text.empty()) {
    auto port = parse_uint(port_text, 1, 65535);
    if (!port) return url_error(text, "the port must be a number from 1 to 65535");
    url.port = static_cast<int>(*port);
  }
  if (!db_part.empty()) {
    auto db = parse_uint(db_part, 0, std::numeric_limits<int>::max());
    if (!db) return url_error(text, "the path must be a database number (/0, /1, ...)");
    url.db = static_cast<int>(*db);
  }
  return url;
}

Result<std::int64_t> parse_duration_ms(const nlohmann::json& value) {
  constexpr std::int64_t kMax = 366LL * 24 * 3600 * 1000;  // a year: anything larger is a typo
  auto too_large = [&] {
    return make_error(Errc::spec_error, "a duration of more than a year is not supported");
  };
  if (value.is_number_integer()) {
    if (value.is_number_unsigned() ? value.get<std::uint64_t>() > static_cast<std::uint64_t>(kMax)
                                   : value.get<std::int64_t>() > kMax) {
      return too_large();
    }
    std::int64_t v = value.get<std::int64_t>();
    if (v < 0) return make_error(Errc::spec_error, fmt::format("{} is negative", v));
    return v;
  }
  if (!value.is_string()) {
    return make_error(Errc::spec_error,
                      fmt::format("expected a duration (\"250ms\", \"30s\", \"5m\", \"1h\" or an "
                                  "integer of milliseconds), found {}",
                                  value.type_name()));
  }
  const std::string& s = value.get_ref<const std::string&>();
  std::size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  std::string_view unit = std::string_view(s).substr(digits);
  std::int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60 * 1000;
  } else if (unit == "h") {
    scale = 3600 * 1000;
  }
  auto number = parse_uint(std::string_view(s).substr(0, digits), 0, kMax);
  if (digits == 0 || scale == 0) {
    return make_error(
        Errc::spec_error,
        fmt::format("\"{}\" is not a duration (expected digits and a unit: \"250ms\", "
                    "\"30s\", \"5m\", \"1h\"; or an integer of milliseconds)",
                    s));
  }
  if (!number || *number > kMax / scale) return too_large();
  return *number * scale;
}

std::string format_duration_ms(std::int64_t ms) {
  if (ms != 0 && ms % (3600 * 1000) == 0) return fmt::format("{}h", ms / (3600 * 1000));
  if (ms != 0 && ms % (60 * 1000) == 0) return fmt::format("{}m", ms / (60 * 1000));
  if (ms != 0 && ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

}  // namespace stagecheck::redis
