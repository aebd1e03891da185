// Latency statistics and k6-style thresholds for http_load (see load_stats.hpp).

#include "load_stats.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <numeric>

namespace stagecheck::http {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

/// A plain decimal number ("3", "0.25", "1e3") at the front of `s`; advances `s` past it.
std::optional<double> take_number(std::string_view& s) {
  std::size_t n = 0;
  while (n < s.size() &&
         (std::isdigit(static_cast<unsigned char>(s[n])) != 0 || s[n] == '.' || s[n] == 'e' ||
          s[n] == 'E' ||
          ((s[n] == '+' || s[n] == '-') && n > 0 && (s[n - 1] == 'e' || s[n - 1] == 'E')))) {
    ++n;
  }
  if (n == 0 || std::isdigit(static_cast<unsigned char>(s[0])) == 0) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + n, v);
  if (ec != std::errc() || ptr != s.data() + n || !std::isfinite(v)) return std::nullopt;
  s.remove_prefix(n);
  return v;
}

/// Microseconds per unit, or nullopt for an unknown unit.
std::optional<double> unit_us(std::string_view unit) {
  if (unit == "us" || unit == "µs") return 1.0;
  if (unit == "ms") return 1e3;
  if (unit == "s") return 1e6;
  if (unit == "m") return 60e6;
  return std::nullopt;
}

Error spec_error(std::string message) { return make_error(Errc::spec_error, std::move(message)); }

}  // namespace

Result<std::int64_t> parse_duration_us(std::string_view text) {
  std::string_view s = trim(text);
  auto number = take_number(s);
  s = trim(s);
  if (!number) {
    return spec_error(
        fmt::format("expected a duration such as \"500ms\" or \"3s\", found \"{}\"", text));
  }
  auto unit = unit_us(s);
  if (!unit) {
    return spec_error(
        fmt::format("duration \"{}\": expected a unit us, ms, s or m, found \"{}\"", text, s));
  }
  double us = *number * *unit;
  if (!std::isfinite(us) || us > 9.0e15) {
    return spec_error(fmt::format("duration \"{}\" is out of range", text));
  }
  return static_cast<std::int64_t>(std::llround(us));
}

std::string format_duration_us(double us) {
  if (us >= 1e6) return fmt::format("{:.3g} s", us / 1e6);
  if (us >= 1e3) return fmt::format("{:.4g} ms", us / 1e3);
  return fmt::format("{:.4g} us", us);
}

double LoadStats::error_rate() const {
  return requests == 0 ? 0.0 : static_cast<double>(errors) / static_cast<double>(requests);
}

double LoadStats::rps() const {
  return elapsed_s <= 0 ? 0.0 : static_cast<double>(responses) / elapsed_s;
}

double LoadStats::percentile(double pct) const {
  if (sorted_us.empty()) return 0;
  if (sorted_us.size() == 1) return sorted_us.front();
  double rank = pct / 100.0 * static_cast<double>(sorted_us.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(rank));
  auto hi = static_cast<std::size_t>(std::ceil(rank));
  hi = std::min(hi, sorted_us.size() - 1);
  lo = std::min(lo, hi);
  double f = rank - std::floor(rank);
  return sorted_us[lo] + (sorted_us[hi] - sorted_us[lo]) * f;
}

LoadStats make_stats(std::vector<double> latencies_us, std::uint64_t requests, std::uint64_t errors,
                     double elapsed_s) {
  LoadStats s;
  std::sort(latencies_us.begin(), latencies_us.end());
  s.requests = requests;
  s.responses = latencies_us.size();
  s.errors = errors;
  s.elapsed_s = elapsed_s;
  if (!latencies_us.empty()) {
    s.min_us = latencies_us.front();
    s.max_us = latencies_us.back();
    s.avg_us = std::accumulate(latencies_us.begin(), latencies_us.end(), 0.0) /
               static_cast<double>(latencies_us.size());
  }
  s.sorted_us = std::move(latencies_us);
  return s;
}

std::string Threshold::metric_name() const {
  switch (metric) {
    case Metric::avg:
      return "avg";
    case Metric::min:
      return "min";
    case Metric::max:
      return "max";
    case Metric::med:
      return "med";
    case Metric::percentile:
      return fmt::format("p({})", pct);
    case Metric::error_rate:
      return "error_rate";
    case Metric::rps:
      return "rps";
  }
  return "?";
}

std::string_view Threshold::op_text() const {
  switch (op) {
    case Op::lt:
      return "<";
    case Op::le:
      return "<=";
    case Op::gt:
      return ">";
    case Op::ge:
      return ">=";
    case Op::eq:
      return "==";
    case Op::ne:
      return "!=";
  }
  return "?";
}

Result<Threshold> parse_threshold(std::string_view text) {
  Threshold t;
  t.text = std::string(trim(text));
  std::string_view s = trim(text);
  auto bad = [&](std::string_view why) {
    return spec_error(fmt::format("threshold \"{}\": {}", t.text, why));
  };
  // Metric.
  std::size_t n = 0;
  while (n < s.size() && (std::isalnum(static_cast<unsigned char>(s[n])) != 0 || s[n] == '_')) ++n;
  std::string_view name = s.substr(0, n);
  s.remove_prefix(n);
  if (name == "avg") {
    t.metric = Threshold::Metric::avg;
  } else if (name == "min") {
    t.metric = Threshold::Metric::min;
  } else if (name == "max") {
    t.metric = Threshold::Metric::max;
  } else if (name == "med") {
    t.metric = Threshold::Metric::med;
  } else if (name == "error_rate") {
    t.metric = Threshold::Metric::error_rate;
  } else if (name == "rps") {
    t.metric = Threshold::Metric::rps;
  } else if (name == "p") {
    t.metric = Threshold::Metric::percentile;
    s = trim(s);
    if (s.empty() || s.front() != '(') return bad("expected p(N), e.g. p(95)");
    s.remove_prefix(1);
    s = trim(s);
    auto pct = take_number(s);
    s = trim(s);
    if (!pct || s.empty() || s.front() != ')') return bad("expected p(N) with a number N");
    s.remove_prefix(1);
    if (!(*pct > 0 && *pct <= 100)) {
      return bad(fmt::format("percentile {} is outside (0, 100]", *pct));
    }
    t.pct = *pct;
  } else {
    return bad(
        fmt::format("unknown metric \"{}\" (expected avg, min, max, med, p(N), error_rate "
                    "or rps)",
                    name));
  }
  // Operator.
  s = trim(s);
  if (s.substr(0, 2) == "<=") {
    t.op = Threshold::Op::le;
    s.remove_prefix(2);
  } else if (s.substr(0, 2) == ">=") {
    t.op = Threshold::Op::ge;
    s.remove_prefix(2);
  } else if (s.substr(0, 2) == "==") {
    t.op = Threshold::Op::eq;
    s.remove_prefix(2);
  } else if (s.substr(0, 2) == "!=") {
    t.op = Threshold::Op::ne;
    s.remove_prefix(2);
  } else if (s.substr(0, 1) == "<") {
    t.op = Threshold::Op::lt;
    s.remove_prefix(1);
  } else if (s.substr(0, 1) == ">") {
    t.op = Threshold::Op::gt;
    s.remove_prefix(1);
  } else {
    return bad("expected an operator <, <=, >, >=, == or != after the metric");
  }
  // Value.
  s = trim(s);
  auto value = take_number(s);
  if (!value) return bad("expected a non-negative number after the operator");
  std::string_view unit = trim(s);
  if (t.is_latency()) {
    if (unit.empty()) {
      t.value = *value * 1e3;  // k6: Trend thresholds on http_req_duration are milliseconds.
    } else if (auto u = unit_us(unit)) {
      t.value = *value * *u;
    } else {
      return bad(fmt::format("unknown unit \"{}\" for a latency (expected us, ms, s or m)", unit));
    }
  } else if (t.metric == Threshold::Metric::error_rate) {
    if (unit == "%") {
      t.value = *value / 100.0;
    } else if (unit.empty()) {
      t.value = *value;
    } else {
      return bad(
          fmt::format("error_rate takes a fraction (0.1) or a percentage (10%), found "
                      "unit \"{}\"",
                      unit));
    }
    if (t.value > 1.0) return bad("error_rate is a fraction in [0, 1]");
  } else {
    if (!unit.empty() && unit != "/s") {
      return bad(
          fmt::format("rps takes a plain number of requests per second, found unit \"{}\"", unit));
    }
    t.value = *value;
  }
  if (!std::isfinite(t.value)) return bad("the value is out of range");
  return t;
}

double metric_value(const Threshold& t, const LoadStats& stats) {
  switch (t.metric) {
    case Threshold::Metric::avg:
      return stats.avg_us;
    case Threshold::Metric::min:
      return stats.min_us;
    case Threshold::Metric::max:
      return stats.max_us;
    case Threshold::Metric::med:
      return stats.percentile(50);
    case Threshold::Metric::percentile:
      return stats.percentile(t.pct);
    case Threshold::Metric::error_rate:
      return stats.error_rate();
    case Threshold::Metric::rps:
      return stats.rps();
  }
  return std::nan("");
}

bool holds(const Threshold& t, double observed) {
  if (!std::isfinite(observed)) return false;
  switch (t.op) {
    case Threshold::Op::lt:
      return observed < t.value;
    case Threshold::Op::le:
      return observed <= t.value;
    case Threshold::Op::gt:
      return observed > t.value;
    case Threshold::Op::ge:
      return observed >= t.value;
    case Threshold::Op::eq:
      return observed == t.value;
    case Threshold::Op::ne:
      return observed != t.value;
  }
  return false;
}

std::string format_metric(const Threshold& t, double observed) {
  if (t.is_latency()) return format_duration_us(observed);
  if (t.metric == Threshold::Metric::error_rate) return fmt::format("{:.4g}", observed);
  return fmt::format("{:.1f}/s", observed);
}

}  // namespace stagecheck::http
