// GCC 12 with -fsanitize=address reports -Wmaybe-uninitialized false positives inside
// libstdc++'s <regex>/<functional> (std::function moves in the NFA builder), which would break
// the -Werror sanitizer build. Diagnostic state is looked up by source location, so ignoring
// the warning while the headers are read silences it for header code only: this file's own
// code below the `pop` is still checked.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "stagecheck/condition.hpp"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// The syntax tree lives in stagecheck::detail (ConditionNode is forward-declared in the public
// header); its helper types go in a nested namespace so they cannot collide with other
// translation units' detail types, and are not in an anonymous namespace because a type with
// external linkage (ConditionNode) may not have members of internal-linkage types.
namespace stagecheck::detail::cond {

using json = nlohmann::json;

/// One step of a condition path; unlike JsonPath::Segment it can be `[*]`.
enum class SegmentType { key, index, star };

struct Segment {
  SegmentType type = SegmentType::key;
  std::string key;
  std::size_t index = 0;
};

/// Where an operand's value comes from.
enum class Source { document, variable, artifact, literal };

struct Operand {
  Source source = Source::literal;
  std::string name;                  ///< Variable or artifact name.
  std::vector<Segment> path;         ///< For document and artifact operands.
  std::vector<std::size_t> star_at;  ///< Positions of the `[*]` segments in `path`.
  json literal;                      ///< For literal operands.
  std::size_t pos = 0;               ///< Byte offset in the condition text (for errors).
};

enum class CmpOp { eq, ne, lt, le, gt, ge };
enum class TestKind { compare, in, not_in, between, matches };

/// A comparison. `lhs` is always the subject (the value being judged): the parser swaps the
/// operands of `0.9 <= x` and of `all(1 < a[*].b)` so messages and `observed` talk about it.
struct Test {
  TestKind kind = TestKind::compare;
  CmpOp op = CmpOp::eq;
  Operand lhs;
  Operand rhs;                 ///< Other side of a comparison, or the lower bound of `between`.
  Operand hi;                  ///< Upper bound of `between`.
  json list;                   ///< For `in` / `not in` with a list literal.
  bool list_from_var = false;  ///< `in $var`: the list is the variable in `rhs`.
  std::string pattern;
  std::regex regex;
};

enum class Quantifier { all, any, none };

}  // namespace stagecheck::detail::cond

namespace stagecheck::detail {

/// A node of a parsed condition. Immutable after parsing; shared between copies of a Condition.
struct ConditionNode {
  enum class Type { conjunction, disjunction, negation, test, quantified, count, exists };
  Type type = Type::test;
  std::string source;  ///< The node's source text, for messages.
  /// Operands of and/or, the operand of not, the optional `where` expression of count.
  std::vector<std::unique_ptr<ConditionNode>> children;
  cond::Test test;  ///< test and quantified; for count only `op` and `rhs` are used.
  cond::Quantifier quantifier = cond::Quantifier::all;
  cond::Operand path;      ///< The path of count(...) and exists(...).
  std::string count_text;  ///< `count(...)` without the comparison, for messages.
};

}  // namespace stagecheck::detail

namespace stagecheck {

namespace {

using json = nlohmann::json;
using Kind = ConditionOutcome::Kind;
using detail::ConditionNode;
using detail::cond::CmpOp;
using detail::cond::Operand;
using detail::cond::Quantifier;
using detail::cond::Segment;
using detail::cond::SegmentType;
using detail::cond::Source;
using detail::cond::Test;
using detail::cond::TestKind;
using NodePtr = std::unique_ptr<ConditionNode>;

/// Hostile condition text must not be able to exhaust the stack: parentheses, `not`,
/// quantifier bodies and nested lists each take one level.
constexpr int kMaxNesting = 64;
/// Each `[*]` of a path is one level of recursion when expanding it.
constexpr std::size_t kMaxStarsPerPath = 16;
/// libstdc++ compiles regular expressions recursively (roughly one frame per term).
constexpr std::size_t kMaxPatternLength = 1024;
/// Offending elements named in a quantifier's message.
constexpr std::size_t kMaxReportedElements = 5;
/// Element values kept in a quantifier's `observed`.
constexpr std::size_t kMaxObservedElements = 20;
/// Containers larger than this are summarised in `observed` rather than copied.
constexpr std::size_t kMaxObservedChildren = 100;
/// Nesting kept when copying a value into `observed` or rendering it in a message.
constexpr int kMaxRenderDepth = 8;
/// Approximate length of a value rendered in a message.
constexpr std::size_t kMaxRenderedChars = 120;
/// Length of a string value before it is cut in a message.
constexpr std::size_t kMaxRenderedString = 100;
/// Length of the condition text quoted in a parse error.
constexpr std::size_t kMaxQuotedText = 200;

constexpr std::string_view kKeywords[] = {"and",     "or",    "not",  "in",    "between",
                                          "matches", "all",   "any",  "none",  "count",
                                          "exists",  "where", "true", "false", "null"};

bool is_keyword(std::string_view word) noexcept {
  for (std::string_view k : kKeywords) {
    if (k == word) return true;
  }
  return false;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ident_start(char c) noexcept { return is_alpha(c) || c == '_'; }
bool is_ident_char(char c) noexcept { return is_ident_start(c) || is_digit(c) || c == '-'; }
bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_identifier(std::string_view s) noexcept {
  if (s.empty() || !is_ident_start(s.front())) return false;
  for (char c : s) {
    if (!is_ident_char(c)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Rendering values and paths for messages.

/// JSON-quotes a string; invalid UTF-8 is replaced rather than throwing.
std::string quote(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string non_finite_name(double d) {
  if (std::isnan(d)) return "NaN";
  return d > 0 ? "Infinity" : "-Infinity";
}

void render_into(std::string& out, const json& v, int depth) {
  if (out.size() > kMaxRenderedChars) {
    out += "...";
    return;
  }
  switch (v.type()) {
    case json::value_t::null:
      out += "null";
      return;
    case json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case json::value_t::number_integer:
      out += std::to_string(v.get<json::number_integer_t>());
      return;
    case json::value_t::number_unsigned:
      out += std::to_string(v.get<json::number_unsigned_t>());
      return;
    case json::value_t::number_float: {
      double d = v.get<json::number_float_t>();
      out += std::isfinite(d) ? v.dump() : non_finite_name(d);
      return;
    }
    case json::value_t::string: {
      const std::string& s = v.get_ref<const json::string_t&>();
      if (s.size() <= kMaxRenderedString) {
        out += quote(s);
      } else {
        out += quote(std::string_view(s).substr(0, kMaxRenderedString));
        out += "...";
      }
      return;
    }
    case json::value_t::array:
    case json::value_t::object: {
      const bool is_array = v.is_array();
      out += is_array ? '[' : '{';
      if (depth >= kMaxRenderDepth) {
        if (!v.empty()) out += "...";
      } else {
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
          if (!first) out += ',';
          first = false;
          if (out.size() > kMaxRenderedChars) {
            out += "...";
            break;
          }
          if (!is_array) {
            out += quote(it.key());
            out += ':';
          }
          render_into(out, it.value(), depth + 1);
        }
      }
      out += is_array ? ']' : '}';
      return;
    }
    case json::value_t::binary:
    case json::value_t::discarded:
      out += "<binary>";
      return;
  }
}

/// A short, single-line rendering of a value (NaN and infinities by name).
std::string render_value(const json& v) {
  std::string out;
  render_into(out, v, 0);
  return out;
}

/// The JSON type class of a value: integers and floats are both numbers.
enum class TypeClass { number, string, boolean, null, array, object, other };

TypeClass class_of(const json& v) noexcept {
  switch (v.type()) {
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return TypeClass::number;
    case json::value_t::string:
      return TypeClass::string;
    case json::value_t::boolean:
      return TypeClass::boolean;
    case json::value_t::null:
      return TypeClass::null;
    case json::value_t::array:
      return TypeClass::array;
    case json::value_t::object:
      return TypeClass::object;
    case json::value_t::binary:
    case json::value_t::discarded:
      break;
  }
  return TypeClass::other;
}

std::string_view class_article(TypeClass c) noexcept {
  switch (c) {
    case TypeClass::number:
      return "a number";
    case TypeClass::string:
      return "a string";
    case TypeClass::boolean:
      return "a boolean";
    case TypeClass::null:
      return "null";
    case TypeClass::array:
      return "an array";
    case TypeClass::object:
      return "an object";
    case TypeClass::other:
      break;
  }
  return "a JSON value";
}

/// "string \"0.95\"", "number 3", "boolean true", "null", "array", "object".
std::string describe_found(const json& v) {
  switch (class_of(v)) {
    case TypeClass::number:
      return "number " + render_value(v);
    case TypeClass::string:
      return "string " + render_value(v);
    case TypeClass::boolean:
      return "boolean " + render_value(v);
    case TypeClass::null:
      return "null";
    case TypeClass::array:
      return "array";
    case TypeClass::object:
      return "object";
    case TypeClass::other:
      break;
  }
  return "binary data";
}

/// A copy of `v` fit for ConditionOutcome::observed: NaN and infinities become the strings
/// "NaN"/"Infinity"/"-Infinity" (JSON has no such numbers and would print null, which would
/// misreport what was found); very large or deep containers are summarised.
json sanitize(const json& v, int depth = 0) {
  if (v.is_number_float()) {
    double d = v.get<json::number_float_t>();
    return std::isfinite(d) ? v : json(non_finite_name(d));
  }
  if (!v.is_structured()) return v;
  if (v.size() > kMaxObservedChildren || depth >= kMaxRenderDepth) {
    return json((v.is_array() ? "<array of " : "<object of ") + std::to_string(v.size()) +
                (v.is_array() ? " elements>" : " fields>"));
  }
  json out = v.is_array() ? json::array() : json::object();
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (v.is_array()) {
      out.push_back(sanitize(it.value(), depth + 1));
    } else {
      out[it.key()] = sanitize(it.value(), depth + 1);
    }
  }
  return out;
}

bool is_non_finite_number(const json& v) noexcept {
  if (!v.is_number_float()) return false;
  return !std::isfinite(v.get<json::number_float_t>());
}

/// Whether a value, at any depth, holds NaN or an infinity. Iterative, so a deep document
/// cannot exhaust the stack here.
bool contains_non_finite(const json& v) {
  if (!v.is_structured()) return is_non_finite_number(v);
  std::vector<const json*> stack{&v};
  while (!stack.empty()) {
    const json* cur = stack.back();
    stack.pop_back();
    for (const json& child : *cur) {
      if (child.is_structured()) {
        stack.push_back(&child);
      } else if (is_non_finite_number(child)) {
        return true;
      }
    }
  }
  return false;
}

double as_double(const json& v) noexcept {
  switch (v.type()) {
    case json::value_t::number_integer:
      return static_cast<double>(v.get<json::number_integer_t>());
    case json::value_t::number_unsigned:
      return static_cast<double>(v.get<json::number_unsigned_t>());
    case json::value_t::number_float:
      return v.get<json::number_float_t>();
    default:
      return std::numeric_limits<double>::quiet_NaN();
  }
}

template <class T>
int three_way(T a, T b) noexcept {
  return a < b ? -1 : (b < a ? 1 : 0);
}

/// Compares two finite numbers: exactly when both are integers (signed or unsigned, so
/// 2^63 + 1 is not "equal" to 2^63), as doubles otherwise.
int compare_numbers(const json& a, const json& b) noexcept {
  if (a.is_number_integer() && b.is_number_integer()) {
    const bool au = a.is_number_unsigned();
    const bool bu = b.is_number_unsigned();
    if (au && bu) {
      return three_way(a.get<json::number_unsigned_t>(), b.get<json::number_unsigned_t>());
    }
    if (!au && !bu) {
      return three_way(a.get<json::number_integer_t>(), b.get<json::number_integer_t>());
    }
    if (au) {
      const std::int64_t y = b.get<json::number_integer_t>();
      if (y < 0) return 1;
      return three_way(a.get<json::number_unsigned_t>(), static_cast<std::uint64_t>(y));
    }
    const std::int64_t x = a.get<json::number_integer_t>();
    if (x < 0) return -1;
    return three_way(static_cast<std::uint64_t>(x), b.get<json::number_unsigned_t>());
  }
  return three_way(as_double(a), as_double(b));
}

/// Equality within one type class (the caller has checked the classes match and that no
/// number is NaN or infinite).
bool same_class_equal(const json& a, const json& b) {
  if (a.is_number()) return compare_numbers(a, b) == 0;
  return a == b;
}

std::string_view op_text(CmpOp op) noexcept {
  switch (op) {
    case CmpOp::eq:
      return "==";
    case CmpOp::ne:
      return "!=";
    case CmpOp::lt:
      return "<";
    case CmpOp::le:
      return "<=";
    case CmpOp::gt:
      return ">";
    case CmpOp::ge:
      return ">=";
  }
  return "==";
}

CmpOp flipped(CmpOp op) noexcept {
  switch (op) {
    case CmpOp::lt:
      return CmpOp::gt;
    case CmpOp::le:
      return CmpOp::ge;
    case CmpOp::gt:
      return CmpOp::lt;
    case CmpOp::ge:
      return CmpOp::le;
    case CmpOp::eq:
    case CmpOp::ne:
      break;
  }
  return op;
}

bool op_holds(CmpOp op, int cmp) noexcept {
  switch (op) {
    case CmpOp::eq:
      return cmp == 0;
    case CmpOp::ne:
      return cmp != 0;
    case CmpOp::lt:
      return cmp < 0;
    case CmpOp::le:
      return cmp <= 0;
    case CmpOp::gt:
      return cmp > 0;
    case CmpOp::ge:
      return cmp >= 0;
  }
  return false;
}

/// Appends an object key to a rendered path: `.key`, or `["key"]` when the key is not an
/// identifier (or is a keyword at the head of the path, where it would not parse back).
void append_key(std::string& out, std::string_view key) {
  if (is_identifier(key) && !(out.empty() && is_keyword(key))) {
    if (!out.empty()) out += '.';
    out += key;
  } else {
    out += '[';
    out += quote(key);
    out += ']';
  }
}

void append_index(std::string& out, std::size_t index) {
  out += '[';
  out += std::to_string(index);
  out += ']';
}

// ---------------------------------------------------------------------------------------------
// Lexer.

enum class Tok {
  end,
  ident,
  number,
  string,
  lparen,
  rparen,
  lbracket,
  rbracket,
  comma,
  dot,
  star,
  op,
  var,
  artifact
};

struct Token {
  Tok kind = Tok::end;
  std::size_t pos = 0;  ///< Byte offset of the first character.
  std::size_t end = 0;  ///< Byte offset one past the last character.
  std::string value;    ///< Identifier, decoded string, number text, operator, var/artifact name.
};

/// Thrown inside the parser only (recursive descent reads far better with it) and turned
/// into an Error value before anything leaves this file.
struct ParseFailure {
  std::size_t pos;
  std::string message;
};

std::string describe_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "byte 0x";
  out += kHex[u >> 4];
  out += kHex[u & 0xf];
  return out;
}

std::string clip(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "...";
}

class Lexer {
 public:
  Lexer(std::string_view text, std::string_view noun) : text_(text), noun_(noun) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    for (;;) {
      while (i_ < text_.size() && is_space(text_[i_])) ++i_;
      if (i_ == text_.size()) {
        out.push_back(Token{Tok::end, i_, i_, {}});
        return out;
      }
      out.push_back(next_token());
    }
  }

 private:
  Token simple(Tok kind, std::size_t len, std::string value = {}) {
    Token t{kind, i_, i_ + len, std::move(value)};
    i_ += len;
    return t;
  }

  bool at(std::size_t k, char c) const noexcept { return k < text_.size() && text_[k] == c; }

  Token next_token() {
    const char c = text_[i_];
    switch (c) {
      case '(':
        return simple(Tok::lparen, 1);
      case ')':
        return simple(Tok::rparen, 1);
      case '[':
        return simple(Tok::lbracket, 1);
      case ']':
        return simple(Tok::rbracket, 1);
      case ',':
        return simple(Tok::comma, 1);
      case '.':
        return simple(Tok::dot, 1);
      case '*':
        return simple(Tok::star, 1);
      case '=':
        if (at(i_ + 1, '=')) return simple(Tok::op, 2, "==");
        throw ParseFailure{i_, R"(expected "==", found "=")"};
      case '!':
        if (at(i_ + 1, '=')) return simple(Tok::op, 2, "!=");
        throw ParseFailure{i_, R"(expected "!=", found "!")"};
      case '<':
        if (at(i_ + 1, '=')) return simple(Tok::op, 2, "<=");
        return simple(Tok::op, 1, "<");
      case '>':
        if (at(i_ + 1, '=')) return simple(Tok::op, 2, ">=");
        return simple(Tok::op, 1, ">");
      case '"':
      case '\'':
        return string_token();
      case '$':
        return var_token();
      case '@':
        return artifact_token();
      default:
        break;
    }
    if (is_digit(c) || c == '-') return number_token();
    if (is_ident_start(c)) {
      const std::size_t start = i_;
      while (i_ < text_.size() && is_ident_char(text_[i_])) ++i_;
      return Token{Tok::ident, start, i_, std::string(text_.substr(start, i_ - start))};
    }
    throw ParseFailure{i_, "expected an operand or an operator, found " + describe_char(c)};
  }

  std::string found_here(std::size_t k) const {
    if (k >= text_.size()) return "end of " + std::string(noun_);
    return describe_char(text_[k]);
  }

  Token number_token() {
    const std::size_t start = i_;
    std::size_t j = i_;
    if (text_[j] == '-') {
      ++j;
      if (j >= text_.size() || !is_digit(text_[j])) {
        throw ParseFailure{j, "expected a digit after \"-\", found " + found_here(j)};
      }
    }
    if (text_[j] == '0') {
      ++j;
    } else {
      while (j < text_.size() && is_digit(text_[j])) ++j;
    }
    // A '.' not followed by a digit ends the number: `[0].x` is an index then a field.
    if (at(j, '.') && j + 1 < text_.size() && is_digit(text_[j + 1])) {
      j += 2;
      while (j < text_.size() && is_digit(text_[j])) ++j;
    }
    if (at(j, 'e') || at(j, 'E')) {
      std::size_t k = j + 1;
      if (at(k, '+') || at(k, '-')) ++k;
      if (k < text_.size() && is_digit(text_[k])) {
        while (k < text_.size() && is_digit(text_[k])) ++k;
        j = k;
      }
    }
    if (j < text_.size() && is_ident_char(text_[j])) {
      // `007`, `1e`, `3abc`, `5-3`: reject the whole run rather than guess.
      std::size_t k = j;
      while (k < text_.size() && (is_ident_char(text_[k]) || text_[k] == '.')) ++k;
      throw ParseFailure{
          start, "expected a number, found \"" + clip(text_.substr(start, k - start), 40) + "\""};
    }
    i_ = j;
    return Token{Tok::number, start, j, std::string(text_.substr(start, j - start))};
  }

  Token string_token() {
    const std::size_t start = i_;
    const char q = text_[i_];
    std::string value;
    std::size_t j = i_ + 1;
    for (;;) {
      if (j >= text_.size()) {
        throw ParseFailure{
            j, std::string("expected a closing ") + q + ", found end of " + std::string(noun_)};
      }
      const char c = text_[j];
      if (c == q) break;
      if (c != '\\') {
        value += c;
        ++j;
        continue;
      }
      if (j + 1 >= text_.size()) {
        throw ParseFailure{
            j, "expected an escaped character after \\, found end of " + std::string(noun_)};
      }
      const char e = text_[j + 1];
      switch (e) {
        case '"':
          value += '"';
          break;
        case '\'':
          value += '\'';
          break;
        case '\\':
          value += '\\';
          break;
        case '/':
          value += '/';
          break;
        case 'n':
          value += '\n';
          break;
        case 't':
          value += '\t';
          break;
        case 'r':
          value += '\r';
          break;
        default:
          throw ParseFailure{j, R"(expected one of the escapes \" \' \\ \/ \n \t \r, found \)" +
                                    std::string(1, e)};
      }
      j += 2;
    }
    i_ = j + 1;
    return Token{Tok::string, start, i_, std::move(value)};
  }

  Token var_token() {
    const std::size_t start = i_;
    if (at(i_ + 1, '{')) {
      std::size_t j = i_ + 2;
      while (j < text_.size() && text_[j] != '}') {
        const char c = text_[j];
        if (!(is_ident_char(c) || c == '.')) {
          throw ParseFailure{
              j, "expected a variable name or \"}\" in ${...}, found " + describe_char(c)};
        }
        ++j;
      }
      if (j >= text_.size()) {
        throw ParseFailure{j, "expected \"}\" to close ${, found end of " + std::string(noun_)};
      }
      if (j == i_ + 2) throw ParseFailure{j, R"(expected a variable name in ${...}, found "}")"};
      std::string name(text_.substr(i_ + 2, j - i_ - 2));
      i_ = j + 1;
      return Token{Tok::var, start, i_, std::move(name)};
    }
    if (i_ + 1 < text_.size() && is_ident_start(text_[i_ + 1])) {
      std::size_t j = i_ + 1;
      while (j < text_.size() && is_ident_char(text_[j])) ++j;
      std::string name(text_.substr(i_ + 1, j - i_ - 1));
      i_ = j;
      return Token{Tok::var, start, i_, std::move(name)};
    }
    throw ParseFailure{i_ + 1, "expected a variable name after \"$\", found " + found_here(i_ + 1)};
  }

  Token artifact_token() {
    const std::size_t start = i_;
    if (i_ + 1 < text_.size() && is_ident_start(text_[i_ + 1])) {
      std::size_t j = i_ + 1;
      while (j < text_.size() && is_ident_char(text_[j])) ++j;
      std::string name(text_.substr(i_ + 1, j - i_ - 1));
      i_ = j;
      return Token{Tok::artifact, start, i_, std::move(name)};
    }
    throw ParseFailure{i_ + 1,
                       "expected an artifact name after \"@\", found " + found_here(i_ + 1)};
  }

  std::string_view text_;
  std::string_view noun_;
  std::size_t i_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Parser.

std::string format_parse_error(std::string_view noun, std::string_view text,
                               const ParseFailure& f) {
  return std::string(noun) + " \"" + clip(text, kMaxQuotedText) + "\": column " +
         std::to_string(f.pos + 1) + ": " + f.message;
}

void add_unique(std::vector<std::string>& names, const std::string& name) {
  for (const std::string& n : names) {
    if (n == name) return;
  }
  names.push_back(name);
}

/// Recursive descent over the grammar in condition.hpp. Points the grammar leaves open are
/// settled here as follows:
///  * Left of an operator, `[0].x`, `[*].y`, `["and"]` are paths (the document root may be an
///    array; quoted keys escape keywords). Right of an operator `[` always starts a list.
///  * Inside all/any/none(...), exactly one operand has `[*]`; the others (and `between`
///    bounds) are resolved once, against the document, not the element.
///  * `count(...)` takes a path with `[*]` (document or @artifact); its `where` expression is
///    a full expression evaluated on each element.
///  * `@name` may be followed by `.field` and `[...]` segments.
///  * A standalone JsonPath may start with a keyword (`count`): there is no operator to
///    confuse it with.
class Parser {
 public:
  /// `path_only` parses a standalone JsonPath: keywords may head it and `[*]` is refused.
  Parser(std::string_view text, std::string_view noun, std::vector<Token> tokens, bool path_only)
      : text_(text), noun_(noun), toks_(std::move(tokens)), path_only_(path_only) {}

  NodePtr parse_condition() {
    NodePtr root = parse_or();
    if (peek().kind != Tok::end) fail(peek(), R"("and", "or" or end of condition)");
    return root;
  }

  std::vector<Segment> parse_standalone_path() {
    const Token& t = peek();
    Operand op;
    if (t.kind == Tok::ident) {
      next();
      op.path.push_back(Segment{SegmentType::key, t.value, 0});
    } else if (t.kind == Tok::lbracket) {
      parse_bracket(op);
    } else {
      fail(t, R"(a field name or "[")");
    }
    parse_path_tail(op);
    if (peek().kind != Tok::end) fail(peek(), R"("." or "[" or end of path)");
    return std::move(op.path);
  }

  std::vector<std::string> vars;
  std::vector<std::string> artifacts;

 private:
  /// Counts one level of nesting for as long as it lives.
  class DepthGuard {
   public:
    DepthGuard(Parser& parser, const Token& at) : parser_(parser) {
      if (++parser_.depth_ > kMaxNesting) {
        parser_.fail_at(at.pos, "expected at most " + std::to_string(kMaxNesting) +
                                    " levels of nesting, found deeper nesting");
      }
    }
    ~DepthGuard() { --parser_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Parser& parser_;
  };

  /// Restores allow_star_ on scope exit.
  class StarScope {
   public:
    StarScope(Parser& parser, bool allow) : parser_(parser), saved_(parser.allow_star_) {
      parser_.allow_star_ = allow;
    }
    ~StarScope() { parser_.allow_star_ = saved_; }
    StarScope(const StarScope&) = delete;
    StarScope& operator=(const StarScope&) = delete;

   private:
    Parser& parser_;
    bool saved_;
  };

  const Token& peek(std::size_t ahead = 0) const {
    const std::size_t k = i_ + ahead;
    return k < toks_.size() ? toks_[k] : toks_.back();
  }

  const Token& next() {
    const Token& t = peek();
    if (i_ < toks_.size() - 1) ++i_;
    last_end_ = t.end;
    return t;
  }

  bool at_keyword(std::string_view word) const {
    return peek().kind == Tok::ident && peek().value == word;
  }

  std::string describe(const Token& t) const {
    switch (t.kind) {
      case Tok::end:
        return "end of " + std::string(noun_);
      case Tok::ident:
        return (!path_only_ && is_keyword(t.value) ? "keyword \"" : "identifier \"") +
               clip(t.value, 40) + "\"";
      case Tok::number:
        return "number " + t.value;
      case Tok::string:
        return "string " + clip(text_.substr(t.pos, t.end - t.pos), 40);
      case Tok::op:
        return "\"" + t.value + "\"";
      case Tok::var:
      case Tok::artifact:
        return clip(text_.substr(t.pos, t.end - t.pos), 40);
      case Tok::lparen:
        return "\"(\"";
      case Tok::rparen:
        return "\")\"";
      case Tok::lbracket:
        return "\"[\"";
      case Tok::rbracket:
        return "\"]\"";
      case Tok::comma:
        return "\",\"";
      case Tok::dot:
        return "\".\"";
      case Tok::star:
        return "\"*\"";
    }
    return "a token";
  }

  [[noreturn]] void fail_at(std::size_t pos, std::string message) const {
    throw ParseFailure{pos, std::move(message)};
  }

  [[noreturn]] void fail(const Token& t, std::string_view expected) const {
    fail_at(t.pos, "expected " + std::string(expected) + ", found " + describe(t));
  }

  const Token& expect(Tok kind, std::string_view expected) {
    if (peek().kind != kind) fail(peek(), expected);
    return next();
  }

  std::string slice(std::size_t start) const {
    return std::string(text_.substr(start, last_end_ > start ? last_end_ - start : 0));
  }

  static NodePtr make_node(ConditionNode::Type type) {
    auto node = std::make_unique<ConditionNode>();
    node->type = type;
    return node;
  }

  NodePtr parse_or() { return parse_chain("or", ConditionNode::Type::disjunction); }

  NodePtr parse_and() { return parse_chain("and", ConditionNode::Type::conjunction); }

  /// and/or chains become one n-ary node, so `a and b and ... ` of any length evaluates with
  /// constant stack depth.
  NodePtr parse_chain(std::string_view word, ConditionNode::Type type) {
    const std::size_t start = peek().pos;
    NodePtr first = type == ConditionNode::Type::disjunction ? parse_and() : parse_not();
    if (!at_keyword(word)) return first;
    NodePtr node = make_node(type);
    node->children.push_back(std::move(first));
    while (at_keyword(word)) {
      next();
      node->children.push_back(type == ConditionNode::Type::disjunction ? parse_and()
                                                                        : parse_not());
    }
    node->source = slice(start);
    return node;
  }

  NodePtr parse_not() {
    if (!at_keyword("not")) return parse_primary();
    const Token& kw = next();
    DepthGuard guard(*this, kw);
    NodePtr node = make_node(ConditionNode::Type::negation);
    node->children.push_back(parse_not());
    node->source = slice(kw.pos);
    return node;
  }

  NodePtr parse_primary() {
    const Token& t = peek();
    if (t.kind == Tok::lparen) {
      next();
      DepthGuard guard(*this, t);
      NodePtr inner = parse_or();
      expect(Tok::rparen, "\")\"");
      return inner;
    }
    if (t.kind == Tok::ident) {
      if (t.value == "all" || t.value == "any" || t.value == "none") return parse_quantified();
      if (t.value == "count") return parse_count();
      if (t.value == "exists") return parse_exists();
    }
    NodePtr node = make_node(ConditionNode::Type::test);
    node->test = parse_test(false, {});
    node->source = slice(t.pos);
    return node;
  }

  NodePtr parse_quantified() {
    const Token& kw = next();
    NodePtr node = make_node(ConditionNode::Type::quantified);
    node->quantifier = kw.value == "all"   ? Quantifier::all
                       : kw.value == "any" ? Quantifier::any
                                           : Quantifier::none;
    expect(Tok::lparen, "\"(\" after \"" + kw.value + "\"");
    DepthGuard guard(*this, kw);
    node->test = parse_test(true, kw.value);
    expect(Tok::rparen, "\")\" to close " + kw.value + "(...)");
    node->source = slice(kw.pos);
    return node;
  }

  NodePtr parse_count() {
    const Token& kw = next();
    NodePtr node = make_node(ConditionNode::Type::count);
    expect(Tok::lparen, R"("(" after "count")");
    DepthGuard guard(*this, kw);
    {
      StarScope stars(*this, true);
      node->path = parse_operand(true);
    }
    const Operand& p = node->path;
    if ((p.source != Source::document && p.source != Source::artifact) || p.star_at.empty()) {
      fail_at(p.pos, "expected a path with [*] in count(...), found " + clip(slice(p.pos), 40));
    }
    StarScope no_stars(*this, false);
    if (at_keyword("where")) {
      next();
      node->children.push_back(parse_or());
      expect(Tok::rparen, "\")\" to close count(...)");
    } else {
      expect(Tok::rparen, "\"where\" or \")\"");
    }
    node->count_text = slice(kw.pos);
    const Token& op = peek();
    if (op.kind != Tok::op) fail(op, "a comparison operator after count(...)");
    next();
    node->test.kind = TestKind::compare;
    node->test.op = to_op(op.value);
    node->test.rhs = parse_operand(false);
    node->source = slice(kw.pos);
    return node;
  }

  NodePtr parse_exists() {
    const Token& kw = next();
    NodePtr node = make_node(ConditionNode::Type::exists);
    expect(Tok::lparen, R"("(" after "exists")");
    DepthGuard guard(*this, kw);
    StarScope no_stars(*this, false);
    const Token& t = peek();
    if (t.kind != Tok::ident && t.kind != Tok::lbracket) fail(t, "a path inside exists(...)");
    node->path = parse_operand(true);
    if (node->path.source != Source::document) fail(t, "a path inside exists(...)");
    expect(Tok::rparen, "\")\" to close exists(...)");
    node->source = slice(kw.pos);
    return node;
  }

  static CmpOp to_op(std::string_view text) noexcept {
    if (text == "==") return CmpOp::eq;
    if (text == "!=") return CmpOp::ne;
    if (text == "<") return CmpOp::lt;
    if (text == "<=") return CmpOp::le;
    if (text == ">") return CmpOp::gt;
    return CmpOp::ge;
  }

  /// comparison := operand cmpop operand | operand ["not"] "in" list
  ///             | operand "between" operand "and" operand | operand "matches" string
  Test parse_test(bool quantified, std::string_view quantifier) {
    Test t;
    {
      StarScope stars(*this, quantified);
      t.lhs = parse_operand(true);
    }
    const Token& op = peek();
    if (op.kind == Tok::op) {
      next();
      t.kind = TestKind::compare;
      t.op = to_op(op.value);
      StarScope stars(*this, quantified);
      t.rhs = parse_operand(false);
    } else if (at_keyword("not") || at_keyword("in")) {
      t.kind = at_keyword("not") ? TestKind::not_in : TestKind::in;
      if (next().value == "not") {
        if (!at_keyword("in")) fail(peek(), R"("in" after "not")");
        next();
      }
      const Token& lb = peek();
      if (lb.kind == Tok::var) {
        // `in $allowed`: a list-valued spec variable, resolved at evaluation.
        t.list_from_var = true;
        t.rhs = parse_operand(false);
      } else {
        if (lb.kind != Tok::lbracket) fail(lb, R"(a list [...] or a $variable after "in")");
        t.list = parse_list();
        if (t.list.empty())
          fail_at(lb.pos, R"(expected at least one value in the list after "in", found [])");
      }
    } else if (at_keyword("between")) {
      next();
      t.kind = TestKind::between;
      t.rhs = parse_operand(false);
      if (!at_keyword("and")) fail(peek(), R"("and" between the bounds of "between")");
      next();
      t.hi = parse_operand(false);
      check_bounds(t);
    } else if (at_keyword("matches")) {
      next();
      t.kind = TestKind::matches;
      const Token& p = peek();
      if (p.kind != Tok::string) fail(p, R"(a quoted regular expression after "matches")");
      next();
      compile_regex(t, p);
    } else {
      fail(op, R"(a comparison operator, "in", "between" or "matches")");
    }

    if (quantified) {
      const bool lhs_star = !t.lhs.star_at.empty();
      const bool rhs_star = t.kind == TestKind::compare && !t.rhs.star_at.empty();
      if (lhs_star && rhs_star) {
        fail_at(t.rhs.pos, "expected one path with [*] in " + std::string(quantifier) +
                               "(...), found a second one");
      }
      if (!lhs_star && !rhs_star) {
        fail_at(t.lhs.pos, "expected a path with [*] in " + std::string(quantifier) +
                               "(...), e.g. " + std::string(quantifier) +
                               "(results[*].passed == true), found none");
      }
      if (rhs_star) swap_sides(t);
    } else if (t.kind == TestKind::compare && t.lhs.source == Source::literal &&
               t.rhs.source != Source::literal) {
      swap_sides(t);
    }
    return t;
  }

  static void swap_sides(Test& t) {
    std::swap(t.lhs, t.rhs);
    t.op = flipped(t.op);
  }

  void check_bounds(const Test& t) const {
    if (t.rhs.source != Source::literal || t.hi.source != Source::literal) return;
    if (!t.rhs.literal.is_number() || !t.hi.literal.is_number()) return;
    if (compare_numbers(t.rhs.literal, t.hi.literal) > 0) {
      fail_at(t.rhs.pos, "expected a lower bound <= the upper bound in \"between\", found " +
                             render_value(t.rhs.literal) + " > " + render_value(t.hi.literal));
    }
  }

  void compile_regex(Test& t, const Token& p) const {
    if (p.value.size() > kMaxPatternLength) {
      fail_at(p.pos, "expected a regular expression of at most " +
                         std::to_string(kMaxPatternLength) + " characters, found " +
                         std::to_string(p.value.size()));
    }
    auto flags = std::regex::ECMAScript;
#if defined(__GLIBCXX__)
    // Thompson-style matching: linear stack and polynomial time whatever the pattern and the
    // input (the default backtracking matcher recurses once per input character and
    // overflows the stack on long strings). Back-references are refused in this mode.
    flags |= std::regex_constants::__polynomial;
#endif
    try {
      t.regex = std::regex(p.value, flags);
    } catch (const std::regex_error& e) {
      fail_at(p.pos, "expected a valid regular expression, found " +
                         clip(text_.substr(p.pos, p.end - p.pos), 60) + " (" + e.what() + ")");
    }
    t.pattern = p.value;
  }

  /// operand := path | $var | ${var} | @artifact[.path] | literal
  /// `subject` is the operand left of the operator: there `[0].x`, `[*].y` and `["and"]` are
  /// paths into a document whose root is an array or has keyword keys. Right of an
  /// operator, `[` always starts a list literal (`tags == ["a"]` compares with a list).
  Operand parse_operand(bool subject) {
    const Token& t = peek();
    Operand op;
    op.pos = t.pos;
    switch (t.kind) {
      case Tok::number:
        next();
        op.source = Source::literal;
        op.literal = number_value(t);
        return op;
      case Tok::string:
        next();
        op.source = Source::literal;
        op.literal = t.value;
        return op;
      case Tok::var:
        next();
        op.source = Source::variable;
        op.name = t.value;
        add_unique(vars, t.value);
        return op;
      case Tok::artifact:
        next();
        op.source = Source::artifact;
        op.name = t.value;
        add_unique(artifacts, t.value);
        parse_path_tail(op);
        return op;
      case Tok::lbracket:
        if (subject && bracket_path_ahead()) {
          op.source = Source::document;
          parse_bracket(op);
          parse_path_tail(op);
          return op;
        }
        op.source = Source::literal;
        op.literal = parse_list();
        if (!subject && (peek().kind == Tok::dot || peek().kind == Tok::lbracket)) {
          fail(peek(),
               "an operator or the end of the list operand (right of an operator, \"[\" "
               "starts a list; to use a path such as [0].x, write it on the left)");
        }
        return op;
      case Tok::ident:
        if (t.value == "true" || t.value == "false" || t.value == "null") {
          next();
          op.source = Source::literal;
          op.literal = t.value == "null" ? json(nullptr) : json(t.value == "true");
          return op;
        }
        if (is_keyword(t.value)) {
          fail_at(t.pos, "expected an operand, found keyword \"" + t.value + "\" (write [\"" +
                             t.value + "\"] for a field of that name)");
        }
        next();
        op.source = Source::document;
        op.path.push_back(Segment{SegmentType::key, t.value, 0});
        parse_path_tail(op);
        return op;
      default:
        break;
    }
    fail(t, "an operand");
  }

  bool bracket_path_ahead() const {
    const Token& inner = peek(1);
    const bool fits = inner.kind == Tok::star || inner.kind == Tok::string ||
                      (inner.kind == Tok::number && is_index_text(inner.value));
    return fits && peek(2).kind == Tok::rbracket;
  }

  static bool is_index_text(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s) {
      if (!is_digit(c)) return false;
    }
    return true;
  }

  void parse_path_tail(Operand& op) {
    for (;;) {
      if (peek().kind == Tok::dot) {
        next();
        const Token& k = peek();
        if (k.kind != Tok::ident) fail(k, R"(a field name after ".")");
        next();
        op.path.push_back(Segment{SegmentType::key, k.value, 0});
      } else if (peek().kind == Tok::lbracket) {
        parse_bracket(op);
      } else {
        return;
      }
    }
  }

  void parse_bracket(Operand& op) {
    next();  // "["
    const Token& in = peek();
    if (in.kind == Tok::star) {
      if (path_only_) {
        fail(in, R"(an index or a quoted key after "[" ([*] is only allowed in conditions))");
      }
      if (!allow_star_) {
        fail(in,
             "a path without [*] here (use all(), any(), none() or count() to go over "
             "the elements of an array)");
      }
      if (op.star_at.size() >= kMaxStarsPerPath) {
        fail(in, "at most " + std::to_string(kMaxStarsPerPath) + " [*] in one path");
      }
      next();
      op.star_at.push_back(op.path.size());
      op.path.push_back(Segment{SegmentType::star, {}, 0});
    } else if (in.kind == Tok::number && is_index_text(in.value)) {
      std::size_t index = 0;
      const char* first = in.value.data();
      const char* last = first + in.value.size();
      auto [ptr, ec] = std::from_chars(first, last, index);
      if (ec != std::errc() || ptr != last) fail(in, "an index that fits in 64 bits");
      next();
      op.path.push_back(Segment{SegmentType::index, {}, index});
    } else if (in.kind == Tok::string) {
      next();
      op.path.push_back(Segment{SegmentType::key, in.value, 0});
    } else {
      fail(in, path_only_ ? R"(an index or a quoted key after "[")"
                          : R"(an index, a quoted key or * after "[")");
    }
    expect(Tok::rbracket, R"("]")");
  }

  json parse_list() {
    const Token& lb = next();  // "["
    DepthGuard guard(*this, lb);
    json list = json::array();
    if (peek().kind == Tok::rbracket) {
      next();
      return list;
    }
    for (;;) {
      list.push_back(parse_literal());
      if (peek().kind == Tok::comma) {
        next();
        continue;
      }
      if (peek().kind == Tok::rbracket) {
        next();
        return list;
      }
      fail(peek(), R"("," or "]" in a list)");
    }
  }

  json parse_literal() {
    const Token& t = peek();
    switch (t.kind) {
      case Tok::number:
        next();
        return number_value(t);
      case Tok::string:
        next();
        return json(t.value);
      case Tok::lbracket:
        return parse_list();
      case Tok::ident:
        if (t.value == "true" || t.value == "false") {
          next();
          return json(t.value == "true");
        }
        if (t.value == "null") {
          next();
          return json(nullptr);
        }
        break;
      default:
        break;
    }
    fail(t, "a literal (number, string, true, false, null or list)");
  }

  json number_value(const Token& t) const {
    const std::string& s = t.value;
    const char* first = s.data();
    const char* last = first + s.size();
    const bool integral = s.find_first_of(".eE") == std::string::npos;
    if (integral) {
      std::int64_t i = 0;
      auto [ptr, ec] = std::from_chars(first, last, i);
      if (ec == std::errc() && ptr == last) return json(i);
      if (s.front() != '-') {
        std::uint64_t u = 0;
        auto [uptr, uec] = std::from_chars(first, last, u);
        if (uec == std::errc() && uptr == last) return json(u);
      }
      fail_at(t.pos, "expected an integer that fits in 64 bits, found " + clip(s, 40));
    }
    double d = 0;
    auto [ptr, ec] = std::from_chars(first, last, d);
    if (ec != std::errc() || ptr != last || !std::isfinite(d)) {
      fail_at(t.pos, "expected a finite number, found " + clip(s, 40));
    }
    return json(d);
  }

  std::string_view text_;
  std::string_view noun_;
  std::vector<Token> toks_;
  bool path_only_ = false;
  std::size_t i_ = 0;
  std::size_t last_end_ = 0;
  int depth_ = 0;
  bool allow_star_ = false;
};

// ---------------------------------------------------------------------------------------------
// Evaluation.

/// The element a `count(... where ...)` expression is evaluated on, kept only to name it in
/// messages: rendering `results[3]` is deferred until a message needs it.
struct Scope {
  const Scope* parent = nullptr;
  const Operand* op = nullptr;
  const std::size_t* idx = nullptr;
  std::size_t nidx = 0;
};

struct Ctx {
  const EvalEnv* env = nullptr;
  const Scope* scope = nullptr;
  /// Messages, observed and expected for satisfied/violated outcomes. Off for per-element
  /// evaluations, whose outcomes are aggregated (errors always carry a message).
  bool detail = true;
};

std::string scope_prefix(const Scope* scope);

/// Renders the first `nsegs` segments of an operand's path; the first `nidx` `[*]` show the
/// concrete index, the others `[*]`.
std::string render_path(const Operand& op, std::size_t nsegs, const std::size_t* idx,
                        std::size_t nidx, const Scope* scope) {
  std::string out = op.source == Source::artifact ? "@" + op.name : scope_prefix(scope);
  std::size_t star = 0;
  for (std::size_t i = 0; i < nsegs && i < op.path.size(); ++i) {
    const Segment& s = op.path[i];
    switch (s.type) {
      case SegmentType::key:
        append_key(out, s.key);
        break;
      case SegmentType::index:
        append_index(out, s.index);
        break;
      case SegmentType::star:
        if (star < nidx) {
          append_index(out, idx[star]);
        } else {
          out += "[*]";
        }
        ++star;
        break;
    }
  }
  return out;
}

std::string scope_prefix(const Scope* scope) {
  if (scope == nullptr) return {};
  return render_path(*scope->op, scope->op->path.size(), scope->idx, scope->nidx, scope->parent);
}

/// "1 element", "3 elements".
std::string count_of(std::size_t n, std::string_view noun) {
  return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

std::string or_root(std::string rendered) {
  return rendered.empty() ? std::string("the document root") : rendered;
}

/// How an operand is named in messages.
std::string operand_desc(const Operand& op, const Ctx& ctx) {
  switch (op.source) {
    case Source::literal:
      return render_value(op.literal);
    case Source::variable:
      return "$" + op.name;
    case Source::document:
    case Source::artifact:
      break;
  }
  return or_root(render_path(op, op.path.size(), nullptr, 0, ctx.scope));
}

ConditionOutcome make_outcome(Kind kind, std::string message, Errc code = Errc::malformed) {
  ConditionOutcome o;
  o.kind = kind;
  o.message = std::move(message);
  o.error_code = code;
  return o;
}

bool is_error(Kind k) noexcept { return k != Kind::satisfied && k != Kind::violated; }

/// Result of following path segments without `[*]`.
struct Walk {
  enum class Fail { none, missing_key, index_out_of_range, wrong_type };
  const json* value = nullptr;
  Fail fail = Fail::none;
  std::size_t failed = 0;        ///< Segment that could not be followed.
  const json* parent = nullptr;  ///< Value that segment was applied to.
};

Walk walk(const json& start, const std::vector<Segment>& path, std::size_t from, std::size_t to) {
  const json* cur = &start;
  for (std::size_t i = from; i < to; ++i) {
    const Segment& s = path[i];
    if (s.type == SegmentType::key) {
      if (!cur->is_object()) return Walk{nullptr, Walk::Fail::wrong_type, i, cur};
      auto it = cur->find(s.key);
      if (it == cur->end()) return Walk{nullptr, Walk::Fail::missing_key, i, cur};
      cur = &*it;
    } else {
      // An index (the caller stops before [*] segments).
      if (!cur->is_array()) return Walk{nullptr, Walk::Fail::wrong_type, i, cur};
      if (s.index >= cur->size()) return Walk{nullptr, Walk::Fail::index_out_of_range, i, cur};
      cur = &(*cur)[s.index];
    }
  }
  return Walk{cur, Walk::Fail::none, 0, nullptr};
}

/// The outcome for a path that could not be followed: Kind::missing or Kind::type_mismatch.
ConditionOutcome path_error(const Operand& op, const Walk& w, const std::size_t* idx,
                            std::size_t nidx, const Ctx& ctx) {
  const std::string full = or_root(render_path(op, op.path.size(), idx, nidx, ctx.scope));
  const std::string parent = or_root(render_path(op, w.failed, idx, nidx, ctx.scope));
  const bool last = w.failed + 1 == op.path.size();
  switch (w.fail) {
    case Walk::Fail::missing_key: {
      std::string msg = full + " is missing";
      if (!last) msg += " (" + render_path(op, w.failed + 1, idx, nidx, ctx.scope) + " is missing)";
      return make_outcome(Kind::missing, std::move(msg), Errc::not_found);
    }
    case Walk::Fail::index_out_of_range:
      return make_outcome(Kind::missing,
                          full + " is missing (index " + std::to_string(op.path[w.failed].index) +
                              " is out of range: " + parent + " has " +
                              count_of(w.parent->size(), "element") + ")",
                          Errc::not_found);
    case Walk::Fail::wrong_type:
    case Walk::Fail::none:
      break;
  }
  const SegmentType t = op.path[w.failed].type;
  ConditionOutcome o =
      make_outcome(Kind::type_mismatch,
                   parent + ": expected " + (t == SegmentType::key ? "an object" : "an array") +
                       ", found " + describe_found(*w.parent),
                   Errc::type_mismatch);
  o.observed = sanitize(*w.parent);
  return o;
}

/// Either the document an operand's path starts from, or why it is not there.
struct Base {
  const json* doc = nullptr;
  std::optional<ConditionOutcome> error;  ///< Optional: most lookups succeed, cheaply.
};

Base artifact_base(const std::string& name, const Ctx& ctx) {
  Base b;
  if (!ctx.env->artifact) {
    b.error = make_outcome(Kind::unavailable,
                           "@" + name +
                               ": other artifacts cannot be read here (no artifact "
                               "loader in the evaluation environment)",
                           Errc::unavailable);
    return b;
  }
  Result<const json*> r = ctx.env->artifact(name);
  if (!r.ok()) {
    const Error& e = r.error();
    const bool could_not_read = e.code == Errc::permission_denied || e.code == Errc::io_error ||
                                e.code == Errc::unavailable || e.code == Errc::interrupted ||
                                e.code == Errc::internal;
    b.error = make_outcome(could_not_read ? Kind::unavailable : Kind::missing,
                           "@" + name + ": " + e.message, e.code);
    return b;
  }
  if (*r == nullptr) {
    b.error =
        make_outcome(Kind::unavailable, "@" + name + ": the artifact loader returned no document",
                     Errc::internal);
    return b;
  }
  b.doc = *r;
  return b;
}

Base operand_base(const Operand& op, const json& doc, const Ctx& ctx) {
  if (op.source == Source::artifact) return artifact_base(op.name, ctx);
  Base b;
  b.doc = &doc;
  return b;
}

/// An operand's value, or the outcome explaining why there is none.
struct Resolved {
  const json* value = nullptr;
  std::optional<ConditionOutcome> error;  ///< Optional: most lookups succeed, cheaply.
};

Resolved resolve(const Operand& op, const json& doc, const Ctx& ctx) {
  Resolved r;
  switch (op.source) {
    case Source::literal:
      r.value = &op.literal;
      return r;
    case Source::variable:
      r.value = ctx.env->var ? ctx.env->var(op.name) : nullptr;
      if (r.value == nullptr) {
        r.error = make_outcome(Kind::missing, "variable $" + op.name + " is not defined",
                               Errc::not_found);
      }
      return r;
    case Source::document:
    case Source::artifact:
      break;
  }
  Base base = operand_base(op, doc, ctx);
  if (base.doc == nullptr) {
    r.error = std::move(base.error);
    return r;
  }
  Walk w = walk(*base.doc, op.path, 0, op.path.size());
  if (w.value == nullptr) {
    r.error = path_error(op, w, nullptr, 0, ctx);
  } else {
    r.value = w.value;
  }
  return r;
}

/// Type-erased, non-owning "describe operand i" callback: 0 = subject, 1 = rhs / lower bound,
/// 2 = upper bound. Only called when a message is built, so per-element evaluations over
/// large arrays do not render paths they never report.
class DescFn {
 public:
  template <class F>
  DescFn(const F& f) noexcept  // NOLINT: implicit by design, like std::function_ref
      : obj_(&f), call_(&invoke<F>) {}
  std::string operator()(int which) const { return call_(obj_, which); }

 private:
  template <class F>
  static std::string invoke(const void* obj, int which) {
    return (*static_cast<const F*>(obj))(which);
  }
  const void* obj_;
  std::string (*call_)(const void*, int);
};

ConditionOutcome type_mismatch(const std::string& desc, std::string_view expected,
                               const json& found) {
  ConditionOutcome o = make_outcome(
      Kind::type_mismatch,
      desc + ": expected " + std::string(expected) + ", found " + describe_found(found),
      Errc::type_mismatch);
  o.observed = sanitize(found);
  return o;
}

ConditionOutcome not_finite(const std::string& desc, const json& found) {
  ConditionOutcome o;
  if (found.is_number()) {
    o = make_outcome(Kind::not_finite,
                     desc + ": expected a finite number, found " + render_value(found));
  } else {
    o = make_outcome(
        Kind::not_finite,
        desc + ": expected finite numbers, found NaN or Infinity in " + render_value(found));
  }
  o.observed = sanitize(found);
  return o;
}

/// Checks that `v` is a finite number; returns the failure otherwise.
std::optional<ConditionOutcome> require_number(const json& v, const DescFn& desc, int which) {
  if (!v.is_number()) return type_mismatch(desc(which), "a number", v);
  if (is_non_finite_number(v)) return not_finite(desc(which), v);
  return std::nullopt;
}

/// Renders the right-hand side of a test: `>= 0.9`, `>= $min = 0.9`, `in ["a","b"]`.
std::string side_text(const Operand& op, const json& value, const DescFn& desc, int which) {
  if (op.source == Source::literal) return render_value(value);
  return desc(which) + " = " + render_value(value);
}

/// The list of an `in` test: the literal, or the variable's value resolved into `b`.
const json& list_of(const Test& t, const json* b) { return t.list_from_var ? *b : t.list; }

std::string tail_text(const Test& t, const json* b, const json* c, const DescFn& desc,
                      bool violated) {
  switch (t.kind) {
    case TestKind::compare:
      return std::string(op_text(t.op)) + " " + side_text(t.rhs, *b, desc, 1);
    case TestKind::in:
      return "in " + render_value(list_of(t, b));
    case TestKind::not_in:
      return "not in " + render_value(list_of(t, b));
    case TestKind::between:
      return "between " + side_text(t.rhs, *b, desc, 1) + " and " + side_text(t.hi, *c, desc, 2);
    case TestKind::matches:
      return (violated ? "to match " : "matches ") + quote(t.pattern);
  }
  return {};
}

json expected_json(const Test& t, const json* b, const json* c) {
  switch (t.kind) {
    case TestKind::compare:
      return json{{"op", op_text(t.op)}, {"value", sanitize(*b)}};
    case TestKind::in:
      return json{{"op", "in"}, {"values", list_of(t, b)}};
    case TestKind::not_in:
      return json{{"op", "not in"}, {"values", list_of(t, b)}};
    case TestKind::between:
      return json{{"op", "between"}, {"min", sanitize(*b)}, {"max", sanitize(*c)}};
    case TestKind::matches:
      return json{{"op", "matches"}, {"pattern", t.pattern}};
  }
  return nullptr;
}

/// Human list of type classes present in a list literal: "a string or a number".
std::string list_classes(const json& list) {
  std::vector<TypeClass> seen;
  for (const json& e : list) {
    const TypeClass c = class_of(e);
    bool have = false;
    for (TypeClass s : seen) have = have || s == c;
    if (!have) seen.push_back(c);
  }
  std::string out;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    if (i > 0) out += " or ";
    out += class_article(seen[i]);
  }
  return out;
}

/// Decides a test on resolved values: `a` is the subject, `b` the other side or lower bound,
/// `c` the upper bound (null when the test has none).
ConditionOutcome eval_test(const Test& t, const json& a, const json* b, const json* c,
                           const DescFn& desc, bool detail) {
  bool holds = false;
  switch (t.kind) {
    case TestKind::compare: {
      if (t.op == CmpOp::eq || t.op == CmpOp::ne) {
        const TypeClass ca = class_of(a);
        const TypeClass cb = class_of(*b);
        if (ca != cb) {
          std::string expected(class_article(cb));
          if (t.rhs.source != Source::literal) expected += " (to compare with " + desc(1) + ")";
          return type_mismatch(desc(0), expected, a);
        }
        if (contains_non_finite(a)) return not_finite(desc(0), a);
        if (contains_non_finite(*b)) return not_finite(desc(1), *b);
        holds = same_class_equal(a, *b) == (t.op == CmpOp::eq);
      } else {
        if (auto e = require_number(a, desc, 0)) return std::move(*e);
        if (auto e = require_number(*b, desc, 1)) return std::move(*e);
        holds = op_holds(t.op, compare_numbers(a, *b));
      }
      break;
    }
    case TestKind::in:
    case TestKind::not_in: {
      if (t.list_from_var && (!b->is_array() || b->empty())) {
        return type_mismatch(desc(1), "a non-empty list", *b);
      }
      const json& list = list_of(t, b);
      if (contains_non_finite(a)) return not_finite(desc(0), a);
      const TypeClass ca = class_of(a);
      bool shares_class = false;
      bool found = false;
      for (const json& e : list) {
        if (class_of(e) != ca) continue;
        shares_class = true;
        if (same_class_equal(a, e)) {
          found = true;
          break;
        }
      }
      if (!shares_class) {
        return type_mismatch(desc(0),
                             list_classes(list) + " (to look up in " + render_value(list) + ")", a);
      }
      holds = found == (t.kind == TestKind::in);
      break;
    }
    case TestKind::between: {
      if (auto e = require_number(a, desc, 0)) return std::move(*e);
      if (auto e = require_number(*b, desc, 1)) return std::move(*e);
      if (auto e = require_number(*c, desc, 2)) return std::move(*e);
      holds = compare_numbers(*b, a) <= 0 && compare_numbers(a, *c) <= 0;
      break;
    }
    case TestKind::matches: {
      if (!a.is_string()) return type_mismatch(desc(0), "a string", a);
      const std::string& s = a.get_ref<const json::string_t&>();
#if !defined(__GLIBCXX__)
      // Without libstdc++'s polynomial mode the matcher may recurse per character.
      constexpr std::size_t kMaxSubject = 4096;
      if (s.size() > kMaxSubject) {
        return make_outcome(Kind::unavailable,
                            desc(0) + ": string of " + std::to_string(s.size()) +
                                " bytes is too long to match against a regular expression",
                            Errc::too_large);
      }
#endif
      try {
        holds = std::regex_match(s, t.regex);
      } catch (const std::regex_error& e) {
        return make_outcome(
            Kind::unavailable,
            desc(0) + ": could not match against " + quote(t.pattern) + ": " + e.what(),
            Errc::internal);
      }
      break;
    }
  }
  ConditionOutcome o;
  o.kind = holds ? Kind::satisfied : Kind::violated;
  if (detail) {
    const std::string subject = desc(0) + " = " + render_value(a);
    o.message = holds ? subject + " (" + tail_text(t, b, c, desc, false) + ")"
                      : subject + ", expected " + tail_text(t, b, c, desc, true);
    o.observed = sanitize(a);
    o.expected = expected_json(t, b, c);
  }
  return o;
}

ConditionOutcome eval_node(const ConditionNode& node, const json& doc, const Ctx& ctx);

/// Visits every value reached by a path with `[*]` (flattening several `[*]`), in document
/// order. `visit(value, indices)` returns false to stop. Returns the path's failure, if any,
/// for the first element on which it could not be followed.
template <class Visit>
std::optional<ConditionOutcome> expand(const Operand& op, const json& value, std::size_t seg,
                                       std::size_t level, std::vector<std::size_t>& idx,
                                       const Ctx& ctx, Visit& visit, bool& stop) {
  const std::size_t until = level < op.star_at.size() ? op.star_at[level] : op.path.size();
  Walk w = walk(value, op.path, seg, until);
  if (w.value == nullptr) return path_error(op, w, idx.data(), level, ctx);
  if (until == op.path.size()) {
    stop = !visit(*w.value, idx);
    return std::nullopt;
  }
  if (!w.value->is_array()) {
    ConditionOutcome o =
        make_outcome(Kind::type_mismatch,
                     or_root(render_path(op, until, idx.data(), level, ctx.scope)) +
                         ": expected an array, found " + describe_found(*w.value),
                     Errc::type_mismatch);
    o.observed = sanitize(*w.value);
    return o;
  }
  const std::size_t n = w.value->size();
  for (std::size_t i = 0; i < n && !stop; ++i) {
    idx[level] = i;
    if (auto e = expand(op, (*w.value)[i], until + 1, level + 1, idx, ctx, visit, stop)) return e;
  }
  return std::nullopt;
}

/// "no elements at results[*]": the path up to its last [*].
std::string empty_message(const Operand& op, const Ctx& ctx) {
  return "no elements at " + or_root(render_path(op, op.star_at.back() + 1, nullptr, 0, ctx.scope));
}

ConditionOutcome eval_test_node(const Test& t, const json& doc, const Ctx& ctx) {
  Resolved a = resolve(t.lhs, doc, ctx);
  if (a.value == nullptr) return std::move(*a.error);
  Resolved b;
  Resolved c;
  if (t.kind == TestKind::compare || t.kind == TestKind::between || t.list_from_var) {
    b = resolve(t.rhs, doc, ctx);
    if (b.value == nullptr) return std::move(*b.error);
  }
  if (t.kind == TestKind::between) {
    c = resolve(t.hi, doc, ctx);
    if (c.value == nullptr) return std::move(*c.error);
  }
  auto desc = [&](int which) {
    return operand_desc(which == 0 ? t.lhs : which == 1 ? t.rhs : t.hi, ctx);
  };
  return eval_test(t, *a.value, b.value, c.value, desc, ctx.detail);
}

ConditionOutcome eval_quantified(const ConditionNode& node, const json& doc, const Ctx& ctx) {
  const Test& t = node.test;
  const Quantifier q = node.quantifier;
  // The other operands do not depend on the element: resolve them once.
  Resolved b;
  Resolved c;
  if (t.kind == TestKind::compare || t.kind == TestKind::between || t.list_from_var) {
    b = resolve(t.rhs, doc, ctx);
    if (b.value == nullptr) return std::move(*b.error);
  }
  if (t.kind == TestKind::between) {
    c = resolve(t.hi, doc, ctx);
    if (c.value == nullptr) return std::move(*c.error);
  }
  Base base = operand_base(t.lhs, doc, ctx);
  if (base.doc == nullptr) return std::move(*base.error);

  std::size_t total = 0;
  std::size_t satisfied = 0;
  // Elements named in the message: violators for all(), matches for any() and none().
  std::vector<std::string> reported;
  std::size_t reported_count = 0;
  json observed = json::array();
  std::optional<ConditionOutcome> element_error;

  auto visit = [&](const json& v, const std::vector<std::size_t>& ix) {
    ++total;
    auto desc = [&](int which) {
      if (which == 0) return render_path(t.lhs, t.lhs.path.size(), ix.data(), ix.size(), ctx.scope);
      return operand_desc(which == 1 ? t.rhs : t.hi, ctx);
    };
    ConditionOutcome o = eval_test(t, v, b.value, c.value, desc, false);
    if (is_error(o.kind)) {
      element_error = std::move(o);
      return false;
    }
    const bool holds = o.kind == Kind::satisfied;
    if (holds) ++satisfied;
    if (ctx.detail) {
      if (observed.size() < kMaxObservedElements) observed.push_back(sanitize(v));
      const bool report = q == Quantifier::all ? !holds : holds;
      if (report) {
        ++reported_count;
        if (reported.size() < kMaxReportedElements) {
          reported.push_back(desc(0) + " = " + render_value(v));
        }
      }
    }
    return true;
  };
  std::vector<std::size_t> idx(t.lhs.star_at.size(), 0);
  bool stop = false;
  if (auto e = expand(t.lhs, *base.doc, 0, 0, idx, ctx, visit, stop)) return std::move(*e);
  if (element_error) return std::move(*element_error);

  if (total == 0 && q != Quantifier::any) {
    ConditionOutcome o = make_outcome(Kind::empty, empty_message(t.lhs, ctx));
    o.observed = json::array();
    return o;
  }
  bool holds = false;
  switch (q) {
    case Quantifier::all:
      holds = satisfied == total;
      break;
    case Quantifier::any:
      holds = satisfied > 0;
      break;
    case Quantifier::none:
      holds = satisfied == 0;
      break;
  }
  ConditionOutcome o;
  o.kind = holds ? Kind::satisfied : Kind::violated;
  if (!ctx.detail) return o;

  auto generic = [&](int which) {
    if (which == 0) return render_path(t.lhs, t.lhs.path.size(), nullptr, 0, ctx.scope);
    return operand_desc(which == 1 ? t.rhs : t.hi, ctx);
  };
  const DescFn gdesc(generic);
  const std::string subject = generic(0);
  const std::string tail = tail_text(t, b.value, c.value, gdesc, false);
  std::string examples;
  for (const std::string& r : reported) examples += (examples.empty() ? "" : ", ") + r;
  if (reported_count > reported.size()) examples += ", ...";
  const std::string elements = count_of(total, "element");
  const std::string counts = std::to_string(reported_count) + " of " + elements + " of " + subject;

  if (total == 0) {
    o.message = empty_message(t.lhs, ctx) + ": any() over no elements is false";
  } else if (q == Quantifier::all) {
    o.message = holds ? "all " + elements + " of " + subject + " satisfy " + tail
                      : counts + " do not satisfy " + tail + ": " + examples;
  } else if (q == Quantifier::any) {
    o.message = holds ? counts + " satisfy " + tail + ": " + examples
                      : "none of the " + elements + " of " + subject + " satisfies " + tail;
  } else {
    o.message = holds ? "none of the " + elements + " of " + subject + " satisfies " + tail
                      : counts + " satisfy " + tail + " (expected none): " + examples;
  }
  o.observed = std::move(observed);
  o.expected = expected_json(t, b.value, c.value);
  o.expected["quantifier"] = q == Quantifier::all ? "all" : q == Quantifier::any ? "any" : "none";
  return o;
}

ConditionOutcome eval_count(const ConditionNode& node, const json& doc, const Ctx& ctx) {
  const Test& t = node.test;
  Resolved rhs = resolve(t.rhs, doc, ctx);
  if (rhs.value == nullptr) return std::move(*rhs.error);
  Base base = operand_base(node.path, doc, ctx);
  if (base.doc == nullptr) return std::move(*base.error);

  std::size_t count = 0;
  std::optional<ConditionOutcome> element_error;
  Scope scope{ctx.scope, &node.path, nullptr, 0};
  const ConditionNode* where = node.children.empty() ? nullptr : node.children.front().get();
  auto visit = [&](const json& v, const std::vector<std::size_t>& ix) {
    if (where == nullptr) {
      ++count;
      return true;
    }
    scope.idx = ix.data();
    scope.nidx = ix.size();
    const Ctx inner{ctx.env, &scope, false};
    ConditionOutcome o = eval_node(*where, v, inner);
    if (is_error(o.kind)) {
      element_error = std::move(o);
      return false;
    }
    if (o.kind == Kind::satisfied) ++count;
    return true;
  };
  std::vector<std::size_t> idx(node.path.star_at.size(), 0);
  bool stop = false;
  if (auto e = expand(node.path, *base.doc, 0, 0, idx, ctx, visit, stop)) return std::move(*e);
  if (element_error) return std::move(*element_error);

  auto desc = [&](int which) { return which == 0 ? node.count_text : operand_desc(t.rhs, ctx); };
  const DescFn d(desc);
  // The count is a number by construction; only the other side can have the wrong type.
  if (auto e = require_number(*rhs.value, d, 1)) return std::move(*e);
  const json value(static_cast<std::uint64_t>(count));
  return eval_test(t, value, rhs.value, nullptr, d, ctx.detail);
}

ConditionOutcome eval_exists(const ConditionNode& node, const json& doc, const Ctx& ctx) {
  const Operand& p = node.path;
  Walk w = walk(doc, p.path, 0, p.path.size());
  ConditionOutcome o;
  if (w.value != nullptr) {
    o.kind = Kind::satisfied;
    if (ctx.detail) {
      o.message = operand_desc(p, ctx) + " exists";
      o.observed = sanitize(*w.value);
      o.expected = json{{"op", "exists"}};
    }
    return o;
  }
  o = path_error(p, w, nullptr, 0, ctx);
  // Absence is exactly what exists() asks about; a wrong type on the way is still an error.
  if (o.kind == Kind::missing) {
    o.kind = Kind::violated;
    o.error_code = Errc::malformed;
    o.expected = json{{"op", "exists"}};
  }
  return o;
}

ConditionOutcome eval_chain(const ConditionNode& node, const json& doc, const Ctx& ctx) {
  const bool conjunction = node.type == ConditionNode::Type::conjunction;
  const Kind decisive = conjunction ? Kind::violated : Kind::satisfied;
  // No short-circuit: an error on either side must surface even when the other side alone
  // would decide the result (fail closed; an `or` must not mask a missing field).
  if (!ctx.detail) {
    // Per-element evaluation (count ... where): only the kind matters, and keeping every
    // child's outcome would allocate once per element.
    bool any_decisive = false;
    for (const auto& child : node.children) {
      ConditionOutcome c = eval_node(*child, doc, ctx);
      if (is_error(c.kind)) return c;
      any_decisive = any_decisive || c.kind == decisive;
    }
    ConditionOutcome o;
    o.kind = any_decisive ? decisive : (conjunction ? Kind::satisfied : Kind::violated);
    return o;
  }
  std::vector<ConditionOutcome> outs;
  outs.reserve(node.children.size());
  for (const auto& child : node.children) {
    outs.push_back(eval_node(*child, doc, ctx));
    if (is_error(outs.back().kind)) return std::move(outs.back());
  }
  std::size_t first_decisive = outs.size();
  for (std::size_t i = 0; i < outs.size(); ++i) {
    if (outs[i].kind == decisive) {
      first_decisive = i;
      break;
    }
  }
  ConditionOutcome o;
  const bool any_decisive = first_decisive < outs.size();
  o.kind = any_decisive ? decisive : (conjunction ? Kind::satisfied : Kind::violated);
  if (any_decisive) {
    if (conjunction) {
      for (const ConditionOutcome& c : outs) {
        if (c.kind != Kind::violated) continue;
        o.message += (o.message.empty() ? "" : "; ") + c.message;
      }
    } else {
      o.message = outs[first_decisive].message;
    }
    o.observed = std::move(outs[first_decisive].observed);
    o.expected = std::move(outs[first_decisive].expected);
  } else {
    for (const ConditionOutcome& c : outs) o.message += (o.message.empty() ? "" : "; ") + c.message;
    if (!conjunction) o.message = "no alternative holds: " + o.message;
  }
  return o;
}

ConditionOutcome eval_negation(const ConditionNode& node, const json& doc, const Ctx& ctx) {
  const ConditionNode& child = *node.children.front();
  ConditionOutcome o = eval_node(child, doc, ctx);
  if (is_error(o.kind)) return o;
  const bool inner_holds = o.kind == Kind::satisfied;
  o.kind = inner_holds ? Kind::violated : Kind::satisfied;
  if (ctx.detail) {
    o.message = inner_holds ? "expected not (" + child.source + "), but " + o.message
                            : "not (" + child.source + "): " + o.message;
    o.expected = json{{"op", "not"}, {"inner", std::move(o.expected)}};
  }
  return o;
}

ConditionOutcome eval_node(const ConditionNode& node, const json& doc, const Ctx& ctx) {
  switch (node.type) {
    case ConditionNode::Type::conjunction:
    case ConditionNode::Type::disjunction:
      return eval_chain(node, doc, ctx);
    case ConditionNode::Type::negation:
      return eval_negation(node, doc, ctx);
    case ConditionNode::Type::test:
      return eval_test_node(node.test, doc, ctx);
    case ConditionNode::Type::quantified:
      return eval_quantified(node, doc, ctx);
    case ConditionNode::Type::count:
      return eval_count(node, doc, ctx);
    case ConditionNode::Type::exists:
      return eval_exists(node, doc, ctx);
  }
  return make_outcome(Kind::unavailable, "unknown condition node", Errc::internal);
}

/// Used when evaluation itself failed (an exception: out of memory, a library bug). Must not
/// throw, so building the message is best effort.
ConditionOutcome internal_failure(std::string_view text, const char* what) noexcept {
  ConditionOutcome o;
  o.kind = Kind::unavailable;
  o.error_code = Errc::internal;
  try {
    o.message = "condition \"" + clip(text, kMaxQuotedText) +
                "\" could not be evaluated: internal error: " + what;
  } catch (...) {
    o.message.clear();
  }
  return o;
}

}  // namespace

std::string_view to_string(ConditionOutcome::Kind kind) noexcept {
  switch (kind) {
    case Kind::satisfied:
      return "satisfied";
    case Kind::violated:
      return "violated";
    case Kind::missing:
      return "missing";
    case Kind::type_mismatch:
      return "type_mismatch";
    case Kind::not_finite:
      return "not_finite";
    case Kind::empty:
      return "empty";
    case Kind::unavailable:
      return "unavailable";
  }
  return "unavailable";
}

Result<Condition> Condition::parse(std::string_view text) {
  try {
    Parser parser(text, "condition", Lexer(text, "condition").run(), false);
    NodePtr root = parser.parse_condition();
    Condition c;
    c.text_ = std::string(text);
    c.root_ = std::shared_ptr<const detail::ConditionNode>(std::move(root));
    c.vars_ = std::move(parser.vars);
    c.artifacts_ = std::move(parser.artifacts);
    return c;
  } catch (const ParseFailure& f) {
    return make_error(Errc::spec_error, format_parse_error("condition", text, f));
  } catch (const std::exception& e) {
    return make_error(Errc::internal, "condition \"" + clip(text, kMaxQuotedText) +
                                          "\": internal error while parsing: " + e.what());
  }
}

ConditionOutcome Condition::evaluate(const nlohmann::json& doc, const EvalEnv& env) const {
  try {
    if (!root_) return internal_failure(text_, "empty condition (moved from?)");
    const Ctx ctx{&env, nullptr, true};
    return eval_node(*root_, doc, ctx);
  } catch (const std::exception& e) {
    return internal_failure(text_, e.what());
  } catch (...) {
    return internal_failure(text_, "unknown exception");
  }
}

Result<JsonPath> JsonPath::parse(std::string_view text) {
  try {
    Parser parser(text, "path", Lexer(text, "path").run(), true);
    // Qualified: inside JsonPath's members, `Segment` names JsonPath::Segment.
    std::vector<detail::cond::Segment> segments = parser.parse_standalone_path();
    JsonPath p;
    p.text_ = std::string(text);
    p.segments_.reserve(segments.size());
    for (detail::cond::Segment& s : segments) {
      p.segments_.push_back(
          JsonPath::Segment{s.type == SegmentType::index, std::move(s.key), s.index});
    }
    return p;
  } catch (const ParseFailure& f) {
    return make_error(Errc::spec_error, format_parse_error("path", text, f));
  } catch (const std::exception& e) {
    return make_error(Errc::internal, "path \"" + clip(text, kMaxQuotedText) +
                                          "\": internal error while parsing: " + e.what());
  }
}

Result<const nlohmann::json*> JsonPath::find(const nlohmann::json& doc) const {
  try {
    // The followed prefix is rendered only for an error: find() runs in per-element loops.
    auto where = [this](std::size_t n) {
      std::string at;
      for (std::size_t i = 0; i < n; ++i) {
        const Segment& s = segments_[i];
        if (s.is_index) {
          append_index(at, s.index);
        } else {
          append_key(at, s.key);
        }
      }
      return at.empty() ? std::string("the document root") : at;
    };
    const json* cur = &doc;
    for (std::size_t i = 0; i < segments_.size(); ++i) {
      const Segment& s = segments_[i];
      if (s.is_index) {
        if (!cur->is_array()) {
          return make_error(Errc::type_mismatch,
                            where(i) + ": expected an array, found " + describe_found(*cur));
        }
        if (s.index >= cur->size()) {
          return make_error(Errc::not_found,
                            "index " + std::to_string(s.index) + " is out of range at " + where(i) +
                                " (array has " + count_of(cur->size(), "element") + ")");
        }
        cur = &(*cur)[s.index];
      } else {
        if (!cur->is_object()) {
          return make_error(Errc::type_mismatch,
                            where(i) + ": expected an object, found " + describe_found(*cur));
        }
        auto it = cur->find(s.key);
        if (it == cur->end()) {
          return make_error(Errc::not_found, "field '" + s.key + "' is missing at " + where(i));
        }
        cur = &*it;
      }
    }
    return cur;
  } catch (const std::exception& e) {
    return make_error(Errc::internal, "path \"" + text_ + "\": " + e.what());
  }
}

}  // namespace stagecheck
