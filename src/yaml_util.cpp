#include "yaml_util.hpp"

#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace stagecheck::detail {
namespace {

bool parse_int(std::string_view s, std::int64_t& out) {
  if (s.empty()) return false;
  bool neg = false;
  std::string_view body = s;
  if (body.front() == '-' || body.front() == '+') {
    neg = body.front() == '-';
    body.remove_prefix(1);
  }
  int base = 10;
  if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'o')) {
    base = body[1] == 'x' ? 16 : 8;
    body.remove_prefix(2);
    if (neg || s.front() == '+') return false;  // YAML 1.2 core: hex/octal are unsigned
  }
  if (body.empty()) return false;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), v, base);
  if (ec != std::errc() || p != body.data() + body.size()) return false;
  if (neg) {
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1) return false;
    out = v == static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1
              ? std::numeric_limits<std::int64_t>::min()
              : -static_cast<std::int64_t>(v);
    return true;
  }
  if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
  out = static_cast<std::int64_t>(v);
  return true;
}

bool parse_float(std::string_view s, double& out) {
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf" || s == "+.Inf" || s == "+.INF") {
    out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") {
    out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  // YAML 1.2 core float: [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  std::size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') { ++i; ++digits; }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') { ++i; ++digits; }
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    std::size_t exp = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') { ++i; ++exp; }
    if (exp == 0) return false;
  }
  if (i != s.size()) return false;
  std::string_view body = s;
  if (body.front() == '+') body.remove_prefix(1);
  auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), out);
  if (ec == std::errc::result_out_of_range) {
    out = body.front() == '-' ? -std::numeric_limits<double>::infinity()
                              : std::numeric_limits<double>::infinity();
    return true;
  }
  return ec == std::errc() && p == body.data() + body.size();
}

}  // namespace

bool is_plain_scalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() == "?"; }

nlohmann::json scalar_to_json(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (!is_plain_scalar(node)) return s;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  std::int64_t i = 0;
  if (parse_int(s, i)) return i;
  double d = 0;
  if (parse_float(s, d)) return d;
  return s;
}

Result<nlohmann::json> yaml_to_json(const YAML::Node& node, int max_depth, std::string_view what) {
  if (max_depth < 0) {
    return make_error(Errc::malformed,
                      fmt::format("{}: nested too deep at line {}", what, node.Mark().line + 1));
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nlohmann::json(nullptr);
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    case YAML::NodeType::Sequence: {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& item : node) {
        auto v = yaml_to_json(item, max_depth - 1, what);
        if (!v) return v;
        arr.push_back(std::move(*v));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      nlohmann::json obj = nlohmann::json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return make_error(Errc::malformed, fmt::format("{}: line {}: mapping keys must be scalars",
                                                         what, kv.first.Mark().line + 1));
        }
        const std::string& key = kv.first.Scalar();
        if (obj.contains(key)) {
          return make_error(Errc::malformed, fmt::format("{}: line {}: duplicate key '{}'", what,
                                                         kv.first.Mark().line + 1, key));
        }
        auto v = yaml_to_json(kv.second, max_depth - 1, what);
        if (!v) return v;
        obj[key] = std::move(*v);
      }
      return obj;
    }
  }
  return nlohmann::json(nullptr);
}

SourceMark mark_of(const YAML::Node& node, const std::string& file) {
  const YAML::Mark m = node.Mark();
  if (m.line < 0) return SourceMark{file, 0, 0};
  return SourceMark{file, m.line + 1, m.column + 1};
}

}  // namespace stagecheck::detail
