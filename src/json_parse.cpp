// JSON, JSON Lines and YAML loading with hard limits, plus Format names.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <yaml-cpp/depthguard.h>  // YAML::DeepRecursion (not included by yaml.h in 0.7)
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>
#include "text_util.hpp"
#include "yaml_convert.hpp"

#include "stagecheck/artifact.hpp"

namespace stagecheck {

namespace {

using Json = nlohmann::json;

/// Renders text for an error message: control bytes escaped, long text cut, so that a hostile
/// key cannot forge or flood the message.
std::string printable(std::string_view text, std::size_t max_chars = 80) {
  return detail::printable(text, max_chars);
}

// ---------------------------------------------------------------------------------------------
// JSON

/// A forward iterator over the input that publishes how many bytes the parser has consumed,
/// so that errors the SAX handler raises itself (duplicate key, depth) can name a byte offset;
/// nlohmann only passes the position to parse_error().
class CountingIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator() = default;
  CountingIterator(const char* base, const char* current, std::size_t* consumed)
      : base_(base), current_(current), consumed_(consumed) {}

  reference operator*() const { return *current_; }
  CountingIterator& operator++() {
    ++current_;
    *consumed_ = static_cast<std::size_t>(current_ - base_);
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator before = *this;
    ++*this;
    return before;
  }
  bool operator==(const CountingIterator& other) const { return current_ == other.current_; }

 private:
  const char* base_ = nullptr;
  const char* current_ = nullptr;
  std::size_t* consumed_ = nullptr;
};

/// Why a JSON text was refused, before the artifact name and line are attached.
struct JsonFailure {
  std::size_t byte = 0;  ///< Bytes consumed when the problem was found (1-based position).
  std::string reason;    ///< What is wrong.
  bool syntax = false;   ///< A grammar error reported by nlohmann (else one of our limits).
};

/// Builds the document from SAX events (nlohmann's SAX parser is iterative, so hostile nesting
/// cannot overflow the stack), enforcing the limits while building: depth, duplicate keys,
/// finite numbers. Containers under construction are kept on an explicit stack of pointers;
/// they stay valid because a parent only grows after its open child is closed.
class DomBuilder {
 public:
  DomBuilder(const std::size_t* consumed, int max_depth)
      : consumed_(consumed), max_depth_(max_depth) {}

  bool null() {
    put(Json(nullptr));
    return true;
  }
  bool boolean(bool value) {
    put(Json(value));
    return true;
  }
  bool number_integer(Json::number_integer_t value) {
    put(Json(value));
    return true;
  }
  bool number_unsigned(Json::number_unsigned_t value) {
    put(Json(value));
    return true;
  }
  bool number_float(Json::number_float_t value, const Json::string_t& text) {
    // nlohmann already refuses an overflowing literal (error 406); this is the backstop.
    if (!std::isfinite(value))
      return fail(fmt::format("number out of range '{}'", printable(text)));
    put(Json(value));
    return true;
  }
  bool string(Json::string_t& value) {
    put(Json(std::move(value)));
    return true;
  }
  bool binary(Json::binary_t& /*value*/) { return fail("binary value in a JSON text"); }

  bool start_object(std::size_t /*elements*/) { return open(Json::object()); }
  bool key(Json::string_t& name) {
    auto& object = stack_.back()->get_ref<Json::object_t&>();
    auto [slot, inserted] = object.emplace(std::move(name), nullptr);
    if (!inserted) return fail(fmt::format("duplicate key '{}'", printable(slot->first)));
    slot_ = &slot->second;
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t /*elements*/) { return open(Json::array()); }
  bool end_array() {
    stack_.pop_back();
    return true;
  }

  bool parse_error(std::size_t position, const std::string& last_token, const Json::exception& ex) {
    failure_.byte = position;
    if (ex.id == 406) {  // out_of_range: a number literal beyond the double range.
      failure_.reason = fmt::format("number out of range '{}'", printable(last_token));
      failure_.syntax = false;
    } else {
      failure_.reason = strip_exception_prefix(ex.what());
      failure_.syntax = true;
    }
    failed_ = true;
    return false;
  }

  bool failed() const { return failed_; }
  JsonFailure& failure() { return failure_; }
  Json& root() { return root_; }

 private:
  /// nlohmann messages start with "[json.exception.parse_error.101] "; the id means nothing
  /// to a reader of the report.
  static std::string strip_exception_prefix(std::string_view message) {
    if (!message.empty() && message.front() == '[') {
      const std::size_t close = message.find("] ");
      if (close != std::string_view::npos) message.remove_prefix(close + 2);
    }
    return std::string(message);
  }

  bool fail(std::string reason) {
    failure_.byte = *consumed_;
    failure_.reason = std::move(reason);
    failure_.syntax = false;
    failed_ = true;
    return false;
  }

  bool open(Json container) {
    if (stack_.size() >= static_cast<std::size_t>(std::max(max_depth_, 0))) {
      return fail(fmt::format("nested deeper than {} levels", max_depth_));
    }
    Json* placed = put(std::move(container));
    stack_.push_back(placed);
    return true;
  }

  /// Places a value where the grammar says it goes; returns where it now lives.
  Json* put(Json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Json* parent = stack_.back();
    if (parent->is_array()) {
      auto& array = parent->get_ref<Json::array_t&>();
      array.push_back(std::move(value));
      return &array.back();
    }
    *slot_ = std::move(value);
    return slot_;
  }

  const std::size_t* consumed_;
  int max_depth_;
  Json root_;
  std::vector<Json*> stack_;
  Json* slot_ = nullptr;
  bool failed_ = false;
  JsonFailure failure_;
};

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/// Parses one JSON text (already known not to be blank) under `limits`; on failure returns
/// nothing and says why in `failure`.
std::optional<Json> parse_json_text(std::string_view text, const LoadLimits& limits,
                                    JsonFailure& failure) {
  // A BOM is refused although RFC 8259 lets parsers ignore it: the consumers a pipeline feeds
  // often do not (Python's json.loads raises "Unexpected UTF-8 BOM"), so a file that starts
  // with one is the kind of defect a stage check should catch, not hide.
  if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) {
    failure = {1, "starts with a UTF-8 byte order mark, which JSON does not allow", false};
    return std::nullopt;
  }
  std::size_t consumed = 0;
  DomBuilder builder(&consumed, limits.max_depth);
  const CountingIterator first(text.data(), text.data(), &consumed);
  const CountingIterator last(text.data(), text.data() + text.size(), &consumed);
  // strict: the document must be followed only by whitespace; no comments.
  const bool ok = Json::sax_parse(first, last, &builder, nlohmann::detail::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/false);
  if (!ok || builder.failed()) {
    failure = std::move(builder.failure());
    if (failure.reason.empty()) failure.reason = "the parser stopped without a reason";
    return std::nullopt;
  }
  return std::move(builder.root());
}

/// "'what': malformed JSON at byte N: <parser message>" for grammar errors and
/// "'what': malformed JSON: <reason> at byte N" for our limits; JSON Lines add the line.
std::string json_failure_message(std::string_view what, std::optional<std::size_t> line,
                                 const JsonFailure& failure) {
  const std::string name = printable(what, 400);
  if (failure.syntax) {
    if (!line) {
      return fmt::format("'{}': malformed JSON at byte {}: {}", name, failure.byte, failure.reason);
    }
    // The parser saw one line, so its own "line 1, column N" would mislead; drop it.
    std::string_view reason = failure.reason;
    if (reason.rfind("parse error at line ", 0) == 0) {
      const std::size_t colon = reason.find(": ");
      if (colon != std::string_view::npos) reason.remove_prefix(colon + 2);
    }
    return fmt::format("'{}': malformed JSON at line {}, byte {}: {}", name, *line, failure.byte,
                       reason);
  }
  if (!line) {
    return fmt::format("'{}': malformed JSON: {} at byte {}", name, failure.reason, failure.byte);
  }
  return fmt::format("'{}': malformed JSON at line {}: {} at byte {}", name, *line, failure.reason,
                     failure.byte);
}

// ---------------------------------------------------------------------------------------------
// YAML

bool all_of(std::string_view text, bool (*pred)(char)) {
  return !text.empty() && std::all_of(text.begin(), text.end(), pred);
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_octal_digit(char c) { return c >= '0' && c <= '7'; }
bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/// [-+]?[0-9]+ (YAML 1.2 core schema, decimal int).
bool is_decimal_int(std::string_view s) {
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  return all_of(s, is_digit);
}

/// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? (YAML 1.2 core schema, float).
bool is_decimal_float(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  const std::size_t int_start = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  const bool has_int = i > int_start;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t frac_start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (!has_int && i == frac_start) return false;
  } else if (!has_int) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    const std::size_t exp_start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i == exp_start) return false;
  }
  return i == s.size();
}

bool is_null_word(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}
std::optional<bool> bool_word(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}
std::optional<double> special_float(std::string_view s) {
  std::string_view body = s;
  double sign = 1.0;
  if (!body.empty() && (body.front() == '-' || body.front() == '+')) {
    sign = body.front() == '-' ? -1.0 : 1.0;
    body.remove_prefix(1);
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    return sign * std::numeric_limits<double>::infinity();
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return std::numeric_limits<double>::quiet_NaN();
  return std::nullopt;
}

/// A decimal float literal (already matched by is_decimal_float) as a double; nullopt if its
/// magnitude is beyond the double range. Underflow rounds towards zero, as strtod does.
std::optional<double> to_double(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);  // from_chars takes no '+'.
  double value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec == std::errc() && end == s.data() + s.size()) return value;
  if (ec != std::errc::result_out_of_range) return std::nullopt;
  // Out of range either way; long double tells overflow from underflow.
  long double wide = 0;
  const auto [wide_end, wide_ec] = std::from_chars(s.data(), s.data() + s.size(), wide);
  if (wide_ec == std::errc() && wide_end == s.data() + s.size() &&
      std::fabs(wide) <= static_cast<long double>(std::numeric_limits<double>::max())) {
    return static_cast<double>(wide);
  }
  if (wide_ec == std::errc::result_out_of_range) {
    // Beyond even long double: overflow unless the exponent is negative.
    const std::size_t e = s.find_first_of("eE");
    if (e != std::string_view::npos && e + 1 < s.size() && s[e + 1] == '-') {
      return s.front() == '-' ? -0.0 : 0.0;
    }
  }
  return std::nullopt;
}

/// An integer literal: int64 when it fits, else the nearest double (choice: a number stays a
/// number, as in JSON parsers, rather than becoming a string). nullopt if beyond the double
/// range. `base` is 10, 16 or 8; `digits` excludes the 0x / 0o prefix.
std::optional<Json> to_integer(std::string_view digits, int base) {
  std::string_view unsigned_part = digits;
  bool negative = false;
  if (base == 10 && !unsigned_part.empty() &&
      (unsigned_part.front() == '-' || unsigned_part.front() == '+')) {
    negative = unsigned_part.front() == '-';
    unsigned_part.remove_prefix(1);
  }
  std::uint64_t magnitude = 0;
  const auto [end, ec] = std::from_chars(
      unsigned_part.data(), unsigned_part.data() + unsigned_part.size(), magnitude, base);
  if (ec == std::errc() && end == unsigned_part.data() + unsigned_part.size()) {
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (!negative && magnitude <= kMax) return Json(static_cast<std::int64_t>(magnitude));
    if (negative && magnitude <= kMax + 1) {
      // -(2^63) is representable; negate in unsigned arithmetic to avoid signed overflow.
      return Json(static_cast<std::int64_t>(~magnitude + 1));
    }
  }
  double value = 0;
  if (base == 10) {
    const std::optional<double> d = to_double(digits);
    if (!d) return std::nullopt;
    value = *d;
  } else {
    for (const char c : unsigned_part) {
      const int digit = is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
      value = value * base + digit;
    }
  }
  if (!std::isfinite(value)) return std::nullopt;
  return Json(value);
}

/// The YAML 1.2 core schema's reading of a plain (unquoted) scalar; nullopt if the text is a
/// number beyond the double range.
std::optional<Json> resolve_plain(const std::string& text) {
  if (is_null_word(text)) return Json(nullptr);
  if (const std::optional<bool> b = bool_word(text)) return Json(*b);
  if (is_decimal_int(text)) return to_integer(text, 10);
  const std::string_view s = text;
  if (s.size() > 2 && s.substr(0, 2) == "0x" && all_of(s.substr(2), is_hex_digit)) {
    return to_integer(s.substr(2), 16);
  }
  if (s.size() > 2 && s.substr(0, 2) == "0o" && all_of(s.substr(2), is_octal_digit)) {
    return to_integer(s.substr(2), 8);
  }
  if (is_decimal_float(text)) {
    const std::optional<double> d = to_double(text);
    if (!d) return std::nullopt;
    return Json(*d);
  }
  if (const std::optional<double> special = special_float(text)) return Json(*special);
  return Json(text);
}

constexpr std::string_view kCoreTag = "tag:yaml.org,2002:";

/// Converts a yaml-cpp node graph to JSON values. Recursion is bounded by limits.max_depth,
/// and the number of values produced by a budget, because aliases can make a small document
/// expand exponentially ("billion laughs") or refer to themselves (a cycle).
class YamlConverter {
 public:
  YamlConverter(std::string_view what, const LoadLimits& limits, std::uint64_t budget)
      : what_(what), limits_(limits), budget_(budget) {}

  Result<Json> convert(const YAML::Node& node, int depth) {
    if (++produced_ > budget_) {
      return error_at(node, fmt::format("expands to more than {} values (aliases referring to "
                                        "aliases?); refusing to expand further",
                                        budget_));
    }
    switch (node.Type()) {
      case YAML::NodeType::Null:
        if (node.Tag() == std::string(kCoreTag) + "str") return Json("");
        return Json(nullptr);
      case YAML::NodeType::Scalar:
        return convert_scalar(node);
      case YAML::NodeType::Sequence: {
        if (Result<void> ok = check_container(node, depth, "seq"); !ok)
          return std::move(ok).error();
        Json array = Json::array();
        for (const YAML::Node& child : node) {
          Result<Json> value = convert(child, depth + 1);
          if (!value) return value;
          array.push_back(std::move(*value));
        }
        return array;
      }
      case YAML::NodeType::Map: {
        if (Result<void> ok = check_container(node, depth, "map"); !ok)
          return std::move(ok).error();
        return convert_map(node, depth + 1);
      }
      case YAML::NodeType::Undefined:
        break;
    }
    return error_at(node, "undefined node");
  }

 private:
  Error error_at(const YAML::Node& node, std::string_view reason) const {
    const YAML::Mark mark = node.Mark();
    if (mark.is_null()) {
      return make_error(Errc::malformed,
                        fmt::format("'{}': malformed YAML: {}", printable(what_, 400), reason));
    }
    return make_error(Errc::malformed,
                      fmt::format("'{}': malformed YAML at line {}, column {}: {}",
                                  printable(what_, 400), mark.line + 1, mark.column + 1, reason));
  }

  Result<void> check_container(const YAML::Node& node, int depth, std::string_view kind) const {
    if (depth + 1 > limits_.max_depth) {
      return error_at(node, fmt::format("nested deeper than {} levels", limits_.max_depth));
    }
    const std::string& tag = node.Tag();
    if (tag != "?" && tag != "!" && tag != std::string(kCoreTag) + std::string(kind)) {
      return error_at(node, fmt::format("unsupported tag '{}'", printable(tag)));
    }
    return {};
  }

  Result<Json> convert_scalar(const YAML::Node& node) {
    const std::string& text = node.Scalar();
    const std::string& tag = node.Tag();
    // yaml-cpp tags a plain scalar "?" and a quoted or block scalar "!": only plain scalars
    // are resolved, so "false" and '0.95' stay strings.
    if (tag == "!" || tag == std::string(kCoreTag) + "str") return Json(text);
    if (tag != "?" && tag.rfind(kCoreTag, 0) != 0) {
      return error_at(node, fmt::format("unsupported tag '{}'", printable(tag)));
    }
    const std::optional<Json> resolved = resolve_plain(text);
    if (!resolved) return error_at(node, fmt::format("number out of range '{}'", printable(text)));
    const Json& value = *resolved;
    if (tag == "?") return value;
    // An explicit core tag (!!int, !!float, !!bool, !!null) must agree with the text.
    const std::string_view wanted = std::string_view(tag).substr(kCoreTag.size());
    if (wanted == "int" && value.is_number_integer()) return value;
    if (wanted == "float" && value.is_number()) return Json(value.get<double>());
    if (wanted == "bool" && value.is_boolean()) return value;
    if (wanted == "null" && value.is_null()) return value;
    if (wanted == "int" || wanted == "float" || wanted == "bool" || wanted == "null") {
      return error_at(node, fmt::format("'{}' is not a valid !!{}", printable(text), wanted));
    }
    return error_at(node, fmt::format("unsupported tag '{}'", printable(tag)));
  }

  /// A mapping at nesting level `depth`. A plain "<<" key is a YAML merge key (widely used
  /// with anchors, and what PyYAML does): the mapping(s) it names supply keys the mapping does
  /// not set itself, earlier ones first. Keeping it as a literal "<<" key would silently hide
  /// the merged values from every check.
  Result<Json> convert_map(const YAML::Node& node, int depth) {
    Json object = Json::object();
    auto& members = object.get_ref<Json::object_t&>();
    std::optional<YAML::Node> merge;
    for (const auto& pair : node) {
      const YAML::Node& key = pair.first;
      if (key.Type() == YAML::NodeType::Null) {
        return error_at(key, "a mapping key is null; JSON keys must be strings");
      }
      if (key.Type() != YAML::NodeType::Scalar) {
        return error_at(key, "a mapping key is a mapping or sequence; keys must be scalars");
      }
      const std::string& name = key.Scalar();
      if (key.Tag() == "?" && name == "<<") {
        if (merge) return error_at(key, "duplicate key '<<'");
        merge = pair.second;
        continue;
      }
      if (members.count(name) != 0) {
        return error_at(key, fmt::format("duplicate key '{}'", printable(name)));
      }
      Result<Json> value = convert(pair.second, depth);
      if (!value) return value;
      members.emplace(name, std::move(*value));
    }
    if (merge) {
      std::vector<YAML::Node> sources;
      if (merge->IsMap()) {
        sources.push_back(*merge);
      } else if (merge->IsSequence()) {
        for (const YAML::Node& item : *merge) sources.push_back(item);
      }
      if (sources.empty() && !merge->IsSequence()) {
        return error_at(*merge, "merge key '<<' needs a mapping or a sequence of mappings");
      }
      for (const YAML::Node& source : sources) {
        if (!source.IsMap()) {
          return error_at(source, "merge key '<<' needs a mapping or a sequence of mappings");
        }
        // The merged mapping's members sit at this mapping's level.
        Result<Json> merged = convert(source, depth - 1);
        if (!merged) return merged;
        for (auto& [name, value] : merged->get_ref<Json::object_t&>()) {
          members.emplace(name, std::move(value));  // Keys already present win.
        }
      }
    }
    return object;
  }

  std::string_view what_;
  const LoadLimits& limits_;
  std::uint64_t budget_;
  std::uint64_t produced_ = 0;
};

std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string_view to_string(Format format) noexcept {
  switch (format) {
    case Format::json:
      return "json";
    case Format::jsonl:
      return "jsonl";
    case Format::yaml:
      return "yaml";
    case Format::bytes:
      return "bytes";
  }
  return "bytes";
}

std::optional<Format> parse_format(std::string_view text) noexcept {
  // Exactly the names to_string() gives: spec files stay greppable and round-trip.
  for (const Format format : {Format::json, Format::jsonl, Format::yaml, Format::bytes}) {
    if (to_string(format) == text) return format;
  }
  return std::nullopt;
}

Format format_from_path(std::string_view path) noexcept {
  const std::size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return Format::bytes;  // No extension, or ".json".
  try {
    const std::string ext = lower_ascii(name.substr(dot + 1));
    if (ext == "json") return Format::json;
    if (ext == "jsonl" || ext == "ndjson") return Format::jsonl;
    if (ext == "yaml" || ext == "yml") return Format::yaml;
  } catch (...) {
    // Allocation failure: bytes is the format that interprets nothing.
  }
  return Format::bytes;
}

Result<nlohmann::json> parse_json(std::string_view text, std::string_view what,
                                  const LoadLimits& limits) {
  try {
    if (text.empty()) {
      return make_error(Errc::malformed, fmt::format("'{}': empty file, expected a JSON document",
                                                     printable(what, 400)));
    }
    if (std::all_of(text.begin(), text.end(), is_json_space)) {
      return make_error(
          Errc::malformed,
          fmt::format("'{}': only whitespace, expected a JSON document", printable(what, 400)));
    }
    // nlohmann's input adapter stops at a NUL byte, which would accept `{"a":1}\0anything`.
    // A raw NUL is never valid JSON (inside strings it must be escaped), so refuse it here.
    if (auto nul = text.find('\0'); nul != std::string_view::npos) {
      return make_error(Errc::malformed, fmt::format("'{}': malformed JSON at byte {}: a NUL byte",
                                                     printable(what, 400), nul));
    }
    JsonFailure failure;
    std::optional<Json> parsed = parse_json_text(text, limits, failure);
    if (!parsed)
      return make_error(Errc::malformed, json_failure_message(what, std::nullopt, failure));
    return std::move(*parsed);
  } catch (const std::exception& e) {
    return make_error(Errc::internal, fmt::format("'{}': parsing JSON: unexpected exception: {}",
                                                  printable(what, 400), e.what()));
  }
}

Result<nlohmann::json> parse_json_lines(std::string_view text, std::string_view what,
                                        const LoadLimits& limits) {
  try {
    Json lines = Json::array();
    std::size_t line_number = 0;
    while (!text.empty()) {
      ++line_number;
      const std::size_t newline = text.find('\n');
      std::string_view line = text.substr(0, newline);
      text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);     // CRLF files.
      if (std::all_of(line.begin(), line.end(), is_json_space)) continue;  // Blank lines.
      JsonFailure failure;
      std::optional<Json> parsed = parse_json_text(line, limits, failure);
      if (!parsed) {
        return make_error(Errc::malformed, json_failure_message(what, line_number, failure));
      }
      lines.push_back(std::move(*parsed));
    }
    return lines;
  } catch (const std::exception& e) {
    return make_error(Errc::internal,
                      fmt::format("'{}': parsing JSON Lines: unexpected exception: {}",
                                  printable(what, 400), e.what()));
  }
}

Result<nlohmann::json> detail::yaml_node_to_json(const YAML::Node& node, std::string_view what,
                                                 const LoadLimits& limits, std::uint64_t budget) {
  try {
    YamlConverter converter(what, limits, budget);
    return converter.convert(node, 0);
  } catch (const std::exception& e) {
    return make_error(Errc::internal, fmt::format("'{}': converting YAML: unexpected exception: {}",
                                                  printable(what, 400), e.what()));
  }
}

Result<nlohmann::json> parse_yaml(std::string_view text, std::string_view what,
                                  const LoadLimits& limits) {
  try {
    std::vector<YAML::Node> documents;
    try {
      documents = YAML::LoadAll(std::string(text));
    } catch (const YAML::Exception& e) {
      // yaml-cpp's own recursion guard (YAML::DeepRecursion, at ~500 levels) lands here too;
      // its message is "bad file", which misleads, so say what it means. The message test
      // backs up the type test: Debian's libyaml-cpp does not export DeepRecursion's typeinfo,
      // and parsing a string cannot raise a real BadFile.
      const bool too_deep = dynamic_cast<const YAML::DeepRecursion*>(&e) != nullptr ||
                            e.msg == YAML::ErrorMsg::BAD_FILE;
      const std::string reason = too_deep ? std::string("nested too deeply") : e.msg;
      if (e.mark.is_null()) {
        return make_error(Errc::malformed,
                          fmt::format("'{}': malformed YAML: {}", printable(what, 400), reason));
      }
      return make_error(
          Errc::malformed,
          fmt::format("'{}': malformed YAML at line {}, column {}: {}", printable(what, 400),
                      e.mark.line + 1, e.mark.column + 1, reason));
    }
    if (documents.empty()) {
      return make_error(Errc::malformed,
                        fmt::format("'{}': no YAML document (the file is empty or only comments)",
                                    printable(what, 400)));
    }
    if (documents.size() > 1) {
      return make_error(Errc::malformed,
                        fmt::format("'{}': malformed YAML: expected one YAML document, found {}",
                                    printable(what, 400), documents.size()));
    }
    // Without aliases a document cannot hold more values than it has bytes; the slack admits
    // ordinary anchor reuse but stops exponential expansion.
    const std::uint64_t budget = text.size() + 1'000'000;
    return detail::yaml_node_to_json(documents.front(), what, limits, budget);
  } catch (const std::exception& e) {
    return make_error(Errc::internal, fmt::format("'{}': parsing YAML: unexpected exception: {}",
                                                  printable(what, 400), e.what()));
  }
}

}  // namespace stagecheck
