#pragma once
/// \file
/// A strict reader for the Prometheus text exposition format 0.0.4, and the histogram quantile
/// Prometheus' histogram_quantile() computes (linear interpolation inside a bucket).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <stagecheck/result.hpp>

namespace stagecheck::prometheus {

/// Label name -> value, ordered (so a series prints the same way every time).
using Labels = std::map<std::string, std::string>;

/// One sample line.
struct Sample {
  std::string name;
  Labels labels;
  double value = 0;  ///< May be NaN or ±Inf: the format allows them; checks refuse them.
  std::optional<std::int64_t> timestamp_ms;
  int line = 0;  ///< 1-based line number in the exposition.
};

/// A parsed exposition.
struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;  ///< From `# TYPE name type`.
  std::map<std::string, std::string> help;   ///< From `# HELP name text` (unescaped).
};

/// Parses `text`. Errc::malformed "line N: ..." for a broken line: a bad metric or label name,
/// an unterminated or badly escaped label value, a duplicate label, a value that is not a
/// float (NaN, +Inf, -Inf allowed), a bad timestamp, a second TYPE line for a metric, a TYPE
/// after the metric's samples, an unknown type, or the same series twice.
Result<Exposition> parse_exposition(std::string_view text);

/// True for a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*).
bool valid_metric_name(std::string_view name);
/// True for a valid label name ([a-zA-Z_][a-zA-Z0-9_]*).
bool valid_label_name(std::string_view name);

/// `name{a="x",b="y"}` with label values escaped as in the format.
std::string series_text(std::string_view name, const Labels& labels);

/// The outcome of a histogram quantile: a value, or why there is none.
struct QuantileValue {
  std::optional<double> value;  ///< Set when the histogram has data.
  std::string no_data;          ///< Why there is no value (e.g. "no observations").
};

/// The q-quantile (0 <= q <= 1) of cumulative buckets (upper bound `le`, cumulative count), as
/// Prometheus' histogram_quantile(): sort by le, require a +Inf bucket, interpolate linearly
/// inside the bucket holding rank q*count, return the highest finite bound if that is the +Inf
/// bucket. Errc::malformed for counts that are not finite or decrease with a higher bound
/// (Prometheus silently repairs those; a validator should not).
Result<QuantileValue> histogram_quantile(double q, std::vector<std::pair<double, double>> buckets);

}  // namespace stagecheck::prometheus
