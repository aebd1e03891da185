#include "certificate_scan.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>
#include <utility>

#include <fmt/format.h>

namespace stagecheck::certificate_fallback {

namespace {

/// Objects with more keys than this get a hash set for duplicate detection; below it a linear
/// scan over a few short keys is faster than hashing.
constexpr std::size_t kLinearKeyLimit = 48;

/// The class of a byte inside a JSON string.
enum StringByte : unsigned char { kPlain = 0, kQuote, kBackslash, kControl, kHigh };

constexpr std::array<unsigned char, 256> make_string_table() {
  std::array<unsigned char, 256> table{};
  for (unsigned c = 0; c < 256; ++c) {
    if (c < 0x20) {
      table[c] = kControl;
    } else if (c == '"') {
      table[c] = kQuote;
    } else if (c == '\\') {
      table[c] = kBackslash;
    } else if (c >= 0x80) {
      table[c] = kHigh;
    } else {
      table[c] = kPlain;
    }
  }
  return table;
}

constexpr std::array<unsigned char, 256> kStringTable = make_string_table();

bool is_space(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

/// Renders one byte for a message: printable ASCII as 'c', anything else as 0xNN.
std::string show_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return fmt::format("'{}'", c);
  return fmt::format("0x{:02X}", u);
}

/// Renders a key for a message: control bytes escaped, long keys cut.
std::string show_key(std::string_view key) {
  std::string out;
  for (const char c : key) {
    // Cut only before a character's first byte: the message must stay valid UTF-8 (a key that
    // reaches here decoded to valid UTF-8).
    if (out.size() >= 80 && (static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

const char* describe(JsonKind kind) noexcept {
  switch (kind) {
    case JsonKind::absent:
      return "absent";
    case JsonKind::null:
      return "null";
    case JsonKind::boolean:
      return "a boolean";
    case JsonKind::number:
      return "a number";
    case JsonKind::string:
      return "a string";
    case JsonKind::array:
      return "an array";
    case JsonKind::object:
      return "an object";
  }
  return "unknown";
}

CertificateScanner::CertificateScanner(std::vector<std::string> names, int max_depth)
    : names_(std::move(names)), max_depth_(max_depth), fields_(names_.size()) {}

std::optional<ScanFailure> CertificateScanner::scan(std::string_view text) {
  begin_ = text.data();
  p_ = begin_;
  end_ = begin_ + text.size();
  frames_.clear();
  keys_.clear();
  decoded_keys_.clear();
  for (ScannedField& field : fields_) {
    field.kind = JsonKind::absent;
    field.boolean = false;
    field.text.clear();
  }
  root_kind_ = JsonKind::absent;
  failure_.reset();
  if (!run()) {
    // Nothing partial is reported for a refused document.
    for (ScannedField& field : fields_) field.kind = JsonKind::absent;
    root_kind_ = JsonKind::absent;
    if (!failure_) failure_ = ScanFailure{0, "the scanner stopped without a reason", false};
    return std::move(failure_);
  }
  return std::nullopt;
}

bool CertificateScanner::fail(const char* at, std::string reason) {
  failure_ = ScanFailure{static_cast<std::size_t>(at - begin_) + 1, std::move(reason), false};
  return false;
}

bool CertificateScanner::fail_truncated(std::string what) {
  failure_ = ScanFailure{static_cast<std::size_t>(end_ - begin_) + 1,
                         fmt::format("unexpected end of input: {} (truncated?)", what), true};
  return false;
}

void CertificateScanner::skip_space() noexcept {
  while (p_ != end_ && is_space(*p_)) ++p_;
}

bool CertificateScanner::run() {
  // parse_json refuses a byte order mark too: many consumers (Python's json.loads) do.
  if (end_ - p_ >= 3 && static_cast<unsigned char>(p_[0]) == 0xEF &&
      static_cast<unsigned char>(p_[1]) == 0xBB && static_cast<unsigned char>(p_[2]) == 0xBF) {
    return fail(p_, "starts with a UTF-8 byte order mark, which JSON does not allow");
  }
  skip_space();
  if (p_ == end_) {
    return fail(p_, begin_ == end_ ? "empty file, expected a JSON document"
                                   : "only whitespace, expected a JSON document");
  }
  // An explicit stack of frames instead of recursion: hostile nesting is bounded by
  // max_depth, not by the thread's stack.
  int capture = -1;  // The field the next value belongs to, or -1.
  for (;;) {
    // A value starts at p_ (whitespace skipped). Containers that open here either continue
    // with their first element/member or close at once.
    if (p_ == end_) return fail_truncated("expected a value");
    const char c = *p_;
    if (c == '{' || c == '[') {
      const bool object = c == '{';
      if (!open(object, capture)) return false;
      ++p_;
      skip_space();
      if (p_ == end_) return fail_truncated(object ? "expected a key or '}'" : "expected a value");
      if (*p_ == (object ? '}' : ']')) {
        ++p_;
        close();
      } else {
        capture = -1;
        if (object && !member_key(capture)) return false;
        continue;  // Scan the first member's value or the first element.
      }
    } else if (!value_start(capture)) {
      return false;
    }
    capture = -1;
    // After a value: separators and closing brackets until the next value or the end.
    for (;;) {
      skip_space();
      if (frames_.empty()) {
        if (p_ != end_)
          return fail(p_, fmt::format("unexpected {} after the document", show_byte(*p_)));
        return true;
      }
      const bool object = frames_.back().object;
      if (p_ == end_) {
        return fail_truncated(object ? "expected ',' or '}'" : "expected ',' or ']'");
      }
      if (*p_ == ',') {
        ++p_;
        skip_space();
        if (object && !member_key(capture)) return false;
        break;  // Scan the next value.
      }
      if (*p_ == (object ? '}' : ']')) {
        ++p_;
        close();
        continue;
      }
      return fail(
          p_, fmt::format("expected ',' or '{}', found {}", object ? '}' : ']', show_byte(*p_)));
    }
  }
}

/// A scalar value at p_.
bool CertificateScanner::value_start(int& capture) {
  const char c = *p_;
  if (frames_.empty()) {
    root_kind_ = c == '"'                  ? JsonKind::string
                 : c == 't' || c == 'f'    ? JsonKind::boolean
                 : c == 'n'                ? JsonKind::null
                 : c == '-' || is_digit(c) ? JsonKind::number
                                           : JsonKind::absent;
  }
  switch (c) {
    case '"': {
      bool escaped = false;
      if (capture < 0) return string(nullptr, nullptr, escaped);
      ScannedField& field = fields_[static_cast<std::size_t>(capture)];
      field.kind = JsonKind::string;
      return string(&field.text, nullptr, escaped);
    }
    case 't':
      return literal("true", capture);
    case 'f':
      return literal("false", capture);
    case 'n':
      return literal("null", capture);
    default:
      if (c == '-' || is_digit(c)) return number(capture);
      return fail(p_, fmt::format("expected a value, found {}", show_byte(c)));
  }
}

bool CertificateScanner::open(bool object, int capture) {
  if (frames_.size() >= static_cast<std::size_t>(std::max(max_depth_, 0))) {
    return fail(p_, fmt::format("nested deeper than {} levels", max_depth_));
  }
  const JsonKind kind = object ? JsonKind::object : JsonKind::array;
  if (frames_.empty()) root_kind_ = kind;
  if (capture >= 0) fields_[static_cast<std::size_t>(capture)].kind = kind;
  Frame& frame = frames_.emplace_back();
  frame.object = object;
  frame.keys_begin = keys_.size();
  return true;
}

void CertificateScanner::close() {
  keys_.resize(frames_.back().keys_begin);
  frames_.pop_back();
}

/// A member's key, its ':' and the whitespace before the value; sets `capture` when the key is
/// a wanted field of the root object.
bool CertificateScanner::member_key(int& capture) {
  if (p_ == end_) return fail_truncated("expected a key");
  if (*p_ != '"') return fail(p_, fmt::format("expected a string key, found {}", show_byte(*p_)));
  const char* at = p_;
  std::string_view raw;
  bool escaped = false;
  if (!string(nullptr, &raw, escaped)) return false;
  std::string_view key = raw;
  if (escaped) {
    // Keys compare by their decoded text, as parse_json does ("a" and "\u0061" collide).
    std::string& decoded = decoded_keys_.emplace_back();
    const char* after = p_;
    p_ = at;
    bool again = false;
    if (!string(&decoded, nullptr, again)) return false;
    p_ = after;
    key = decoded;
  }
  if (!add_key(key, at)) return false;
  capture = -1;
  if (frames_.size() == 1) {
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == key) {
        capture = static_cast<int>(i);
        break;
      }
    }
  }
  skip_space();
  if (p_ == end_) return fail_truncated("expected ':'");
  if (*p_ != ':')
    return fail(p_, fmt::format("expected ':' after a key, found {}", show_byte(*p_)));
  ++p_;
  skip_space();
  return true;
}

bool CertificateScanner::add_key(std::string_view key, const char* at) {
  Frame& frame = frames_.back();
  if (frame.key_set) {
    if (!frame.key_set->insert(key).second) {
      return fail(at, fmt::format("duplicate key '{}'", show_key(key)));
    }
    keys_.push_back(key);
    return true;
  }
  for (std::size_t i = frame.keys_begin; i < keys_.size(); ++i) {
    if (keys_[i] == key) return fail(at, fmt::format("duplicate key '{}'", show_key(key)));
  }
  keys_.push_back(key);
  if (keys_.size() - frame.keys_begin > kLinearKeyLimit) {
    frame.key_set = std::make_unique<std::unordered_set<std::string_view>>(
        keys_.begin() + static_cast<std::ptrdiff_t>(frame.keys_begin), keys_.end());
  }
  return true;
}

/// A string at p_ (the opening quote). Appends the decoded text to `out` if given, and sets
/// `raw` to the bytes between the quotes if given; `escaped` tells whether they held escapes.
bool CertificateScanner::string(std::string* out, std::string_view* raw, bool& escaped) {
  ++p_;
  const char* start = p_;
  const char* segment = p_;
  escaped = false;
  for (;;) {
    while (p_ != end_ && kStringTable[static_cast<unsigned char>(*p_)] == kPlain) ++p_;
    if (p_ == end_) return fail_truncated("unterminated string");
    switch (kStringTable[static_cast<unsigned char>(*p_)]) {
      case kQuote:
        if (out != nullptr) out->append(segment, p_);
        if (raw != nullptr) *raw = std::string_view(start, static_cast<std::size_t>(p_ - start));
        ++p_;
        return true;
      case kBackslash:
        escaped = true;
        if (out != nullptr) out->append(segment, p_);
        if (!escape(out)) return false;
        segment = p_;
        break;
      case kControl:
        return fail(p_, fmt::format("control character U+{:04X} in a string must be escaped",
                                    static_cast<unsigned char>(*p_)));
      default:  // kHigh
        if (!utf8_sequence()) return false;
        break;
    }
  }
}

/// An escape at p_ (the backslash).
bool CertificateScanner::escape(std::string* out) {
  const char* at = p_;
  ++p_;
  if (p_ == end_) return fail_truncated("unterminated escape");
  const char c = *p_++;
  char plain = 0;
  switch (c) {
    case '"':
      plain = '"';
      break;
    case '\\':
      plain = '\\';
      break;
    case '/':
      plain = '/';
      break;
    case 'b':
      plain = '\b';
      break;
    case 'f':
      plain = '\f';
      break;
    case 'n':
      plain = '\n';
      break;
    case 'r':
      plain = '\r';
      break;
    case 't':
      plain = '\t';
      break;
    case 'u': {
      unsigned cp = 0;
      if (!hex4(cp)) return false;
      if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return fail(at, "a low surrogate (\\uDC00-\\uDFFF) must follow a high surrogate");
      }
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end_ - p_ < 2) {
          if (p_ == end_ || (end_ - p_ == 1 && *p_ == '\\')) {
            return fail_truncated("unterminated surrogate pair");
          }
          return fail(at, "a high surrogate (\\uD800-\\uDBFF) must be followed by a low one");
        }
        if (p_[0] != '\\' || p_[1] != 'u') {
          return fail(at, "a high surrogate (\\uD800-\\uDBFF) must be followed by a low one");
        }
        p_ += 2;
        unsigned low = 0;
        if (!hex4(low)) return false;
        if (low < 0xDC00 || low > 0xDFFF) {
          return fail(at, "a high surrogate (\\uD800-\\uDBFF) must be followed by a low one");
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      }
      if (out != nullptr) append_utf8(*out, cp);
      return true;
    }
    default:
      return fail(at, fmt::format("invalid escape '\\{}'", show_byte(c)));
  }
  if (out != nullptr) *out += plain;
  return true;
}

bool CertificateScanner::hex4(unsigned& value) {
  value = 0;
  for (int i = 0; i < 4; ++i) {
    if (p_ == end_) return fail_truncated("unterminated \\u escape");
    const char c = *p_;
    unsigned digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<unsigned>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return fail(p_, fmt::format("invalid hex digit {} in a \\u escape", show_byte(c)));
    }
    value = value * 16 + digit;
    ++p_;
  }
  return true;
}

/// One UTF-8 sequence at p_ (a byte >= 0x80), validated as RFC 3629 requires: no overlong
/// forms, no surrogates, nothing above U+10FFFF.
bool CertificateScanner::utf8_sequence() {
  const auto b0 = static_cast<unsigned char>(*p_);
  unsigned char lo = 0x80, hi = 0xBF;  // The range of the second byte.
  int length = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 == 0xE0) {
    length = 3;
    lo = 0xA0;
  } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
    length = 3;
  } else if (b0 == 0xED) {
    length = 3;
    hi = 0x9F;
  } else if (b0 == 0xF0) {
    length = 4;
    lo = 0x90;
  } else if (b0 >= 0xF1 && b0 <= 0xF3) {
    length = 4;
  } else if (b0 == 0xF4) {
    length = 4;
    hi = 0x8F;
  } else {
    return fail(p_, fmt::format("invalid UTF-8 byte 0x{:02X} in a string", b0));
  }
  const char* at = p_;
  for (int i = 1; i < length; ++i) {
    if (at + i == end_) return fail_truncated("incomplete UTF-8 sequence");
    const auto b = static_cast<unsigned char>(at[i]);
    const unsigned char min = i == 1 ? lo : 0x80;
    const unsigned char max = i == 1 ? hi : 0xBF;
    if (b < min || b > max) {
      return fail(at + i, fmt::format("invalid UTF-8 sequence in a string (byte 0x{:02X})", b));
    }
  }
  p_ += length;
  return true;
}

/// A number at p_: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, within the double range.
bool CertificateScanner::number(int capture) {
  const char* start = p_;
  if (*p_ == '-') ++p_;
  if (p_ == end_) return fail_truncated("expected a digit after '-'");
  std::size_t int_digits = 0;
  if (*p_ == '0') {
    ++p_;
    int_digits = 1;
  } else if (is_digit(*p_)) {
    while (p_ != end_ && is_digit(*p_)) {
      ++p_;
      ++int_digits;
    }
  } else {
    return fail(p_, fmt::format("expected a digit after '-', found {}", show_byte(*p_)));
  }
  bool exponent = false;
  if (p_ != end_ && *p_ == '.') {
    ++p_;
    if (p_ == end_) return fail_truncated("expected a digit after '.'");
    if (!is_digit(*p_)) {
      return fail(p_, fmt::format("expected a digit after '.', found {}", show_byte(*p_)));
    }
    while (p_ != end_ && is_digit(*p_)) ++p_;
  }
  if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
    exponent = true;
    ++p_;
    if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    if (p_ == end_) return fail_truncated("expected a digit in the exponent");
    if (!is_digit(*p_)) {
      return fail(p_, fmt::format("expected a digit in the exponent, found {}", show_byte(*p_)));
    }
    while (p_ != end_ && is_digit(*p_)) ++p_;
  }
  const std::string_view token(start, static_cast<std::size_t>(p_ - start));
  // Without an exponent, only a literal of more than 308 integer digits can overflow a double.
  if ((exponent || int_digits > 300) && !number_in_range(token)) {
    return fail(start, fmt::format("number out of range '{}'", token.substr(0, kMaxNumberText)));
  }
  if (capture >= 0) {
    ScannedField& field = fields_[static_cast<std::size_t>(capture)];
    field.kind = JsonKind::number;
    field.text.assign(token.substr(0, kMaxNumberText));
  }
  return true;
}

/// True unless the literal overflows a double (parse_json refuses those; an underflow to zero
/// or a subnormal is a finite value and accepted, as there).
bool CertificateScanner::number_in_range(std::string_view token) const {
  double value = 0;
  const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (ec == std::errc() && ptr == token.data() + token.size()) return std::isfinite(value);
  if (ec != std::errc::result_out_of_range) return false;
  // Out of range either way: decide overflow from the decimal magnitude of the leading digit.
  std::string_view s = token;
  if (!s.empty() && s.front() == '-') s.remove_prefix(1);
  const std::size_t e = s.find_first_of("eE");
  const std::string_view mantissa = s.substr(0, e);
  long long magnitude = 0;
  const std::size_t dot = mantissa.find('.');
  const std::string_view whole = mantissa.substr(0, dot);
  if (whole != "0") {
    magnitude = static_cast<long long>(whole.size()) - 1;
  } else {
    const std::string_view fraction =
        dot == std::string_view::npos ? std::string_view{} : mantissa.substr(dot + 1);
    const std::size_t first = fraction.find_first_not_of('0');
    if (first == std::string_view::npos) return true;  // Zero is never out of range.
    magnitude = -static_cast<long long>(first) - 1;
  }
  long long exp = 0;
  if (e != std::string_view::npos) {
    std::string_view digits = s.substr(e + 1);
    bool negative = false;
    if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) {
      negative = digits.front() == '-';
      digits.remove_prefix(1);
    }
    for (const char d : digits) {
      exp = std::min<long long>(exp * 10 + (d - '0'), 1'000'000'000);  // Saturate.
    }
    if (negative) exp = -exp;
  }
  return magnitude + exp <= 0;
}

/// true, false or null at p_.
bool CertificateScanner::literal(std::string_view word, int capture) {
  const auto available = static_cast<std::size_t>(end_ - p_);
  if (available < word.size()) {
    if (std::string_view(p_, available) == word.substr(0, available)) {
      return fail_truncated(fmt::format("incomplete literal '{}'", word));
    }
    return fail(p_, fmt::format("invalid literal, expected '{}'", word));
  }
  if (std::string_view(p_, word.size()) != word) {
    return fail(p_, fmt::format("invalid literal, expected '{}'", word));
  }
  p_ += word.size();
  if (capture >= 0) {
    ScannedField& field = fields_[static_cast<std::size_t>(capture)];
    if (word == "null") {
      field.kind = JsonKind::null;
    } else {
      field.kind = JsonKind::boolean;
      field.boolean = word == "true";
    }
  }
  return true;
}

}  // namespace stagecheck::certificate_fallback
