#pragma once
/// \file
/// Latency statistics and k6-style thresholds for the `http_load` check. Kept apart from the
/// curl code so the parser and the arithmetic are unit-tested on fixed numbers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/result.hpp"

namespace stagecheck::http {

/// Parses a duration such as "250ms", "3s", "1.5s", "800us", "2m". A bare number is refused
/// (durations always carry a unit). Returns microseconds; Errc::spec_error names the text.
Result<std::int64_t> parse_duration_us(std::string_view text);

/// "1.5 s", "250 ms", "800 us": microseconds written in the unit that reads best.
std::string format_duration_us(double us);

/// The figures of one load probe. Latencies are in microseconds.
struct LoadStats {
  std::uint64_t requests = 0;   ///< Requests finished (responses + transport errors).
  std::uint64_t responses = 0;  ///< Requests that got a complete HTTP response (any status).
  std::uint64_t errors = 0;     ///< Transport errors + responses with an unexpected status.
  double elapsed_s = 0;         ///< Wall time of the probe.
  double min_us = 0, max_us = 0, avg_us = 0;
  std::vector<double> sorted_us;  ///< Every response's latency, ascending.

  /// errors / requests (0 when nothing finished).
  double error_rate() const;
  /// responses / elapsed_s (0 when no time passed).
  double rps() const;
  /// Percentile `pct` in (0, 100] by linear interpolation between closest ranks: rank
  /// pct/100 * (n - 1) over the sorted values (k6's historic TrendSink.P, numpy's "linear").
  double percentile(double pct) const;
};

/// Builds LoadStats from unsorted latencies (sorted here).
LoadStats make_stats(std::vector<double> latencies_us, std::uint64_t requests, std::uint64_t errors,
                     double elapsed_s);

/// One threshold, e.g. `p(95) < 3s`, `avg <= 500ms`, `error_rate < 0.10`, `rps >= 100`.
struct Threshold {
  enum class Metric { avg, min, max, med, percentile, error_rate, rps };
  enum class Op { lt, le, gt, ge, eq, ne };
  Metric metric = Metric::avg;
  double pct = 0;  ///< For Metric::percentile: N of p(N).
  Op op = Op::lt;
  double value = 0;  ///< Microseconds for latencies; a fraction for error_rate; 1/s for rps.
  std::string text;  ///< As written.

  /// True for the latency metrics (avg, min, max, med, p(N)).
  bool is_latency() const { return metric != Metric::error_rate && metric != Metric::rps; }
  /// The metric's name as k6 writes it: "avg", "p(95)", "error_rate", ...
  std::string metric_name() const;
  /// "<", "<=", ...
  std::string_view op_text() const;
};

/// Parses `metric op value`. Metrics: avg, min, max, med, p(N) with N in (0, 100],
/// error_rate, rps. Ops: < <= > >= == !=. Latency values take a unit (us, ms, s, m) or none
/// (milliseconds, as in k6); error_rate takes a fraction in [0, 1] or a percentage ("5%");
/// rps takes a plain non-negative number. Errors are Errc::spec_error naming the text.
Result<Threshold> parse_threshold(std::string_view text);

/// The value of the threshold's metric in `stats` (latencies in microseconds).
double metric_value(const Threshold& t, const LoadStats& stats);

/// True if `observed` satisfies the threshold.
bool holds(const Threshold& t, double observed);

/// The metric value as text in the threshold's units ("3.2 s", "0.125", "812.5/s").
std::string format_metric(const Threshold& t, double observed);

}  // namespace stagecheck::http
