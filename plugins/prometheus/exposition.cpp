#include "exposition.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>

#include <fmt/format.h>

namespace stagecheck::prometheus {
namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool blank(char c) { return c == ' ' || c == '\t'; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

/// A float as the format writes it: a decimal number, or NaN / Inf / +Inf / -Inf (any case).
std::optional<double> parse_float(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool negative = false;
  std::string_view body = s;
  if (body.front() == '+' || body.front() == '-') {
    negative = body.front() == '-';
    body.remove_prefix(1);
  }
  if (iequals(body, "inf") || iequals(body, "infinity")) {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (iequals(body, "nan")) {
    if (body.size() != s.size()) return std::nullopt;  // "+NaN" is not a float
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (body.empty() || !(digit(body.front()) || body.front() == '.')) return std::nullopt;
  double d = 0;
  auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), d);
  if (ec != std::errc() || end != body.data() + body.size()) return std::nullopt;
  return negative ? -d : d;
}

std::string shown(std::string_view s) {
  constexpr std::size_t kMax = 60;
  std::string out(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  return out;
}

Error line_error(int line, const std::string& message) {
  return make_error(Errc::malformed, fmt::format("line {}: {}", line, message));
}

/// Reads the rest of a HELP text, unescaping \\ and \n.
std::string unescape_help(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '\\' || s[i + 1] == 'n')) {
      out.push_back(s[i + 1] == 'n' ? '\n' : '\\');
      ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string_view read_name(std::string_view s, std::size_t& i, bool metric) {
  const std::size_t start = i;
  if (i < s.size() && (name_start(s[i]) || (metric && s[i] == ':'))) {
    ++i;
    while (i < s.size() && (name_start(s[i]) || digit(s[i]) || (metric && s[i] == ':'))) ++i;
  }
  return s.substr(start, i - start);
}

void skip_blanks(std::string_view s, std::size_t& i) {
  while (i < s.size() && blank(s[i])) ++i;
}

Result<void> parse_comment(std::string_view line, int n, Exposition& out,
                           const std::set<std::string>& seen_names) {
  std::size_t i = 1;
  skip_blanks(line, i);
  const std::size_t kw = i;
  while (i < line.size() && !blank(line[i])) ++i;
  const std::string_view keyword = line.substr(kw, i - kw);
  if (keyword != "HELP" && keyword != "TYPE") return {};  // a plain comment
  skip_blanks(line, i);
  const std::string_view name = read_name(line, i, true);
  if (name.empty() || (i < line.size() && !blank(line[i]))) {
    return line_error(
        n, fmt::format("# {} needs a metric name, found '{}'", keyword, shown(line.substr(kw))));
  }
  skip_blanks(line, i);
  std::string_view rest = line.substr(i);
  while (!rest.empty() && blank(rest.back())) rest.remove_suffix(1);
  const std::string key(name);
  if (keyword == "HELP") {
    if (out.help.count(key) != 0) return line_error(n, fmt::format("second HELP for {}", key));
    out.help[key] = unescape_help(rest);
    return {};
  }
  static const std::set<std::string_view> kTypes = {"counter", "gauge", "histogram", "summary",
                                                    "untyped"};
  if (kTypes.count(rest) == 0) {
    return line_error(n, fmt::format("TYPE {}: unknown type '{}' (expected counter, gauge, "
                                     "histogram, summary or untyped)",
                                     key, shown(rest)));
  }
  if (out.types.count(key) != 0) return line_error(n, fmt::format("second TYPE for {}", key));
  if (seen_names.count(key) != 0) {
    return line_error(n, fmt::format("TYPE for {} after its samples", key));
  }
  out.types[key] = std::string(rest);
  return {};
}

Result<Sample> parse_sample(std::string_view line, int n) {
  Sample sample;
  sample.line = n;
  std::size_t i = 0;
  skip_blanks(line, i);
  sample.name = std::string(read_name(line, i, true));
  if (sample.name.empty()) {
    return line_error(n, fmt::format("expected a metric name, found '{}'", shown(line)));
  }
  std::size_t mark = i;
  bool label_set = false;  // after "}" the value may follow without a blank, as Prometheus reads it
  skip_blanks(line, i);
  if (i < line.size() && line[i] == '{') {
    ++i;
    for (;;) {
      skip_blanks(line, i);
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      const std::string label(read_name(line, i, false));
      if (label.empty()) {
        return line_error(
            n, fmt::format("{}: expected a label name or '}}' at column {}", sample.name, i + 1));
      }
      skip_blanks(line, i);
      if (i >= line.size() || line[i] != '=') {
        return line_error(n, fmt::format("{}: expected '=' after label {}", sample.name, label));
      }
      ++i;
      skip_blanks(line, i);
      if (i >= line.size() || line[i] != '"') {
        return line_error(n, fmt::format("{}: label {} needs a quoted value", sample.name, label));
      }
      ++i;
      std::string value;
      bool closed = false;
      while (i < line.size()) {
        const char c = line[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (i >= line.size()) break;
          const char e = line[i++];
          if (e == '\\' || e == '"') {
            value.push_back(e);
          } else if (e == 'n') {
            value.push_back('\n');
          } else {
            return line_error(n, fmt::format("{}: label {}: invalid escape '\\{}' (only \\\\, "
                                             "\\\" and \\n are allowed)",
                                             sample.name, label, e));
          }
          continue;
        }
        value.push_back(c);
      }
      if (!closed) {
        return line_error(n, fmt::format("{}: label {}: unterminated value", sample.name, label));
      }
      if (!sample.labels.emplace(label, std::move(value)).second) {
        return line_error(n, fmt::format("{}: label {} appears twice", sample.name, label));
      }
      skip_blanks(line, i);
      if (i < line.size() && line[i] == ',') {
        ++i;
        continue;
      }
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      return line_error(n,
                        fmt::format("{}: expected ',' or '}}' after label {}", sample.name, label));
    }
    mark = i;
    label_set = true;
    skip_blanks(line, i);
  }
  if ((i == mark && !label_set) || i >= line.size()) {
    return line_error(n, fmt::format("{}: expected a space and a value, found '{}'", sample.name,
                                     shown(line.substr(mark))));
  }
  std::size_t start = i;
  while (i < line.size() && !blank(line[i])) ++i;
  const std::string_view value_text = line.substr(start, i - start);
  auto value = parse_float(value_text);
  if (!value) {
    return line_error(n,
                      fmt::format("{}: value '{}' is not a float", sample.name, shown(value_text)));
  }
  sample.value = *value;
  skip_blanks(line, i);
  if (i < line.size()) {
    start = i;
    while (i < line.size() && !blank(line[i])) ++i;
    const std::string_view ts = line.substr(start, i - start);
    std::int64_t t = 0;
    auto [end, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), t);
    if (ec != std::errc() || end != ts.data() + ts.size()) {
      return line_error(n, fmt::format("{}: timestamp '{}' is not an integer (milliseconds)",
                                       sample.name, shown(ts)));
    }
    sample.timestamp_ms = t;
    skip_blanks(line, i);
    if (i < line.size()) {
      return line_error(n, fmt::format("{}: unexpected text after the timestamp: '{}'", sample.name,
                                       shown(line.substr(i))));
    }
  }
  return sample;
}

/// The metric family a sample belongs to (x_bucket, x_sum, x_count belong to x when x is a
/// histogram or summary).
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::string base = name.substr(0, name.size() - suffix.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return name;
}

}  // namespace

bool valid_metric_name(std::string_view name) {
  std::size_t i = 0;
  return !read_name(name, i, true).empty() && i == name.size();
}

bool valid_label_name(std::string_view name) {
  std::size_t i = 0;
  return !read_name(name, i, false).empty() && i == name.size();
}

std::string series_text(std::string_view name, const Labels& labels) {
  std::string out(name);
  if (labels.empty()) return out.empty() ? "{}" : out;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k + "=\"";
    for (char c : v) {
      if (c == '\\' || c == '"') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    out += '"';
  }
  return out + '}';
}

Result<Exposition> parse_exposition(std::string_view text) {
  Exposition out;
  std::set<std::string> seen_names;  // families that already had samples
  std::set<std::pair<std::string, Labels>> seen_series;
  int n = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++n;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t first = 0;
    skip_blanks(line, first);
    if (first == line.size()) continue;
    if (line[first] == '#') {
      auto r = parse_comment(line.substr(first), n, out, seen_names);
      if (!r) return std::move(r).error();
      continue;
    }
    auto sample = parse_sample(line, n);
    if (!sample) return std::move(sample).error();
    if (!seen_series.emplace(sample->name, sample->labels).second) {
      return line_error(
          n, fmt::format("series {} appears twice", series_text(sample->name, sample->labels)));
    }
    seen_names.insert(family_of(sample->name, out.types));
    out.samples.push_back(std::move(*sample));
  }
  return out;
}

Result<QuantileValue> histogram_quantile(double q, std::vector<std::pair<double, double>> buckets) {
  QuantileValue out;
  for (const auto& [le, count] : buckets) {
    if (std::isnan(le)) return make_error(Errc::malformed, "a bucket has le=\"NaN\"");
    if (!std::isfinite(count) || count < 0) {
      return make_error(
          Errc::malformed,
          fmt::format("bucket le=\"{}\" has count {} (expected a finite count >= 0)", le, count));
    }
  }
  if (buckets.empty()) {
    out.no_data = "no buckets";
    return out;
  }
  std::sort(buckets.begin(), buckets.end());
  for (std::size_t i = 1; i < buckets.size(); ++i) {
    if (buckets[i].first == buckets[i - 1].first) {
      return make_error(Errc::malformed,
                        fmt::format("bucket le=\"{}\" appears twice", buckets[i].first));
    }
    if (buckets[i].second < buckets[i - 1].second) {
      return make_error(Errc::malformed,
                        fmt::format("bucket counts decrease: le=\"{}\" has {} but le=\"{}\" has {} "
                                    "(cumulative counts must not decrease)",
                                    buckets[i - 1].first, buckets[i - 1].second, buckets[i].first,
                                    buckets[i].second));
    }
  }
  if (!std::isinf(buckets.back().first) || buckets.back().first < 0) {
    out.no_data = "no le=\"+Inf\" bucket";
    return out;
  }
  if (buckets.size() < 2) {
    out.no_data = "only the +Inf bucket";
    return out;
  }
  const double observations = buckets.back().second;
  if (observations == 0) {
    out.no_data = "no observations (the +Inf bucket counts 0)";
    return out;
  }
  double rank = q * observations;
  std::size_t b = 0;
  while (b < buckets.size() && buckets[b].second < rank) ++b;
  if (b >= buckets.size() - 1) {
    out.value = buckets[buckets.size() - 2].first;
    return out;
  }
  if (b == 0 && buckets[0].first <= 0) {
    out.value = buckets[0].first;
    return out;
  }
  double start = 0;
  const double end = buckets[b].first;
  double count = buckets[b].second;
  if (b > 0) {
    start = buckets[b - 1].first;
    count -= buckets[b - 1].second;
    rank -= buckets[b - 1].second;
  }
  out.value = count == 0 ? end : start + (end - start) * (rank / count);
  return out;
}

}  // namespace stagecheck::prometheus
